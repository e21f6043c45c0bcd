/**
 * A checkout in progress, recorded in the checkout's `.git/gitopper-applying` (the commit being
 * written, one line), so that a checkout cut short (the daemon killed with SIGKILL, the host losing
 * power, a full disk) is recognised on the next pass: the files it had written are the agent's own,
 * not an operator's local edits, and are put back to the deployed commit's version before anything
 * else happens (`IsoGit.prepare`). Without it, an interrupted checkout of a commit that adds many
 * files was taken for drift and the service stayed DIFF for good.
 *
 * Order in `IsoGit.checkout`: marker written (temp file + rename) → files written → HEAD moved →
 * marker removed. A marker naming the commit HEAD already names is a checkout that finished but for
 * the removal. docs/reliability.md.
 */
import { lstat, readFile, rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';

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
