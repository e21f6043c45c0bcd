/**
 * isomorphic-git's object cache, kept inside the git adapter (the core never sees it).
 *
 * isomorphic-git caches parsed pack indexes and whole packs in a plain object handed to every call;
 * sharing one across the operations of a pass (one fetch, then every service's reconcile) reads each
 * pack once per pass instead of once per service. Its lifetime is bounded the way one cache per pass
 * was: a fetch into a store starts a fresh one (what later reads see), and a cache no operation used
 * for {@link IDLE_DROP_MS} is dropped, so packs are not held in memory between passes.
 */

/**
 * What every helper of the git adapter reads objects with: `cache` goes to isomorphic-git unchanged
 * (and carries the tree memo of `trees.ts`).
 */
export interface Pass {
  readonly cache: object;
}

/** A cache unused for this long (ms) is dropped (the passes of one tracker are minutes apart). */
export const IDLE_DROP_MS = 1000;

/** One cache per key (an object store's directory), shared by the operations running on it. */
export class ObjectCaches {
  private readonly entries = new Map<string, { pass: Pass; users: number; timer: NodeJS.Timeout | undefined }>();

  /** @param idleDropMs drop a cache unused for this many ms (default {@link IDLE_DROP_MS}) */
  constructor(private readonly idleDropMs: number = IDLE_DROP_MS) {}

  /**
   * Run `fn` with the cache of `key` (made when there is none). With `fresh`, a new cache replaces
   * the current one first (a fetch: a new pass begins; operations already running keep theirs).
   * Returns or throws what `fn` does.
   */
  async with<T>(key: string, fn: (pass: Pass) => Promise<T>, fresh = false): Promise<T> {
    let e = this.entries.get(key);
    if (!e) this.entries.set(key, (e = { pass: { cache: {} }, users: 0, timer: undefined }));
    else if (fresh) e.pass = { cache: {} };
    if (e.timer) clearTimeout(e.timer);
    e.timer = undefined;
    e.users++;
    const entry = e;
    try {
      return await fn(entry.pass);
    } finally {
      if (--entry.users === 0 && this.entries.get(key) === entry) {
        entry.timer = setTimeout(() => {
          if (entry.users === 0 && this.entries.get(key) === entry) this.entries.delete(key);
        }, this.idleDropMs);
        entry.timer.unref();
      }
    }
  }
}
