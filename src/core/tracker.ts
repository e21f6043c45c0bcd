/**
 * The loop that tracks one upstream branch for the services that use it (gitopper's
 * `trackUpstream`, one per (upstream, branch, token) instead of one per service, so a pass
 * fetches once however many services share the upstream). The operator's actions on its services
 * are `operator-actions.ts` (they fetch and deploy through the tracker as a {@link Branch}).
 *
 * One wait point: the jittered timer (`[d, 1.5d)`, gitopper's jitter), a pull-now request, or
 * abort. Each pass: fetch once, then reconcile every unfrozen service towards the tip.
 *
 * Quiet polls (`quiet-polls.ts`): a timer pass whose fetch finds the tip the last full pass applied
 * skips the services that are OK at that tip with nothing pending (nothing can have changed for them
 * upstream; local edits reach `checkDrift` through the checkout watcher at once). Every
 * `verifyEveryPolls`-th quiet poll is a full pass (mounts, HEAD, drift re-checked), the safety net
 * gitopper's per-pass `git stash` was. Pulls, startup, the first poll after it and a moved tip are
 * always full passes.
 * No I/O imports.
 */
import AsyncLock from 'async-lock';
import type { ServiceSpec } from '../config/config.js';
import type { Trigger } from './control.js';
import type { SourceRef } from '../ports/git.js';
import type { PersistedService } from '../ports/state-store.js';
import type { Outcome } from './reconcile.js';
import { DEFAULT_VERIFY_EVERY, QuietPolls, settled } from './quiet-polls.js';
import { ServiceRecord } from './service.js';
import { deploy } from './deploy.js';
import type { Branch } from './operator-actions.js';
import type { HoldKind, RefusalKind } from './admission.js';
import { PASS_CONCURRENCY, type TrackerDeps, type TrackerEvents } from './tracker-deps.js';

export type { HoldKind, RefusalKind, TrackerDeps, TrackerEvents };

export type { Trigger };
export { DEFAULT_VERIFY_EVERY, PASS_CONCURRENCY };


/** How many recent tips a tracker remembers the first sighting of. */
const SEEN_KEPT = 16;

/** Wait time in milliseconds before the next poll: uniform in `[d, 1.5d)` (gitopper's jitter). */
export function jitteredDelayMs(intervalSeconds: number, random: () => number): number {
  return intervalSeconds * 1000 * (1 + 0.5 * random());
}

/**
 * The commit a frozen service is held on: the rollback target of a rollback (operator's or
 * automatic), else the commit deployed when it was frozen; "" when not frozen or nothing deployed.
 */
export function pinOf(r: ServiceRecord): string {
  const f = r.status.frozen;
  return f ? (f.rollback ?? r.status.commit) : '';
}

/** Tracks one (upstream, branch, token) for a set of services. */
export class Tracker implements Branch {
  readonly records = new Map<string, ServiceRecord>();
  /** Services a pull asked for, with who asked (the operator's key, `webhook`), if known. */
  private readonly pending = new Map<string, string | undefined>();
  /** Fetches one at a time (no bound on waiting ones, no timeouts). */
  private readonly fetchLock = new AsyncLock({ maxPending: Infinity });
  private lastTip: string | undefined;
  /** When this tracker's fetches first returned each recent tip (rollout bake; in memory: a restart bakes again). */
  private readonly seen = new Map<string, Date>();
  private readonly quiet: QuietPolls;
  private wake: AbortController = new AbortController();
  private readonly firstPass: Promise<void>;
  private resolveFirstPass!: () => void;

  /**
   * @param source the upstream branch every service in `services` uses
   * @param services the services (all with this `source`), unique by name
   * @param saved per-service state from the state file
   * @param onChange called whenever something worth saving changed
   */
  constructor(readonly source: SourceRef, services: readonly ServiceSpec[], private readonly deps: TrackerDeps, saved: Readonly<Record<string, PersistedService>> = {}, private readonly onChange: () => void = () => {}) {
    for (const spec of services) this.add(spec, saved[spec.service]);
    this.firstPass = new Promise((resolve) => (this.resolveFirstPass = resolve));
    this.quiet = new QuietPolls(deps.verifyEveryPolls);
  }

  /** Start tracking `spec` (restoring `saved` state if given); a running loop picks it up at its next pass. */
  add(spec: ServiceSpec, saved?: PersistedService, runtime?: ServiceRecord['runtime']): ServiceRecord {
    const r = new ServiceRecord(spec, this.deps.clock.now(), this.deps.events.status, this.onChange, saved);
    if (runtime) r.runtime = runtime;
    this.records.set(spec.service, r);
    return r;
  }

  /** Stop tracking `name` once anything running on it finished; returns its record (or undefined). */
  async remove(name: string): Promise<ServiceRecord | undefined> {
    const r = this.records.get(name);
    if (!r) return undefined;
    await r.exclusive(async () => {
      r.removed = true;
      this.records.delete(name);
    });
    return r;
  }

  /** Resolves once the first pass (fetch + every service) has finished, whatever its outcome. */
  ready(): Promise<void> {
    return this.firstPass;
  }

  /**
   * Ask for an immediate pass of `service` (or of every service when omitted). Never blocks: a
   * pass in progress finishes first, then the requested one runs (requests made meanwhile merge).
   * `by` (who asked) goes into the history rows of the pass.
   */
  pull(service?: string, by?: string): void {
    for (const name of service === undefined ? this.records.keys() : [service]) {
      if (this.records.has(name) && (by !== undefined || !this.pending.has(name))) this.pending.set(name, by);
    }
    this.wake.abort();
  }

  /** Run until `signal` aborts: a first pass at once, then a pass per timer tick or pull. */
  async run(signal: AbortSignal): Promise<void> {
    let trigger: Trigger = 'startup';
    let targets = [...this.records.keys()];
    let askedBy = new Map<string, string | undefined>();
    while (!signal.aborted) {
      this.pending.clear();
      await this.pass(targets, trigger, askedBy);
      if (trigger === 'startup') this.resolveFirstPass();
      if (signal.aborted) break;
      const woken = this.pending.size > 0 || (await this.waitPoint(signal));
      if (signal.aborted) break;
      trigger = woken ? 'pull' : 'poll';
      askedBy = woken ? new Map(this.pending) : new Map();
      targets = woken ? [...this.pending.keys()] : [...this.records.keys()];
    }
    this.resolveFirstPass();
  }

  /** The one wait point: true when woken by a pull, false on timer or abort. */
  private async waitPoint(signal: AbortSignal): Promise<boolean> {
    this.wake = new AbortController();
    if (this.pending.size > 0) return true;
    try {
      await this.deps.clock.sleep(jitteredDelayMs(this.deps.intervalSeconds, this.deps.random), AbortSignal.any([signal, this.wake.signal]));
      return false;
    } catch {
      return this.wake.signal.aborted && !signal.aborted;
    }
  }

  /**
   * One pass: fetch once, reconcile each target that is not frozen. Frozen services stay on their
   * pinned commit ({@link pinOf}): at startup it is deployed again (before the fetch when the store
   * has it, so mounts come back with the upstream down; after it when the store lacks it: freezing
   * means "do not move", not "do not fetch"), and a pin that is not deployed (a failed apply) is
   * tried again after every fetch.
   */
  private async pass(targets: readonly string[], trigger: Trigger, askedBy: ReadonlyMap<string, string | undefined> = new Map()): Promise<void> {
    const recs = targets.map((n) => this.records.get(n)).filter((r): r is ServiceRecord => r !== undefined && !r.removed);
    const live = recs.filter((r) => !r.status.frozen);
    /** Pinned services the store lacks the commit of: deployed after the fetch. */
    const unfetched = new Set<ServiceRecord>();
    if (trigger === 'startup') {
      const pinned = recs.filter((r) => pinOf(r) !== '');
      await Promise.all(
        pinned.map((r) =>
          r.exclusive(async () => {
            const present = await this.deps.git.has(this.source, pinOf(r)).catch(() => false);
            if (present) await this.deploy(r, pinOf(r), trigger);
            else unfetched.add(r);
          }),
        ),
      );
    }
    if (recs.length === 0) return;
    // frozen services are fetched for too: "upstream is ahead" must show while they are held
    const tip = await this.fetch();
    if (tip instanceof Error) {
      this.quiet.fetchFailed();
      for (const r of live) await r.exclusive(async () => r.fetchFailed(tip.message, this.deps.clock.now()));
      for (const r of unfetched) await r.exclusive(async () => r.fetchFailed(`pinned commit ${pinOf(r).slice(0, 8)} is not in the object store yet; ${tip.message}`, this.deps.clock.now()));
      return;
    }
    // the services' mount checks share one reading of the mount table (read afresh for this pass)
    const shared = this.deps.mounts.shared?.bind(this.deps.mounts) ?? ((fn: () => Promise<void>) => fn());
    await shared(() => this.deployAll(recs, live, unfetched, tip, trigger, askedBy, targets.length === this.records.size));
    for (const r of recs) if (!r.removed) this.deps.events.upstream(r.name, tip, r.status.commit);
  }

  /** The deploying part of {@link pass}, after a successful fetch of `tip`; `all`: the pass covers every service. */
  private async deployAll(recs: readonly ServiceRecord[], live: readonly ServiceRecord[], unfetched: ReadonlySet<ServiceRecord>, tip: string, trigger: Trigger, askedBy: ReadonlyMap<string, string | undefined>, all: boolean): Promise<void> {
    // pins not deployed (missing from the store at startup, or an apply that failed) are brought there
    const repin = recs.filter((r) => pinOf(r) !== '' && (unfetched.has(r) || r.status.state === 'BROKEN' || r.status.state === 'DIFF'));
    await Promise.all(repin.map((r) => r.exclusive(async () => void (pinOf(r) !== '' && !r.removed ? await this.deploy(r, pinOf(r), trigger, askedBy.get(r.name)) : undefined))));
    const quiet = this.quiet.isQuiet(trigger, tip);
    // after an automatic rollback with retry-next-commit, a newer commit is tried again
    const retry = recs.filter((r) => r.status.frozen?.auto?.mode === 'retry-next-commit' && r.status.frozen.auto.bad !== tip);
    for (const r of retry) r.retryNextCommit(this.deps.clock.now());
    await Promise.all(
      [...live, ...retry].map((r) =>
        r.exclusive(async () => {
          if (r.status.frozen || r.removed) return;
          if (quiet && settled(r, tip)) return this.deps.events.skipped?.(r.name, tip);
          await this.deploy(r, tip, trigger, askedBy.get(r.name));
        }),
      ),
    );
    this.quiet.passed(quiet, all, trigger, tip);
  }

  /** Allow quiet polls (default) or not: without a working checkout watcher the daemon turns them off. */
  setQuietPolls(allowed: boolean): void {
    this.quiet.setAllowed(allowed);
  }

  /** The tip the last successful fetch found; undefined before the first. */
  get tip(): string | undefined {
    return this.lastTip;
  }

  /** Fetch once (one at a time per tracker): the tip, or an Error value saying why not. Never throws. */
  fetch(): Promise<string | Error> {
    return this.fetchLock.acquire('fetch', async () => {
      const started = this.deps.clock.now().getTime();
      try {
        const tip = await this.deps.git.fetch(this.source);
        this.lastTip = tip;
        this.sawTip(tip);
        this.deps.events.fetched(this.source, this.since(started), tip, undefined);
        return tip;
      } catch (err) {
        this.deps.events.fetched(this.source, this.since(started), undefined, err);
        return new Error(`fetching ${this.source.branch} from ${this.source.upstream}: ${err instanceof Error ? err.message : String(err)}`);
      }
    });
  }

  /** Deploy `target` to `r` through the one deploy path (`deploy.ts`). Call inside `r.exclusive`. */
  deploy(r: ServiceRecord, target: string, trigger: Trigger, by?: string): Promise<Outcome | undefined> {
    return deploy(r, target, trigger, by, { ...this.deps, seenAt: (c) => this.seen.get(c) });
  }

  /**
   * Look for local edits now (a file under the service's checkout changed): a pass towards the
   * deployed commit, so nothing is fetched; drift is reported or reverted per the service's `drift`.
   * Never blocks.
   */
  checkDrift(r: ServiceRecord): void {
    void r.exclusive(async () => {
      if (r.removed || r.status.commit === '') return;
      await this.deploy(r, r.status.commit, 'drift');
    });
  }

  /** Remember when `tip` was first seen (rollout bake); the last {@link SEEN_KEPT} tips are kept. */
  private sawTip(tip: string): void {
    if (this.seen.has(tip)) return;
    this.seen.set(tip, this.deps.clock.now());
    for (const old of this.seen.keys()) if (this.seen.size > SEEN_KEPT) this.seen.delete(old);
  }

  private since(startedMs: number): number {
    return (this.deps.clock.now().getTime() - startedMs) / 1000;
  }
}
