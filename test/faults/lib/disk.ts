/**
 * A small disk for fault tests: a tmpfs of a given size mounted on a directory (inside the test
 * run's private mount namespace, see test/run.mjs), and a filler file that takes its free space.
 */
import { execFile } from 'node:child_process';
import { closeSync, fsyncSync, mkdirSync, openSync, statfsSync, truncateSync, writeSync, rmSync, fstatSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** Mount a tmpfs of `sizeKiB` KiB (mode 0755) on `dir` (created when missing). Rejects with mount's message. */
export async function mountTmpfs(dir: string, sizeKiB: number): Promise<void> {
  mkdirSync(dir, { recursive: true });
  await run('mount', ['-t', 'tmpfs', '-o', `size=${sizeKiB}k,mode=0755`, 'tmpfs', dir]);
}

/** Free bytes of the file system holding `dir` (for an unprivileged writer; root may get a little more on some file systems). */
export function freeBytes(dir: string): number {
  const s = statfsSync(dir);
  return s.bavail * s.bsize;
}

/**
 * A file at `<dir>/.filler` that takes space from the file system holding `dir`: {@link fill}
 * writes until ENOSPC, {@link leave} gives back space so that about `bytes` are free, {@link remove} deletes it.
 */
export class Filler {
  readonly file: string;
  constructor(dir: string) {
    this.file = path.join(dir, '.filler');
  }

  /** Append 64 KiB blocks, then smaller ones, until the file system says ENOSPC; resolves with the file's size in bytes. */
  fill(): number {
    const fd = openSync(this.file, 'a');
    try {
      for (const size of [65536, 4096, 512]) {
        const block = Buffer.alloc(size, 0x78);
        for (let i = 0; i < 1_000_000; i++) {
          try {
            writeSync(fd, block);
          } catch (err) {
            if ((err as NodeJS.ErrnoException).code === 'ENOSPC') break;
            throw err;
          }
        }
      }
      fsyncSync(fd);
      return fstatSync(fd).size;
    } finally {
      closeSync(fd);
    }
  }

  /** Shrink the filler so that about `bytes` are free (page granularity); throws when it is too small for that. */
  leave(bytes: number): void {
    const fd = openSync(this.file, 'r');
    const size = fstatSync(fd).size;
    closeSync(fd);
    const free = freeBytes(path.dirname(this.file));
    const give = bytes - free;
    if (give > size) throw new Error(`filler holds ${size} bytes, cannot free ${give}`);
    if (give > 0) truncateSync(this.file, size - give);
  }

  /** Delete the filler (missing is fine). */
  remove(): void {
    rmSync(this.file, { force: true });
  }
}
