/**
 * Writing a commit's links into a service's checkout (the files only; HEAD is moved by the caller
 * once this succeeded): a file that changed is written aside and renamed into place, links gone
 * from the commit and paths that changed kind (file ↔ directory) are cleared first, symlinks the
 * commit lacks are never written through, and the checkout is marked (`apply-marker.ts`) so a
 * write cut short is undone by the next prepare.
 */
import { rm } from 'node:fs/promises';
import path from 'node:path';
import git from 'isomorphic-git';
import type { CheckoutRef } from '../../ports/git.js';
import type { Owner } from '../../ports/host.js';
import type { Pass } from './object-cache.js';
import { markApplying } from './apply-marker.js';
import { makeParentsOfSymlinks, removeForeignSymlinks } from './symlinks.js';
import { writeAside } from './write-aside.js';
import { commitTree, entryAt, kindChanges } from './trees.js';
import { chownTree } from '../host/owner-tree.js';
import { installSecrets, planSecrets } from './secrets.js';
import { isoFs } from './iso-fs.js';

/**
 * Write `commit`'s links into `co.dir` from the object store `store`, owned by `owner`; `prev` is
 * the deployed commit (undefined: none), `changed` lists the paths that differ between them. Call
 * under the checkout's lock. With `co.ageIdentity`, the commit's `.age` files are decrypted first
 * (in memory) and their plaintexts renamed into place last (`secrets.ts`).
 * @throws SecretError when a secret cannot be decrypted (nothing changed); Error when the store lacks
 *   `commit` (nothing changed), or the first fs/isomorphic-git error (ENOSPC…: live files changed
 *   only where written aside and renamed, the marker stays)
 */
export async function writeCommit(store: string, co: CheckoutRef, prev: string | undefined, commit: string, owner: Owner | undefined, pass: Pass, changed: () => Promise<string[]>): Promise<void> {
  const gitdir = path.join(co.dir, '.git');
  await commitTree(store, commit, pass); // a commit the store lacks: change nothing
  // a secret that does not decrypt: change nothing either
  const secrets = co.ageIdentity === undefined ? undefined : await planSecrets(store, co, commit, pass, 'checkout');
  // from here on files change: a checkout cut short is undone by the next prepare()
  if (prev !== commit) await markApplying(gitdir, commit);
  const present: string[] = [];
  // isomorphic-git neither removes a link gone from the commit nor replaces a file by a
  // directory (or back): clear those paths (work tree and index) so checkout writes them anew
  const stale: string[] = [];
  for (const link of co.links) {
    const entry = await entryAt(store, commit, link, pass);
    if (!entry) stale.push(link);
    else {
      present.push(link);
      if (prev) await kindChanges(store, link, await entryAt(store, prev, link, pass), entry, pass, stale);
    }
  }
  // never write through a symlink the commit does not have (left by an older commit, or planted in the work tree)
  for (const link of present) await removeForeignSymlinks(store, co.dir, commit, link, pass);
  // changed files are written aside and renamed into place: a failure (ENOSPC) leaves every live file as it was
  if (prev !== undefined && prev !== commit) await writeAside(store, co.dir, commit, await changed(), owner, pass).catch((err: unknown) => Promise.reject(firstOf(err)));
  for (const p of stale) {
    await rm(path.join(co.dir, p), { recursive: true, force: true });
    await git.remove({ fs: isoFs, dir: co.dir, gitdir, filepath: p, cache: pass.cache });
  }
  for (const link of present) await makeParentsOfSymlinks(store, co.dir, commit, link, pass);
  if (present.length > 0) {
    await git.checkout({ fs: isoFs, dir: co.dir, gitdir, ref: commit, filepaths: present, force: true, noUpdateHead: true, cache: pass.cache }).catch((err: unknown) => {
      throw firstOf(err);
    });
  }
  if (owner) for (const link of present) await chownTree(path.join(co.dir, link), owner);
  if (secrets) await installSecrets(co.dir, secrets, owner);
}

/**
 * isomorphic-git's `MultipleGitError` (one per file that failed, e.g. ENOSPC) as its first error,
 * with the count of the others in the message, so the state info says why; other errors unchanged.
 */
function firstOf(err: unknown): unknown {
  const errors = (err as { code?: string; errors?: unknown[] }).errors;
  if ((err as { code?: string }).code !== 'MultipleGitError' || !Array.isArray(errors) || errors.length === 0) return err;
  const first = errors[0] instanceof Error ? errors[0] : new Error(String(errors[0]));
  if (errors.length > 1) first.message = `${first.message} (and ${errors.length - 1} more file(s) failed)`;
  return first;
}
