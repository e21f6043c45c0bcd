/**
 * isomorphic-git's object cache, kept inside the git adapter (the core never sees it).
 *
 * isomorphic-git caches parsed pack indexes in a plain object handed to every call; sharing one
 * across the operations of a pass (one fetch, then every service's reconcile) parses each index once
 * per pass instead of once per service. The object is hooked (`packs/hook.ts`) so that packs are read
 * by offset through open file descriptors instead of whole into memory, and checked once per process
 * instead of once per pass. Its lifetime is bounded the way one cache per pass was: a fetch into a
 * store starts a fresh one (what later reads see), and a cache no operation used for
 * {@link IDLE_DROP_MS} is dropped; a dropped or replaced cache closes its packs' descriptors as soon
 * as the last operation using it ends.
 */
import { hookedCache, type PackHook } from './packs/hook.js';

/**
 * What every helper of the git adapter reads objects with: `cache` goes to isomorphic-git unchanged
 * (and carries the tree memo of `trees.ts`).
 */
export interface Pass {
  readonly cache: object;
}

/** A cache unused for this long (ms) is dropped (the passes of one tracker are minutes apart). */
export const IDLE_DROP_MS = 1000;

/** One pass's cache, the operations using it, and whether a newer one replaced it. */
interface Generation {
  readonly pass: Pass;
  readonly hook: PackHook;
  users: number;
}

/** One cache per key (an object store's directory), shared by the operations running on it. */
export class ObjectCaches {
  private readonly entries = new Map<string, { gen: Generation; timer: NodeJS.Timeout | undefined }>();

  /** @param idleDropMs drop a cache unused for this many ms (default {@link IDLE_DROP_MS}) */
  constructor(private readonly idleDropMs: number = IDLE_DROP_MS) {}

  /**
   * Run `fn` with the cache of `key` (made when there is none). With `fresh`, a new cache replaces
   * the current one first (a fetch: a new pass begins; operations already running keep theirs, and
   * its packs are closed when the last of them ends). Returns or throws what `fn` does.
   */
  async with<T>(key: string, fn: (pass: Pass) => Promise<T>, fresh = false): Promise<T> {
    let e = this.entries.get(key);
    if (!e) this.entries.set(key, (e = { gen: generation(), timer: undefined }));
    else if (fresh) {
      retire(e.gen);
      e.gen = generation();
    }
    if (e.timer) clearTimeout(e.timer);
    e.timer = undefined;
    const entry = e;
    const gen = e.gen;
    gen.users++;
    try {
      return await fn(gen.pass);
    } finally {
      if (--gen.users === 0) {
        if (entry.gen !== gen || this.entries.get(key) !== entry) gen.hook.close(); // replaced or dropped meanwhile
        else {
          entry.timer = setTimeout(() => {
            if (gen.users === 0 && entry.gen === gen && this.entries.get(key) === entry) {
              this.entries.delete(key);
              gen.hook.close();
            }
          }, this.idleDropMs);
          entry.timer.unref();
        }
      }
    }
  }

  /**
   * Drop every cache now (a daemon stopping, a test counting descriptors): idle ones close their packs
   * at once, ones in use when their last operation ends. The next {@link with} makes new ones.
   */
  dropAll(): void {
    for (const e of this.entries.values()) {
      if (e.timer) clearTimeout(e.timer);
      retire(e.gen);
    }
    this.entries.clear();
  }
}

/** A new cache with its pack hook. */
function generation(): Generation {
  const hook = hookedCache();
  return { pass: { cache: hook.cache }, hook, users: 0 };
}

/** A cache replaced or dropped: closed now when unused, else by its last user (`with`'s finally). */
function retire(gen: Generation): void {
  if (gen.users === 0) gen.hook.close();
}
