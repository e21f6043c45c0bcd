/**
 * Object stores of upstreams that left the config are removed once unused for a while (issue
 * "Safe to leave running as root": `<state-dir>/upstreams/` must not only grow). Pure logic over
 * {@link StoresPort}; no I/O imports.
 *
 * A store is kept while any of these holds (docs/daemon.md "Object stores"):
 * 1. a service of this host's config fetches from its upstream (frozen and pinned ones included);
 * 2. a fetch used it within the retention period (`--store-retention`, default 7 days): a config
 *    change that is undone soon costs no new first fetch;
 * 3. it holds a commit that a service still needs (deployed, pinned, last good, or in its history:
 *    a rollback target) and that no store kept by rule 1 or 2 holds (the service moved to another
 *    upstream, and its history lives only here); of several such stores holding the same commits,
 *    the most recently used one is kept.
 * Everything else is removed, and each removal is reported.
 */
import type { StoreEntry, StoresPort } from '../ports/git.js';
import type { Clock } from '../ports/host.js';

/** Default retention of an unused store, seconds (7 days). */
export const DEFAULT_STORE_RETENTION_SECONDS = 7 * 24 * 3600;
/** Longest pause between two sweeps, seconds (1 hour; shorter when the retention is shorter). */
const MAX_SWEEP_INTERVAL_SECONDS = 3600;

/** What the services of this host still need from the stores. */
export interface StoreNeeds {
  /** Upstreams of every configured service of this host (as configured). */
  readonly upstreams: readonly string[];
  /** Commit ids (40 hex) still needed: deployed, pinned, last good, history. */
  readonly commits: readonly string[];
}

/** What one sweep did. */
export interface SweepResult {
  /** Stores removed. */
  readonly removed: readonly StoreEntry[];
  /** Stores of no configured upstream that were kept, with why (`used <iso time>`, `holds <commit>`). */
  readonly kept: readonly { readonly name: string; readonly reason: string }[];
}

/**
 * One sweep (rules in the file comment). `now` and `retentionSeconds` decide rule 2.
 * @throws the port's errors from `list`; a store whose `contains`/`remove` fails is kept and the error thrown after the others were handled
 */
export async function sweepStores(stores: StoresPort, needs: StoreNeeds, now: Date, retentionSeconds: number): Promise<SweepResult> {
  const inUse = new Set(needs.upstreams.map((u) => stores.nameOf(u)));
  const all = await stores.list();
  const removed: StoreEntry[] = [];
  const kept: { name: string; reason: string }[] = [];
  const candidates = all.filter((s) => !inUse.has(s.name));
  if (candidates.length === 0) return { removed, kept };
  // commits that only an unused store can provide
  const commits = [...new Set(needs.commits.filter((c) => /^[0-9a-f]{40}$/.test(c)))];
  const usedStores = all.filter((s) => inUse.has(s.name));
  const orphaned: string[] = [];
  for (const c of commits) {
    let found = false;
    for (const s of usedStores) if (await stores.contains(s.name, c)) (found = true);
    if (!found) orphaned.push(c);
  }
  let failure: unknown;
  // stores kept for being recent cover the commits they hold; then the most recently used of the
  // others keeps what is still uncovered (one copy of a needed history is enough)
  const covered = new Set<string>();
  const cover = async (name: string) => {
    for (const c of orphaned) if (!covered.has(c) && (await stores.contains(name, c))) covered.add(c);
  };
  const old: StoreEntry[] = [];
  for (const s of candidates) {
    if ((now.getTime() - s.lastUsed.getTime()) / 1000 < retentionSeconds) {
      kept.push({ name: s.name, reason: `used ${s.lastUsed.toISOString()}` });
      await cover(s.name);
    } else old.push(s);
  }
  old.sort((a, b) => b.lastUsed.getTime() - a.lastUsed.getTime());
  for (const s of old) {
    let holds: string | undefined;
    for (const c of orphaned) if (holds === undefined && !covered.has(c) && (await stores.contains(s.name, c))) holds = c;
    if (holds !== undefined) {
      kept.push({ name: s.name, reason: `holds ${holds.slice(0, 8)}, still needed by a service` });
      await cover(s.name);
      continue;
    }
    try {
      await stores.remove(s.name);
      removed.push(s);
    } catch (err) {
      failure ??= err;
      kept.push({ name: s.name, reason: `removal failed: ${err instanceof Error ? err.message : String(err)}` });
    }
  }
  if (failure !== undefined) throw Object.assign(new Error(`removing an unused object store: ${failure instanceof Error ? failure.message : String(failure)}`), { data: { removed, kept } });
  return { removed, kept };
}

/** How often {@link StoreSweeper} sweeps, seconds: the retention, at most an hour, at least a second. */
export function sweepIntervalSeconds(retentionSeconds: number): number {
  return Math.max(1, Math.min(MAX_SWEEP_INTERVAL_SECONDS, retentionSeconds));
}

/** Runs {@link sweepStores} now and then every {@link sweepIntervalSeconds}, until aborted. */
export class StoreSweeper {
  /**
   * @param needs what the services need, asked at each sweep
   * @param onSwept told about every sweep that removed or kept something; must not throw
   * @param onError told about a failed sweep (the next one runs as planned); must not throw
   */
  constructor(
    private readonly stores: StoresPort,
    private readonly needs: () => StoreNeeds,
    private readonly clock: Clock,
    private readonly retentionSeconds: number,
    private readonly onSwept: (r: SweepResult) => void,
    private readonly onError: (err: unknown) => void,
  ) {}

  /** Sweep at once, then every interval, until `signal` aborts (resolves then). */
  async run(signal: AbortSignal): Promise<void> {
    while (!signal.aborted) {
      await this.once();
      try {
        await this.clock.sleep(sweepIntervalSeconds(this.retentionSeconds) * 1000, signal);
      } catch {
        return;
      }
    }
  }

  /** One sweep, reported. Never throws. */
  async once(): Promise<void> {
    try {
      const r = await sweepStores(this.stores, this.needs(), this.clock.now(), this.retentionSeconds);
      if (r.removed.length > 0 || r.kept.length > 0) this.onSwept(r);
    } catch (err) {
      this.onError(err);
    }
  }
}
