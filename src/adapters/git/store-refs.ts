/**
 * A bare object store's making (`git init --bare`, remote `origin`) and its branch refs
 * (`refs/heads/<branch>` = the last fetched tip of each branch, docs/daemon.md "Object stores"),
 * with isomorphic-git, and the error for a branch the upstream does not have. Shared by the whole-history fetch (`fetch.ts`), the partial fetch
 * (`partial/`) and compaction.
 */
import { lstat, mkdir } from 'node:fs/promises';
import path from 'node:path';
import git from 'isomorphic-git';
import type { SourceRef } from '../../ports/git.js';
import { GitopperError } from '../../errors/gitopper-error.js';
import { isoFs } from './iso-fs.js';

/** The upstream has no branch of that name (deleted, renamed, or a typo in `branch`). */
export class BranchNotFoundError extends GitopperError<{ readonly branch: string }> {
  readonly code = 'BRANCH_NOT_FOUND';
  constructor(readonly branch: string) {
    super(`branch "${branch}" not found upstream`, { branch });
  }
}

/** The store's `refs/heads/<branch>`, or undefined when it has none (or no store exists yet). */
export async function headOf(gitdir: string, branch: string): Promise<string | undefined> {
  return git.resolveRef({ fs: isoFs, gitdir, ref: `refs/heads/${branch}` }).catch(() => undefined);
}

/** Branch names (`refs/heads/*`) of the store, sorted; empty when there is no store. */
export async function heads(gitdir: string): Promise<string[]> {
  return (await git.listBranches({ fs: isoFs, gitdir }).catch(() => [] as string[])).sort();
}

/** Make the bare store at `gitdir` when it has no `HEAD` yet (mode 0700; remote `origin` = the plain upstream). */
export async function ensureStore(gitdir: string, source: SourceRef): Promise<void> {
  if (await lstat(path.join(gitdir, 'HEAD')).then(() => true, () => false)) return;
  await mkdir(gitdir, { recursive: true, mode: 0o700 });
  await git.init({ fs: isoFs, gitdir, bare: true, defaultBranch: source.branch });
  // isomorphic-git's fetch needs a refspec; the URL carries no credentials (they come from onAuth)
  await git.addRemote({ fs: isoFs, gitdir, remote: 'origin', url: source.upstream, force: true });
}
