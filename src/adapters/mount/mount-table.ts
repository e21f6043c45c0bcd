/**
 * The mount table as `BindMounter` reads it: `/proc/self/mountinfo` (proc(5)) parsed into a
 * {@link MountSnapshot}, read at most once for the calls made inside a shared scope (a pass over
 * many services), instead of once per call: at 100 services a full pass read and parsed the
 * table (which grows with the mounts) 100 times, O(services²).
 *
 * Freshness (mounts made or removed by someone else are a fault the agent repairs): outside any
 * scope every read is fresh; opening a scope drops the snapshot (the pass's first read is fresh);
 * our own mount or unmount drops it (the next call reads again); and a snapshot older than
 * {@link MAX_AGE_MS} is never reused (a long pass waiting for systemd jobs sees the table as it is).
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { expectedBindRoot, parseMountinfo, type MountEntry } from './mountinfo.js';

/** A snapshot is not reused once this old (ms), even inside a scope. */
export const MAX_AGE_MS = 1000;

/** One parsed reading of the mount table, indexed by mount point. */
export class MountSnapshot {
  /** The topmost entry per mount point (later entries stack on earlier ones). */
  private readonly byPoint = new Map<string, MountEntry>();

  /** @param entries mountinfo entries in the kernel's order (`parseMountinfo`) */
  constructor(readonly entries: readonly MountEntry[]) {
    for (const e of entries) this.byPoint.set(e.mountPoint, e);
  }

  /** The topmost mount whose mount point is exactly `p` (an absolute, resolved path), or undefined. */
  at(p: string): MountEntry | undefined {
    return this.byPoint.get(p);
  }

  /**
   * The device and mountinfo `root` a bind mount of `source` (a real path) would show: as
   * `expectedBindRoot` over the entries, found by walking up `source`'s parents in the index.
   */
  bindRootOf(source: string): { device: string; root: string } | undefined {
    for (let p = source; ; p = path.dirname(p)) {
      const m = this.byPoint.get(p);
      if (m) return expectedBindRoot([m], source);
      if (path.dirname(p) === p) return undefined;
    }
  }
}

/** Reads of one mount table, shared inside scopes (see the file's docstring). */
export class MountTable {
  private snapshot: { at: number; value: Promise<MountSnapshot> } | undefined;
  private scopes = 0;

  /**
   * @param file the table to read (`/proc/self/mountinfo`; tests may point elsewhere)
   * @param now clock in ms (tests)
   */
  constructor(private readonly file: string, private readonly now: () => number = () => performance.now()) {}

  /**
   * The table: the scope's snapshot when one is open and young enough, else a fresh reading
   * (kept for the scope). Rejects when the file cannot be read.
   */
  read(): Promise<MountSnapshot> {
    const s = this.snapshot;
    if (this.scopes > 0 && s && this.now() - s.at < MAX_AGE_MS) return s.value;
    const value = readFile(this.file, 'utf8').then((text) => new MountSnapshot(parseMountinfo(text)));
    if (this.scopes > 0) {
      const fresh = { at: this.now(), value };
      this.snapshot = fresh;
      // a failed reading is not kept: the next call tries again
      value.catch(() => {
        if (this.snapshot === fresh) this.snapshot = undefined;
      });
    }
    return value;
  }

  /** We mounted or unmounted something: the next {@link read} reads the table again. */
  changed(): void {
    this.snapshot = undefined;
  }

  /**
   * Run `fn` with the table shared by the reads made meanwhile (by `fn` and by anything running
   * concurrently). Opening a scope drops the current snapshot: its first read is fresh. Returns or
   * throws what `fn` does.
   */
  async shared<T>(fn: () => Promise<T>): Promise<T> {
    this.scopes++;
    this.snapshot = undefined;
    try {
      return await fn();
    } finally {
      if (--this.scopes === 0) this.snapshot = undefined;
    }
  }
}
