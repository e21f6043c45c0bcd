/**
 * A pack's integrity checked once per pack file per process, instead of once per pass. What is
 * checked is what isomorphic-git's `verifyPackfile` checks, streamed instead of on a Buffer of the
 * whole pack: the pack's trailer equals the pack checksum recorded in its `.idx`, and the SHA-1 of
 * everything before the trailer equals it too (git's Documentation/gitformat-pack.txt: "a 20-byte
 * SHA-1 checksum of all of the above"). Packs are immutable and named by that checksum, so a result
 * holds for the same file: keyed by device, inode, size and mtime (ns), plus the expected checksum.
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import { PACK_FIX, PackError } from './errors.js';

/** How many pack files' results are remembered (least recently used go first; they are checked again). */
export const VERIFIED_KEPT = 256;

const results = new Map<string, Promise<void>>();

/**
 * Resolve when the `.pack` at `packFile` is whole: its trailer and its content's SHA-1 both equal
 * `expected` (40 hex digits, the `.idx`'s pack checksum). The first call for a file reads it once,
 * in 1 MiB chunks; later calls for the same unchanged file share that result, a failure included.
 * @throws PackError when the pack is shorter than a header and trailer or a checksum differs; the fs
 *   error (ENOENT, EIO…) when it cannot be read, which is not remembered
 */
export async function verifyPackOnce(packFile: string, expected: string): Promise<void> {
  const st = await fs.promises.stat(packFile, { bigint: true });
  const key = `${st.dev}:${st.ino}:${st.size}:${st.mtimeNs}:${expected}`;
  let p = results.get(key);
  if (p) {
    results.delete(key);
  } else {
    p = verify(packFile, expected.toLowerCase());
    p.catch((err: unknown) => {
      if (!(err instanceof PackError) && results.get(key) === p) results.delete(key);
    });
  }
  results.set(key, p);
  for (const k of results.keys()) {
    if (results.size <= VERIFIED_KEPT) break;
    results.delete(k);
  }
  return p;
}

/** Read the pack once: trailer first (cheap), then the SHA-1 of the rest. */
async function verify(packFile: string, expected: string): Promise<void> {
  const bad = (why: string) => new PackError(`pack ${packFile} is corrupt (${why}); ${PACK_FIX}`, { file: packFile });
  const fh = await fs.promises.open(packFile, 'r');
  try {
    const size = (await fh.stat()).size;
    if (size < 32) throw bad(`${size} bytes is shorter than a header and trailer`);
    const trailer = Buffer.alloc(20);
    await fh.read(trailer, 0, 20, size - 20);
    if (trailer.toString('hex') !== expected) throw bad(`trailer ${trailer.toString('hex')}, index records ${expected}`);
    const hash = createHash('sha1');
    const chunk = Buffer.allocUnsafe(1024 * 1024);
    for (let at = 0; at < size - 20;) {
      const { bytesRead } = await fh.read(chunk, 0, Math.min(chunk.length, size - 20 - at), at);
      if (bytesRead === 0) throw bad(`ended at ${at} bytes`);
      hash.update(chunk.subarray(0, bytesRead));
      at += bytesRead;
    }
    const actual = hash.digest('hex');
    if (actual !== expected) throw bad(`content SHA-1 ${actual}, trailer ${expected}`);
  } finally {
    await fh.close();
  }
}
