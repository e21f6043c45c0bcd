/**
 * A checkout in progress, recorded in the checkout's `.git/gitopper-applying` (the commit being
 * written, one line), so that a checkout cut short (the daemon killed with SIGKILL, the host losing
 * power, a full disk) is recognised on the next pass: the files it had written are the agent's own,
 * not an operator's local edits, and are put back to the deployed commit's version before anything
 * else happens (`IsoGit.prepare`). Without it, an interrupted checkout of a commit that adds many
 * files was taken for drift and the service stayed DIFF for good.
 *
 * {@link undoInterrupted} does the undoing (called by `IsoGit.prepare`, before every pass).
 *
 * Order in `IsoGit.checkout`: marker written (temp file + rename) → files written → HEAD moved →
 * marker removed. A marker naming the commit HEAD already names is a checkout that finished but for
 * the removal. docs/reliability.md.
 */
import { lstat, readFile, rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { CheckoutRef } from '../../ports/git.js';
import type { Owner } from '../../ports/host.js';
import { isNotFound } from './head.js';
import { asideOf, isAside } from './write-aside.js';

/** File name of the marker inside a checkout's `.git`. */
export const APPLYING_FILE = 'gitopper-applying';

/** Record that `commit` (40 hex) is being written into the checkout whose git dir is `gitdir`. Throws on I/O failure. */
export async function markApplying(gitdir: string, commit: string): Promise<void> {
  const file = path.join(gitdir, APPLYING_FILE);
  const tmp = `${file}.tmp-${process.pid}`;
  await writeFile(tmp, `${commit}\n`, { mode: 0o644 });
  await rename(tmp, file);
}

/**
 * The commit an interrupted checkout was writing, or undefined when none is recorded (no marker,
 * or a marker that does not hold a commit id: it is then removed, as it cannot be ours).
 * Throws on read errors other than ENOENT.
 */
export async function applyingCommit(gitdir: string): Promise<string | undefined> {
  let text: string;
  try {
    text = await readFile(path.join(gitdir, APPLYING_FILE), 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
  const commit = text.trim();
  if (/^[0-9a-f]{40}$/.test(commit)) return commit;
  await clearApplying(gitdir);
  return undefined;
}

/** Remove the marker (a missing one is fine). Throws on other I/O failures. */
export async function clearApplying(gitdir: string): Promise<void> {
  await rm(path.join(gitdir, APPLYING_FILE), { force: true });
}

/**
 * Remove the checkout's `.git/index` when it is shorter than an index header (12 bytes): what a
 * process killed while isomorphic-git rewrote it leaves, and what isomorphic-git then refuses to
 * read ("Index file is empty") in every later operation. The index is only a cache of a forced
 * sparse checkout (the next checkout writes it anew; drift hashes the files meanwhile), so nothing
 * is lost. `onRemoved` is told when it was removed.
 * @throws I/O errors other than ENOENT
 */
export async function dropEmptyIndex(gitdir: string, onRemoved: (msg: string, data: object) => void): Promise<void> {
  const file = path.join(gitdir, 'index');
  const st = await lstat(file).catch((err: NodeJS.ErrnoException) => (err.code === 'ENOENT' ? undefined : Promise.reject(err)));
  if (!st || !st.isFile() || st.size >= 12) return;
  await rm(file, { force: true });
  onRemoved('a truncated .git/index (an interrupted write) was removed; the next checkout writes it anew', { gitdir, bytes: st.size });
}

/** What {@link undoInterrupted} needs of the git adapter (`IsoGit`): the GitPort methods of the same names. */
export interface UndoGit {
  deployed(co: CheckoutRef): Promise<string | undefined>;
  changedPaths(co: CheckoutRef, from: string, to: string): Promise<string[]>;
  drift(co: CheckoutRef, head: string): Promise<string[]>;
  restore(co: CheckoutRef, head: string, paths: readonly string[], owner: Owner | undefined): Promise<void>;
}

/**
 * Called by `IsoGit.prepare` before every pass: drop a truncated index ({@link dropEmptyIndex}),
 * then, when a marker names a checkout (or restore) that was cut short, remove its temporary files
 * (`write-aside.ts`) and put the files it changed back to the deployed commit's version, so they
 * are never taken for local edits; a failed write-aside changed nothing and nothing is put back.
 * A marker naming HEAD's commit (only the removal was missed) or a first setup is just cleared.
 * `onNotice` is told what was done (warn level).
 * @throws git or I/O errors (the pass is then DIFF and tries again)
 */
export async function undoInterrupted(git: UndoGit, co: CheckoutRef, owner: Owner | undefined, onNotice: (msg: string, data: object) => void): Promise<void> {
  const gitdir = path.join(co.dir, '.git');
  await dropEmptyIndex(gitdir, onNotice);
  const target = await applyingCommit(gitdir);
  if (target === undefined) return;
  const head = await git.deployed(co);
  if (head !== undefined) {
    let changed: string[] | undefined = [];
    try {
      if (head !== target) changed = await git.changedPaths(co, head, target);
    } catch (err) {
      if (!isNotFound(err)) throw err;
      changed = undefined; // the commit it was writing is gone from the store: everything off HEAD was its
    }
    // temporary files of a write-aside (under the changed paths) or of a restore (seen as drift) cut short
    let temporary = 0;
    for (const p of changed ?? []) if (await removed(asideOf(path.join(co.dir, p)))) temporary++;
    const off = await git.drift(co, head);
    for (const p of off.filter(isAside)) if (await removed(path.join(co.dir, p))) temporary++;
    // only what it really changed is put back (a failed write-aside changed nothing)
    const paths = off.filter((p) => !isAside(p) && (changed === undefined || changed.includes(p)));
    if (paths.length > 0) await git.restore(co, head, paths, owner);
    if (head !== target || paths.length > 0 || temporary > 0) {
      onNotice('an interrupted checkout was undone: the files it had written are back at the deployed commit', { dir: co.dir, interrupted: target, deployed: head, paths: paths.length, temporary });
    }
  }
  await clearApplying(gitdir);
}

/** Remove the file `p`; true when there was one. */
async function removed(p: string): Promise<boolean> {
  return rm(p).then(() => true, (err: NodeJS.ErrnoException) => (err.code === 'ENOENT' ? false : Promise.reject(err)));
}
