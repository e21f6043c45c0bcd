/**
 * Keeping the state file current: many changes, one write at a time, coalesced (a change made
 * while a write is queued rides along with it). What is written is a snapshot taken when the write
 * starts. No I/O imports: the writing is the `StateStore` port's.
 */
import type { PersistedService, StateStore } from '../ports/state-store.js';

/** Saves the services' state (`StateStore.save`, version 1) after changes. */
export class StateSaver {
  private saving: Promise<void> = Promise.resolve();
  private dirty = false;

  /**
   * @param store where to save; undefined = nothing is saved (tests)
   * @param snapshot every service's state by name, taken at each write
   * @param onError told when a write failed (the next change tries again). Must not throw.
   */
  constructor(private readonly store: StateStore | undefined, private readonly snapshot: () => Record<string, PersistedService>, private readonly onError?: (err: unknown) => void) {}

  /** Save after the current write (if a write is already queued, that one will do). Never throws. */
  saveSoon(): void {
    const store = this.store;
    if (!store || this.dirty) return;
    this.dirty = true;
    this.saving = this.saving.then(async () => {
      this.dirty = false;
      try {
        await store.save({ version: 1, services: this.snapshot() });
      } catch (err) {
        this.onError?.(err);
      }
    });
  }

  /** Resolves when the writes asked for so far are done. Never rejects. */
  flushed(): Promise<void> {
    return this.saving;
  }
}
