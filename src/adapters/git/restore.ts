/**
 * Putting paths of a checkout back to the deployed commit (drift = "revert", and the undo of a
 * checkout cut short): each file written aside and renamed into place, a symlink in the way
 * replaced and never written through, marked like a checkout (`apply-marker.ts`) so a restore cut
 * short is finished by the next prepare.
 */
import fs from 'node:fs';
import { lstat, mkdir, rename, rm } from 'node:fs/promises';
import path from 'node:path';
import git from 'isomorphic-git';
import type { CheckoutRef } from '../../ports/git.js';
import type { Owner } from '../../ports/host.js';
import type { Pass } from './object-cache.js';
import { applyingCommit, clearApplying, markApplying } from './apply-marker.js';
import { removeForeignSymlinks } from './symlinks.js';
import { asideOf } from './write-aside.js';
import { entryAt } from './trees.js';
import { isoFs } from './iso-fs.js';

/**
 * Write `paths` (repository paths under `co`'s links) of commit `head` into `co.dir`, owned by
 * `owner`; a path the commit lacks is removed. Call under the checkout's lock.
 * @throws Error for a path outside the links, and fs/isomorphic-git errors (the marker stays: the next prepare finishes it)
 */
export async function restorePaths(co: CheckoutRef, head: string, paths: readonly string[], owner: Owner | undefined, pass: Pass): Promise<void> {
  const gitdir = path.join(co.dir, '.git');
  // marked like a checkout (unless one is being undone): a restore cut short is finished by the next prepare()
  const mine = (await applyingCommit(gitdir)) === undefined;
  if (mine) await markApplying(gitdir, head);
  for (const link of co.links) await removeForeignSymlinks(gitdir, co.dir, head, link, pass);
  for (const p of paths) {
    const file = path.join(co.dir, p);
    if (!co.links.some((l) => p === l || p.startsWith(`${l}/`))) throw new Error(`${p} is not under the service's links`);
    const entry = await entryAt(gitdir, head, p, pass);
    if (!entry || entry.type !== 'blob') {
      await rm(file, { recursive: true, force: true });
      continue;
    }
    const { blob } = await git.readBlob({ fs: isoFs, gitdir, oid: entry.oid, cache: pass.cache });
    await mkdir(path.dirname(file), { recursive: true });
    if ((await lstat(file).catch(() => undefined))?.isDirectory()) await rm(file, { recursive: true });
    // a new file renamed into place: readers never see it missing or half written, and a
    // symlink in the way is replaced, never written through
    const tmp = asideOf(file);
    await rm(tmp, { force: true });
    await fs.promises.writeFile(tmp, blob, { mode: entry.mode === '100755' ? 0o755 : 0o644, flag: 'wx' });
    if (owner) await fs.promises.lchown(tmp, owner.uid, owner.gid);
    await rename(tmp, file);
  }
  if (mine) await clearApplying(gitdir);
}
