/**
 * The files a new commit changes, written beside the live ones first and renamed into place only
 * once all of them are written (for `IsoGit.checkout` of a checkout that has a deployed commit).
 *
 * isomorphic-git's checkout writes each file in place (truncate, then write), straight into the
 * directories that are bind-mounted into services: a full disk (ENOSPC) in the middle left live
 * files empty and half of the new commit's files visible (docs/reliability.md, "disk full during
 * the checkout"). Written aside first, a failure removes what it wrote and leaves every live file as
 * it was; the renames that follow need no new space. isomorphic-git's checkout runs afterwards as
 * before (deletions, the index); it finds the renamed files already equal to the commit.
 *
 * Temporary files are named `.<name>.gitopper-new` beside their target; a checkout killed between
 * writing and renaming leaves them, and `IsoGit.prepare` removes them ({@link asideOf}).
 */
import { lchown, lstat, mkdir, rename, rm, rmdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import git from 'isomorphic-git';
import type { Pass } from './object-cache.js';
import type { Owner } from '../../ports/host.js';
import { entryAt } from './trees.js';
import { isoFs } from './iso-fs.js';

/** The temporary name of `file` while it is written aside. */
export function asideOf(file: string): string {
  return path.join(path.dirname(file), `.${path.basename(file)}.gitopper-new`);
}

/** True for a repository path that is such a temporary file (`.<name>.gitopper-new`). */
export function isAside(p: string): boolean {
  return /^\..+\.gitopper-new$/.test(path.basename(p));
}

/**
 * Write the blobs of `commit` at `paths` (repository paths under the checkout `dir`; from the store
 * `store`) beside their targets, owned by `owner`, then rename each into place. Paths that are not
 * regular files in the commit (deleted, symlinks, submodules), and paths whose parent is not a
 * directory in the work tree (a file becoming a directory), are left to isomorphic-git's checkout.
 * Directories a new file needs are made (and removed again when empty after a failure).
 * Call after the symlink guards (`symlinks.ts`): no component of a path is a foreign symlink.
 * @throws the first write error (e.g. ENOSPC) after removing every temporary file and new directory
 */
export async function writeAside(store: string, dir: string, commit: string, paths: readonly string[], owner: Owner | undefined, pass: Pass): Promise<void> {
  const staged: { tmp: string; file: string }[] = [];
  const made: string[] = [];
  try {
    for (const p of paths) {
      const entry = await entryAt(store, commit, p, pass);
      if (!entry || entry.type !== 'blob' || (entry.mode !== '100644' && entry.mode !== '100755')) continue;
      const file = path.join(dir, p);
      const parent = path.dirname(file);
      const ancestorProblem = await makeParent(dir, parent, owner, made);
      if (ancestorProblem) continue;
      if ((await lstat(file).catch(() => undefined))?.isDirectory()) continue; // a directory becoming a file
      const tmp = asideOf(file);
      const { blob } = await git.readBlob({ fs: isoFs, gitdir: store, oid: entry.oid, cache: pass.cache });
      staged.push({ tmp, file });
      await writeFile(tmp, blob, { mode: entry.mode === '100755' ? 0o755 : 0o644 });
      if (owner) await lchown(tmp, owner.uid, owner.gid);
    }
  } catch (err) {
    for (const s of staged) await rm(s.tmp, { force: true }).catch(() => undefined);
    for (const d of made.reverse()) await rmdir(d).catch(() => undefined);
    throw err;
  }
  for (const s of staged) await rename(s.tmp, s.file);
}

/**
 * Make `parent` (below `dir`) a directory, recording the directories made in `made`, owned by
 * `owner`. Returns true when something that is not a directory is in the way (left to the checkout).
 */
async function makeParent(dir: string, parent: string, owner: Owner | undefined, made: string[]): Promise<boolean> {
  const missing: string[] = [];
  for (let d = parent; d.length > dir.length; d = path.dirname(d)) {
    const st = await lstat(d).catch(() => undefined);
    if (st?.isDirectory()) break;
    if (st) return true;
    missing.unshift(d);
  }
  for (const d of missing) {
    await mkdir(d, { mode: 0o755 });
    made.push(d);
    if (owner) await lchown(d, owner.uid, owner.gid);
  }
  return false;
}
