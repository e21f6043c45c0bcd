/**
 * Reading a checkout's `HEAD` (for `git.ts`), and telling "not there" apart from other failures.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import git from 'isomorphic-git';
import { isoFs } from './iso-fs.js';

/**
 * The commit `HEAD` of `gitdir` names. Fast path for the refs this adapter writes (a symbolic HEAD
 * to a loose ref, two small reads); anything else (a packed ref in an adopted clone, a detached HEAD
 * in another form) goes through isomorphic-git's `resolveRef`.
 * @throws isomorphic-git's NotFoundError for an unborn HEAD
 */
export async function headOid(gitdir: string): Promise<string> {
  const head = (await readFile(path.join(gitdir, 'HEAD'), 'utf8').catch(() => '')).trim();
  const ref = /^ref: (refs\/heads\/[^\s]+)$/.exec(head)?.[1];
  const loose = ref === undefined || ref.includes('..') ? '' : (await readFile(path.join(gitdir, ref), 'utf8').catch(() => '')).trim();
  if (/^[0-9a-f]{40}$/.test(loose)) return loose;
  return git.resolveRef({ fs: isoFs, gitdir, ref: 'HEAD' });
}

/** True for isomorphic-git's NotFoundError (a ref or object that does not exist) and ENOENT. */
export function isNotFound(err: unknown): boolean {
  const code = (err as { code?: unknown }).code;
  return code === 'NotFoundError' || code === 'ENOENT';
}

