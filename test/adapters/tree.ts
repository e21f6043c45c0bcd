/**
 * Helpers for the adapter tests: walk a directory tree, snapshot it, search it for bytes.
 * Not a test file (no `.test.` in the name), so test/run.mjs never runs it on its own.
 */
import { lstat, readdir, readFile } from 'node:fs/promises';
import path from 'node:path';

/** One entry of {@link walk}: path relative to the root, and its lstat. */
export interface TreeEntry {
  readonly rel: string;
  readonly kind: 'file' | 'dir' | 'symlink' | 'other';
  readonly uid: number;
  readonly gid: number;
  readonly ino: number;
  readonly mtimeMs: number;
}

/** Every entry below `root` (not `root` itself), sorted; symlinks are not followed; names in `skip` are not entered. */
export async function walk(root: string, skip: readonly string[] = []): Promise<TreeEntry[]> {
  const out: TreeEntry[] = [];
  const visit = async (rel: string): Promise<void> => {
    for (const name of (await readdir(path.join(root, rel))).sort()) {
      if (skip.includes(name)) continue;
      const r = rel ? `${rel}/${name}` : name;
      const st = await lstat(path.join(root, r));
      const kind = st.isFile() ? 'file' : st.isDirectory() ? 'dir' : st.isSymbolicLink() ? 'symlink' : 'other';
      out.push({ rel: r, kind, uid: st.uid, gid: st.gid, ino: st.ino, mtimeMs: st.mtimeMs });
      if (kind === 'dir') await visit(r);
    }
  };
  await visit('');
  return out;
}

/** Relative paths of the regular files below `root`, sorted, without anything under `.git`. */
export async function filesOf(root: string): Promise<string[]> {
  return (await walk(root, ['.git'])).filter((e) => e.kind === 'file').map((e) => e.rel);
}

/** Relative paths of the regular files below `root` whose bytes contain any of `needles`. */
export async function filesContaining(root: string, needles: readonly string[]): Promise<string[]> {
  const hits: string[] = [];
  for (const e of await walk(root)) {
    if (e.kind !== 'file') continue;
    const buf = await readFile(path.join(root, e.rel));
    if (needles.some((n) => buf.includes(n))) hits.push(e.rel);
  }
  return hits;
}
