/**
 * A store recorded as a partial clone, the way `git clone --filter=blob:none` records one
 * (git's Documentation/gitrepository-layout.txt, config.txt `extensions.partialClone`,
 * `remote.<name>.promisor`, `remote.<name>.partialCloneFilter`, and partial-clone.txt): then
 * `git fsck`, `git log` and `git show` accept the objects the promisor packs leave out, and git
 * itself fetches a missing blob from `origin` when an operator asks for one.
 */
import git from 'isomorphic-git';
import type { SourceRef } from '../../../ports/git.js';
import { ensureStore } from '../store-refs.js';
import { isoFs } from '../iso-fs.js';

/** The promisor remote of every store. */
const REMOTE = 'origin';

/**
 * Make the bare store `gitdir` when it has no `HEAD` (mode 0700, remote `origin` = the plain
 * upstream: `ensureStore` of `../store-refs.ts`), then record it as a partial clone
 * with filter `blob:none`: `core.repositoryformatversion = 1`, `extensions.partialclone = origin`,
 * `remote.origin.promisor = true`, `remote.origin.partialclonefilter = blob:none`.
 */
export async function ensurePartialStore(gitdir: string, source: SourceRef): Promise<void> {
  await ensureStore(gitdir, source);
  if (await isPartialStore(gitdir)) return;
  await git.setConfig({ fs: isoFs, gitdir, path: 'core.repositoryformatversion', value: '1' });
  await git.setConfig({ fs: isoFs, gitdir, path: 'extensions.partialclone', value: REMOTE });
  await git.setConfig({ fs: isoFs, gitdir, path: `remote.${REMOTE}.promisor`, value: true });
  await git.setConfig({ fs: isoFs, gitdir, path: `remote.${REMOTE}.partialclonefilter`, value: 'blob:none' });
}

/**
 * True when the store's config records it as a partial clone (`extensions.partialclone` is set,
 * as git sets it); false for a full store or no store at all.
 */
export async function isPartialStore(gitdir: string): Promise<boolean> {
  const v = await git.getConfig({ fs: isoFs, gitdir, path: 'extensions.partialclone' }).catch(() => undefined);
  return typeof v === 'string' && v !== '';
}
