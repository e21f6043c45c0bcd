/** Fakes of the ports for unit tests of the pure core (never the only test of an adapter). */
import type { CheckoutRef, GitPort, SourceRef, StagePort } from '../../src/ports/git.js';
import type { Clock, CommandPort, CommandResult, JobOutcome, MountPort, MountResult, Owner, ProbePort, UnitPort, UserPort } from '../../src/ports/host.js';

/** A git upstream in memory: commits map path → content; changedPaths compares contents. */
export class FakeGit implements GitPort {
  commits = new Map<string, Record<string, string>>();
  tip = '';
  head = new Map<string, string>();
  fetches: SourceRef[] = [];
  checkouts: { dir: string; commit: string }[] = [];
  failFetch: Error | undefined;
  failCheckout: Error | undefined;
  /** When set, fetch waits for this promise (to test concurrency). */
  gate: Promise<void> | undefined;

  push(id: string, files: Record<string, string>): void {
    this.commits.set(id, files);
    this.tip = id;
  }
  async fetch(source: SourceRef): Promise<string> {
    this.fetches.push(source);
    if (this.gate) await this.gate;
    if (this.failFetch) throw this.failFetch;
    this.missing.clear();
    return this.tip;
  }
  /** Commits the object store lacks until the next successful fetch (an emptied state dir). */
  missing = new Set<string>();
  async has(_s: SourceRef, commit: string): Promise<boolean> {
    return this.commits.has(commit) && !this.missing.has(commit);
  }
  async prepare(_co: CheckoutRef, _owner: Owner | undefined): Promise<void> {}
  async deployed(co: CheckoutRef): Promise<string | undefined> {
    return this.head.get(co.dir);
  }
  async changedPaths(co: CheckoutRef, from: string, to: string): Promise<string[]> {
    const a = this.commits.get(from) ?? {};
    const b = this.commits.get(to) ?? {};
    const paths = new Set([...Object.keys(a), ...Object.keys(b)]);
    return [...paths].filter((p) => co.links.some((l) => p === l || p.startsWith(`${l}/`)) && a[p] !== b[p]).sort();
  }
  async checkout(co: CheckoutRef, _deployed: string | undefined, commit: string): Promise<void> {
    if (this.failCheckout) throw this.failCheckout;
    if (!(await this.has(co, commit))) throw Object.assign(new Error(`Could not find ${commit}.`), { code: 'NotFoundError' });
    this.checkouts.push({ dir: co.dir, commit });
    this.head.set(co.dir, commit);
  }
  async markDeployed(co: CheckoutRef, commit: string): Promise<void> {
    this.head.set(co.dir, commit);
  }
  /** Local edits per checkout dir (paths), as drift() reports them. */
  edits = new Map<string, Set<string>>();
  restored: string[] = [];
  async drift(co: CheckoutRef, _head: string): Promise<string[]> {
    return [...(this.edits.get(co.dir) ?? [])].sort();
  }
  /** Paths (per checkout dir) whose local file already equals any commit's version, as matching() reports them. */
  asTip = new Map<string, Set<string>>();
  async matching(co: CheckoutRef, _commit: string, paths: readonly string[]): Promise<string[]> {
    return paths.filter((p) => this.asTip.get(co.dir)?.has(p)).sort();
  }
  async restore(co: CheckoutRef, _head: string, paths: readonly string[]): Promise<void> {
    for (const p of paths) this.edits.get(co.dir)?.delete(p);
    this.restored.push(...paths);
  }
  /** Links with no file under them in `commit`. */
  async missingLinks(co: CheckoutRef, commit: string): Promise<string[]> {
    const files = Object.keys(this.commits.get(commit) ?? {});
    return co.links.filter((l) => !files.some((p) => p === l || p.startsWith(`${l}/`))).sort();
  }
  /** Commits pushed on a rewritten history (a force-push): no other commit is their ancestor, nor they of others. */
  unrelated = new Set<string>();
  /** History is the push order (linear), except across {@link unrelated} commits. */
  async isAncestor(_s: SourceRef, ancestor: string, descendant: string): Promise<boolean> {
    if (ancestor === descendant) return true;
    if (this.unrelated.has(ancestor) !== this.unrelated.has(descendant)) return false;
    const order = [...this.commits.keys()];
    const a = order.indexOf(ancestor);
    const d = order.indexOf(descendant);
    if (a < 0 || d < 0) throw new Error(`could not find ${a < 0 ? ancestor : descendant}`);
    return a <= d;
  }
  /** Every pushed commit counts as history; prefixes must be unique. */
  async findInHistory(_s: SourceRef, _tip: string, prefix: string): Promise<string | undefined> {
    const hits = [...this.commits.keys()].filter((c) => c.startsWith(prefix));
    return hits.length === 1 ? hits[0] : undefined;
  }
}

/** Mounts in memory: a target is mounted once; `fail` makes ensure throw. */
export class FakeMounts implements MountPort {
  mounted = new Map<string, string>();
  fail: Error | undefined;
  async ensure(source: string, target: string): Promise<MountResult> {
    if (this.fail) throw this.fail;
    if (this.mounted.get(target) === source) return 'present';
    this.mounted.set(target, source);
    return 'mounted';
  }
  async remove(source: string, target: string): Promise<'unmounted' | 'absent' | 'foreign'> {
    const cur = this.mounted.get(target);
    if (cur === undefined) return 'absent';
    if (cur !== source) return 'foreign';
    this.mounted.delete(target);
    return 'unmounted';
  }
}

/** systemd in memory: records calls; `result` is what the next jobs return. */
export class FakeUnits implements UnitPort {
  calls: string[] = [];
  active = new Set<string>();
  result = 'done';
  async daemonReload(): Promise<void> {
    this.calls.push('daemon-reload');
  }
  async run(unit: string, action: string): Promise<JobOutcome> {
    this.calls.push(`${action} ${unit}`);
    if (this.result === 'done' && (action === 'start' || action === 'restart')) this.active.add(unit);
    return { result: this.result, activeState: this.result === 'done' ? 'active' : 'failed', unitResult: this.result === 'done' ? 'success' : 'exit-code' };
  }
  async isActive(unit: string): Promise<boolean> {
    return this.active.has(unit);
  }
  async enable(unit: string): Promise<void> {
    this.calls.push(`enable ${unit}`);
  }
  /** What status() answers (per unit); default active with no restarts. */
  states = new Map<string, { activeState: string; subState: string; nRestarts: number }>();
  async status(unit: string): Promise<{ activeState: string; subState: string; nRestarts: number }> {
    return this.states.get(unit) ?? { activeState: this.active.has(unit) ? 'active' : 'inactive', subState: 'running', nRestarts: 0 };
  }
}

/** Users in memory. */
export class FakeUsers implements UserPort {
  constructor(private readonly known: Record<string, Owner> = { grafana: { user: 'grafana', uid: 472, gid: 472 } }) {}
  async lookup(name: string): Promise<Owner | undefined> {
    return this.known[name];
  }
}

/** A clock whose sleeps end only when `tick()` is called (or the signal aborts). */
export class ManualClock implements Clock {
  t = new Date('2024-01-01T00:00:00Z');
  sleeps: { ms: number; resolve: () => void }[] = [];
  now(): Date {
    return new Date(this.t);
  }
  sleep(ms: number, signal: AbortSignal): Promise<void> {
    return new Promise((resolve, reject) => {
      if (signal.aborted) return reject(signal.reason);
      const entry = { ms, resolve };
      this.sleeps.push(entry);
      signal.addEventListener('abort', () => {
        this.sleeps = this.sleeps.filter((s) => s !== entry);
        reject(signal.reason);
      }, { once: true });
    });
  }
  /** Advance time past the oldest sleep and end it. Returns its length in ms. */
  tick(): number {
    const s = this.sleeps.shift();
    if (!s) throw new Error('nothing is sleeping');
    this.t = new Date(this.t.getTime() + s.ms);
    s.resolve();
    return s.ms;
  }
}

/** Wait until `cond()` is true, polling the event loop (bounded). */
export async function until(cond: () => boolean, what: string, ms = 2000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 1));
  }
}

/**
 * A clock for health-check tests: short sleeps (≤ 5 s: grace polling, retry pauses) return at once
 * and advance time; long ones (the poll timer) wait for abort, so only pulls drive passes.
 */
export class FastClock implements Clock {
  t = new Date('2024-01-01T00:00:00Z').getTime();
  now(): Date {
    return new Date(this.t);
  }
  sleep(ms: number, signal: AbortSignal): Promise<void> {
    if (ms <= 5000) {
      this.t += ms;
      return Promise.resolve();
    }
    return new Promise((_, reject) => signal.addEventListener('abort', () => reject(signal.reason), { once: true }));
  }
}

/** Commands in memory: `answer(argv)` decides the result; every call is recorded with its env. */
export class FakeCommands implements CommandPort {
  calls: { argv: readonly string[]; cwd: string; env: Readonly<Record<string, string>>; owner: Owner | undefined }[] = [];
  answer: (argv: readonly string[]) => Partial<CommandResult> = () => ({});
  async run(argv: readonly string[], opts: { cwd: string; env: Readonly<Record<string, string>>; owner: Owner | undefined }): Promise<CommandResult> {
    this.calls.push({ argv, cwd: opts.cwd, env: opts.env, owner: opts.owner });
    return { code: 0, signal: null, timedOut: false, output: '', seconds: 0, ...this.answer(argv) };
  }
}

/** HTTP probe in memory: answers `status` (or throws `error`). */
export class FakeProbe implements ProbePort {
  status = 200;
  error: Error | undefined;
  urls: string[] = [];
  async get(url: string): Promise<number> {
    this.urls.push(url);
    if (this.error) throw this.error;
    return this.status;
  }
}

/** Staging in memory: records what was staged where. */
export class FakeStage implements StagePort {
  staged: { commit: string; paths: readonly string[]; dest: string }[] = [];
  async stage(_co: CheckoutRef, commit: string, paths: readonly string[], dest: string): Promise<void> {
    this.staged.push({ commit, paths, dest });
  }
}
