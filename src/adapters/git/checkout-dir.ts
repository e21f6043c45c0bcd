/**
 * A service's checkout directory wired to its upstream's shared object store (the layout of
 * `iso-git.ts`): made, adopted or re-pointed, and never taken over when it holds something else.
 */
import { chown, lstat, mkdir, readdir, readlink, rename, rm, symlink } from 'node:fs/promises';
import path from 'node:path';
import git from 'isomorphic-git';
import type { CheckoutRef } from '../../ports/git.js';
import type { Owner } from '../../ports/host.js';
import { GitopperError } from '../../errors/gitopper-error.js';
import { isoFs } from './iso-fs.js';

/** Thrown when a checkout directory holds something this agent did not make. */
export class NotOurCheckoutError extends GitopperError<{ dir: string }> {
  readonly code = 'NOT_OUR_CHECKOUT';
  constructor(override readonly data: { dir: string }) {
    super(`${data.dir} exists, is not empty and is not a git checkout: move it away or point "mount" elsewhere (nothing was changed)`);
  }
}

/**
 * Make (or adopt) the checkout directory `co.dir` and point its `.git/objects` at `objects` (the
 * upstream's store): a fresh dir gets `git init` and the link; a dir whose link points at another
 * store is re-pointed (its upstream changed); a full clone made by something else (gitopper's CLI
 * clone) has its own objects kept aside as `objects.pre-gitopper-<ms>`. `notice` is told of the last two.
 * @throws NotOurCheckoutError when `co.dir` is not empty and not a git checkout (nothing is changed)
 */
export async function wireCheckout(co: CheckoutRef, objects: string, owner: Owner | undefined, notice: (msg: string, data: object) => void): Promise<void> {
  const gitdir = path.join(co.dir, '.git');
  await mkdir(co.dir, { recursive: true, mode: 0o755 });
  const fresh = !(await exists(gitdir));
  // refuse before touching anything (not even the owner) of a directory that is not ours
  if (fresh && (await readdir(co.dir)).length > 0) throw new NotOurCheckoutError({ dir: co.dir });
  if (owner) await chown(co.dir, owner.uid, owner.gid);
  if (fresh) {
    await git.init({ fs: isoFs, dir: co.dir, defaultBranch: co.branch });
    await rm(path.join(gitdir, 'objects'), { recursive: true });
    await symlink(objects, path.join(gitdir, 'objects'));
    return;
  }
  const link = path.join(gitdir, 'objects');
  const st = await lstat(link).catch((err: NodeJS.ErrnoException) => (err.code === 'ENOENT' ? undefined : Promise.reject(err)));
  if (!st) {
    // a first prepare cut short between removing git's own objects dir and linking the store's
    await symlink(objects, link);
    return;
  }
  if (st.isSymbolicLink()) {
    if ((await readlink(link)) !== objects) {
      await rm(link);
      await symlink(objects, link);
      notice('checkout re-pointed at the object store of its new upstream', { dir: co.dir, upstream: co.upstream });
    }
    return;
  }
  // A full clone made by something else (gitopper's CLI clone): keep its objects aside, say so.
  const aside = `${link}.pre-gitopper-${Date.now()}`;
  await rename(link, aside);
  await symlink(objects, link);
  notice('existing git checkout adopted: its own objects were kept aside', { dir: co.dir, keptAt: aside });
}

/** True when something (even a dangling symlink) is at `p`. */
async function exists(p: string): Promise<boolean> {
  return lstat(p).then(() => true, () => false);
}
