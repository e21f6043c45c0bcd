/**
 * A `.pack` file read by offset, standing in for the whole-pack Buffer that isomorphic-git keeps in
 * `GitPackIndex.pack`. isomorphic-git 1.44 uses one member of that Buffer, synchronously:
 * `readSlice({ start })` does `pack.slice(start)` and parses the one object that starts there (type
 * and size header, an ofs-delta offset or ref-delta name, then zlib data). So {@link PackReader.slice}
 * reads just that object's bytes with `fs.readSync` from a file descriptor opened at the first read,
 * the object's end taken from the pack index (the next object's offset, see `pack-index.ts`).
 */
import fs from 'node:fs';
import { PACK_FIX, PackError } from './errors.js';
import { packIndexAtSync } from './index-cache.js';
import type { PackIndex } from './pack-index.js';

/** Bytes read from packs by every {@link PackReader} of this process (for tests and the bench). */
export const packReads = { bytes: 0, slices: 0 };

/**
 * The bytes of one `.pack` file as a read-only, Buffer-like object: `slice`/`subarray` and `length`
 * with Buffer's meaning (negative indexes count from the end, bounds are clamped), with one exception
 * that is the point of it: `slice(start)` without `end`, where an object of the index starts at
 * `start`, returns that object's bytes only, not the rest of the pack.
 *
 * The file descriptor is opened at the first read and closed by {@link close}; a read after `close`
 * opens, reads and closes again (right, but slower; the owner should not read after dropping it).
 */
export class PackReader {
  private fd: number | undefined;
  private size = 0;
  private index: PackIndex | undefined;
  private closed = false;

  /**
   * @param packFile path of the `.pack` file
   * @param idxFile path of its `.idx` (parsed at the first read, through `index-cache.ts`)
   */
  constructor(readonly packFile: string, readonly idxFile: string) {}

  /** Size of the pack file in bytes (opens it when not yet open). @throws the fs error (ENOENT…) */
  get length(): number {
    return this.withFd(() => this.size);
  }

  /** Same as {@link length}. */
  get byteLength(): number {
    return this.length;
  }

  /**
   * Bytes [start, end) of the pack in a new Buffer; without `end`, to the end of the object starting
   * at `start` (or of the pack, when no object starts there).
   * @throws PackError when the file is shorter than read; the fs error when it cannot be read
   */
  slice(start = 0, end?: number): Buffer {
    return this.withFd((fd) => {
      const from = clamp(start, this.size);
      let to: number;
      if (end !== undefined) to = clamp(end, this.size);
      else to = (this.index ??= packIndexAtSync(this.idxFile)).endOf(from, this.size) ?? this.size;
      const buf = Buffer.allocUnsafe(Math.max(0, to - from));
      for (let got = 0; got < buf.length;) {
        const n = fs.readSync(fd, buf, got, buf.length - got, from + got);
        if (n === 0) throw new PackError(`pack ${this.packFile} ended at ${from + got} bytes, ${this.size} expected; ${PACK_FIX}`, { file: this.packFile });
        got += n;
      }
      packReads.bytes += buf.length;
      packReads.slices++;
      return buf;
    });
  }

  /** Same as {@link slice} (Buffer's `subarray`, but a copy). */
  subarray(start = 0, end?: number): Buffer {
    return this.slice(start, end);
  }

  /** Close the file descriptor (idempotent). Later reads open and close one for themselves. */
  close(): void {
    this.closed = true;
    if (this.fd !== undefined) fs.closeSync(this.fd);
    this.fd = undefined;
  }

  /** Run `fn` with an open descriptor (and {@link size} known); one per read once closed. */
  private withFd<T>(fn: (fd: number) => T): T {
    if (this.fd !== undefined) return fn(this.fd);
    const fd = fs.openSync(this.packFile, 'r');
    try {
      this.size = fs.fstatSync(fd).size;
      if (!this.closed) this.fd = fd;
      return fn(fd);
    } finally {
      if (this.fd !== fd) fs.closeSync(fd);
    }
  }
}

/** Buffer's index rule: negative counts from the end, then clamped to [0, size]. */
function clamp(i: number, size: number): number {
  const v = Math.trunc(i) || 0;
  return Math.min(size, Math.max(0, v < 0 ? size + v : v));
}
