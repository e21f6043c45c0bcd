/**
 * A bounded FIFO queue that drops its oldest item when full (a ring buffer): `push` and `shift` are O(1)
 * and never block, so publishing an event never waits for a slow target. Pure.
 */

/** A FIFO of at most `capacity` items; a push into a full queue drops (and returns) the oldest. */
export class DropOldestQueue<T> {
  private readonly items: (T | undefined)[];
  private head = 0;
  private count = 0;

  /** @param capacity the most items kept, a whole number ≥ 1 (throws RangeError otherwise) */
  constructor(readonly capacity: number) {
    if (!Number.isInteger(capacity) || capacity < 1) throw new RangeError(`queue capacity must be a whole number ≥ 1, got ${capacity}`);
    this.items = new Array<T | undefined>(capacity);
  }

  /** Items waiting. */
  get size(): number {
    return this.count;
  }

  /** Append `item`; when the queue was full, the oldest item is removed and returned (else undefined). */
  push(item: T): T | undefined {
    let dropped: T | undefined;
    if (this.count === this.capacity) dropped = this.shift();
    this.items[(this.head + this.count) % this.capacity] = item;
    this.count++;
    return dropped;
  }

  /** Remove and return the oldest item; undefined when empty. */
  shift(): T | undefined {
    if (this.count === 0) return undefined;
    const item = this.items[this.head];
    this.items[this.head] = undefined;
    this.head = (this.head + 1) % this.capacity;
    this.count--;
    return item;
  }

  /** Remove every item; returns how many there were. */
  clear(): number {
    const n = this.count;
    while (this.count > 0) this.shift();
    return n;
  }
}
