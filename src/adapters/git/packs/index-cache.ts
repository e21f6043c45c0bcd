/**
 * Parsed pack indexes kept for the process, so a pass, a presence check or a pack reader does not
 * parse the same `.idx` again. Packs and their indexes are immutable and named by their checksum
 * (git's Documentation/gitformat-pack.txt), so an entry stays right as long as the file is the same
 * one: it is keyed by device and inode (the same file reached through a checkout's `.git/objects`
 * symlink is one entry) and checked against size and mtime (ns) at every lookup. Least recently used
 * entries go beyond {@link INDEX_CACHE_BYTES}.
 */
import fs from 'node:fs';
import { PackIndex } from './pack-index.js';

/** Total size of the parsed indexes kept (bytes of `.idx` content and offset tables). */
export const INDEX_CACHE_BYTES = 32 * 1024 * 1024;

type Stat = { dev: bigint; ino: bigint; size: bigint; mtimeNs: bigint };
const entries = new Map<string, { stamp: string; index: PackIndex }>();

const idOf = (st: Stat) => `${st.dev}:${st.ino}`;
const stampOf = (st: Stat) => `${st.size}:${st.mtimeNs}`;

/** The cached index for `st`, moved to the most recently used end; undefined when absent or stale. */
function hit(st: Stat): PackIndex | undefined {
  const id = idOf(st);
  const e = entries.get(id);
  if (!e || e.stamp !== stampOf(st)) return undefined;
  entries.delete(id);
  entries.set(id, e);
  return e.index;
}

/** Remember `index` for `st`, dropping the least recently used entries over the byte bound. */
function keep(st: Stat, index: PackIndex): PackIndex {
  entries.set(idOf(st), { stamp: stampOf(st), index });
  let total = 0;
  for (const e of entries.values()) total += e.index.bytes;
  for (const [id, e] of entries) {
    if (total <= INDEX_CACHE_BYTES || entries.size === 1) break;
    total -= e.index.bytes;
    entries.delete(id);
  }
  return index;
}

/**
 * The parsed `.idx` at `file` (path of a pack index), from the cache when the file is unchanged.
 * @throws PackError for an invalid index; the fs error (ENOENT…) for a missing or unreadable one
 */
export async function packIndexAt(file: string): Promise<PackIndex> {
  const st = await fs.promises.stat(file, { bigint: true });
  return hit(st) ?? keep(st, PackIndex.parse(await fs.promises.readFile(file), file));
}

/** {@link packIndexAt}, synchronously (the pack reader's `slice` must be synchronous). Same errors. */
export function packIndexAtSync(file: string): PackIndex {
  const st = fs.statSync(file, { bigint: true });
  return hit(st) ?? keep(st, PackIndex.parse(fs.readFileSync(file), file));
}
