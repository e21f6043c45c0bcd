/**
 * The replay guard of request signatures (RFC 9421 §7.2.2): nonces seen within the window, each
 * kept until the signature it came with could no longer be accepted anyway. Bounded: when full
 * of live nonces it refuses new ones (503) rather than forget one that could then be replayed.
 */
import { HttpError } from './errors.js';

/** Remembered nonces, keyed by `<keyid> <nonce>`. */
export class NonceCache {
  private readonly seen = new Map<string, number>();
  private nextSweep = 0;

  /** @param max most nonces kept at once */
  constructor(private readonly max = 100_000) {}

  /**
   * Remember `key` until `expiresAt` (ms). Returns false when it is already remembered (a
   * replay). Throws HttpError BUSY (503) when `max` live nonces are held.
   */
  add(key: string, expiresAt: number, now: number): boolean {
    const until = this.seen.get(key);
    if (until !== undefined && until >= now) return false;
    if (now >= this.nextSweep || this.seen.size >= this.max) this.sweep(now);
    if (this.seen.size >= this.max) throw new HttpError('BUSY', 'too many signed requests within the replay window; try again in a minute');
    this.seen.set(key, expiresAt);
    return true;
  }

  /** Number of nonces held (tests). */
  get size(): number {
    return this.seen.size;
  }

  private sweep(now: number): void {
    for (const [k, until] of this.seen) if (until < now) this.seen.delete(k);
    this.nextSweep = now + 10_000;
  }
}
