/**
 * One-at-a-time execution of async work, per key. Pure (no I/O); used by the core (per-service
 * operations) and by adapters (isomorphic-git has no locking: RECIPES.md).
 */

/** Runs async work one at a time per key, in call order. */
export class KeyedLock {
  private readonly tails = new Map<string, Promise<unknown>>();

  /** Run `fn` after every earlier `run` with the same `key` has settled; returns `fn`'s result. */
  async run<T>(key: string, fn: () => Promise<T>): Promise<T> {
    const prev = this.tails.get(key) ?? Promise.resolve();
    const next = prev.then(fn, fn);
    const tail = next.catch(() => undefined);
    this.tails.set(key, tail);
    try {
      return await next;
    } finally {
      if (this.tails.get(key) === tail) this.tails.delete(key);
    }
  }
}
