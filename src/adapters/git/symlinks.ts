/**
 * Symlink safety of a checkout's work tree, for `git.ts`: symlinks the deployed commit does not hold are
 * removed before anything is written there, and the parents of committed symlinks are created first.
 */
import { lstat, mkdir, readdir, rm } from 'node:fs/promises';
import path from 'node:path';
import type { Pass } from './object-cache.js';
import { entryAt, readTreeOid } from './trees.js';

/**
 * Removes, below `dir`, the symlinks on the way to and under `link` that `commit` does not hold
 * as symlinks at that path: what an older commit left or someone planted in the work tree. After
 * it, writing the commit's files there cannot follow a link out of the checkout. Symlinks the
 * commit does hold (mode 120000) stay: the service sees them as committed; the agent itself only
 * lchowns and lstats them. Returns the removed paths.
 */
export async function removeForeignSymlinks(gitdir: string, dir: string, commit: string, link: string, pass: Pass): Promise<string[]> {
  const removed: string[] = [];
  const check = async (rel: string): Promise<boolean> => {
    const p = path.join(dir, rel);
    const st = await lstat(p).catch(() => undefined);
    if (!st?.isSymbolicLink()) return st?.isDirectory() ?? false;
    const entry = await entryAt(gitdir, commit, rel, pass).catch(() => undefined);
    if (entry?.mode !== '120000') {
      await rm(p);
      removed.push(rel);
    }
    return false;
  };
  const parts = link.split('/');
  for (let i = 1; i < parts.length; i++) await check(parts.slice(0, i).join('/'));
  const walk = async (rel: string): Promise<void> => {
    if (!(await check(rel))) return;
    for (const name of await readdir(path.join(dir, rel))) await walk(`${rel}/${name}`);
  };
  await walk(link);
  return removed;
}

/**
 * Create the directories that will hold the commit's symlinks under `link`: isomorphic-git writes
 * a symlink without creating its parent (a regular file's write does), so a directory whose first
 * entry written is a symlink failed with ENOENT, depending on the order of its parallel writes.
 * Runs after {@link removeForeignSymlinks}, so no path component is a symlink.
 */
export async function makeParentsOfSymlinks(gitdir: string, dir: string, commit: string, link: string, pass: Pass): Promise<void> {
  const top = await entryAt(gitdir, commit, link, pass);
  if (top?.type !== 'tree') return;
  const walk = async (rel: string, oid: string): Promise<void> => {
    for (const [name, e] of await readTreeOid(gitdir, oid, pass)) {
      if (e.type === 'tree') await walk(`${rel}/${name}`, e.oid);
      else if (e.mode === '120000') await mkdir(path.join(dir, rel), { recursive: true });
    }
  };
  await walk(link, top.oid);
}
