/**
 * Which objects a store lacks, answered from its pack indexes and loose object directories without
 * reading any object (what `git cat-file -e` answers, for many objects at once). Layout of
 * `objects/`: git's Documentation/gitrepository-layout.txt (loose objects in `objects/xx/<38 hex>`,
 * packs as `objects/pack/pack-*.pack` with their `.idx`).
 */
import fs from 'node:fs';
import path from 'node:path';
import { packIndexAt } from './index-cache.js';
import type { PackIndex } from './pack-index.js';

const OID = /^[0-9a-f]{40}$/;

/**
 * The oids of `oids` (40 hex digits; upper case is read as lower) that `gitdir`'s object store has
 * neither in a pack (an `.idx` of `objects/pack` whose `.pack` is there too) nor loose, in the order
 * given, each once; anything that is not 40 hex digits is missing too. Pack indexes come from the
 * process's cache (`index-cache.ts`, parsed once per file); each loose directory `objects/xx` is
 * listed at most once per call, and only for oids no pack holds. Alternates
 * (`objects/info/alternates`) are not followed.
 * @throws PackError for a damaged `.idx`; the fs error when `objects/pack` exists but cannot be read
 */
export async function missingObjects(gitdir: string, oids: Iterable<string>): Promise<string[]> {
  const objects = path.join(gitdir, 'objects');
  const indexes = await packIndexes(path.join(objects, 'pack'));
  const loose = new Map<string, Promise<Set<string>>>();
  const seen = new Set<string>();
  const candidates: string[] = [];
  for (const given of oids) {
    const oid = given.toLowerCase();
    if (seen.has(oid)) continue;
    seen.add(oid);
    if (!OID.test(oid) || !indexes.some((i) => i.has(oid))) candidates.push(oid);
  }
  const missing: string[] = [];
  for (const oid of candidates) {
    if (!OID.test(oid)) {
      missing.push(oid);
      continue;
    }
    const dir = oid.slice(0, 2);
    let names = loose.get(dir);
    if (!names) loose.set(dir, (names = listDir(path.join(objects, dir))));
    if (!(await names).has(oid.slice(2))) missing.push(oid);
  }
  return missing;
}

/** The parsed indexes of every pack of `packDir` that has both its `.idx` and its `.pack` (one removed meanwhile is skipped). */
async function packIndexes(packDir: string): Promise<PackIndex[]> {
  const names = await listDir(packDir);
  const idx = [...names].filter((n) => n.endsWith('.idx') && names.has(`${n.slice(0, -4)}.pack`));
  const found = await Promise.all(idx.map((n) => packIndexAt(path.join(packDir, n)).catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') return undefined; // removed since listed (a compaction retiring it)
    throw err;
  })));
  return found.filter((i): i is PackIndex => i !== undefined);
}

/** The names in `dir`; empty when it does not exist. @throws the fs error for anything else */
async function listDir(dir: string): Promise<Set<string>> {
  try {
    return new Set(await fs.promises.readdir(dir));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT' || (err as NodeJS.ErrnoException).code === 'ENOTDIR') return new Set();
    throw err;
  }
}
