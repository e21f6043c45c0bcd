/**
 * git CLI helpers for test/git.test.ts (not a test file itself).
 */
import { createHash } from 'node:crypto';
import { mkdir, readdir } from 'node:fs/promises';
import path from 'node:path';
import { after, before } from 'node:test';
import { startGitServer, type GitServer } from '../rig/git-server.js';
import { git, removeDirs, tmpDir } from '../rig/repo.js';

/** Files of `commit` under `links`, per the git CLI, sorted. */
export async function lsTree(bare: string, commit: string, links: readonly string[]): Promise<string[]> {
  return (await git(['ls-tree', '-r', '--name-only', commit, '--', ...links], { cwd: bare })).split('\n').filter(Boolean).sort();
}

/** Commit ids reachable from `ref` in `gitdir` (newest first), per `git log`. */
export async function commitsOf(gitdir: string, ref: string): Promise<string[]> {
  return (await git(['--git-dir', gitdir, 'log', '--format=%H', ref])).split('\n').filter(Boolean);
}

/** Number of pack files in a bare repository. */
export async function packs(gitdir: string): Promise<number> {
  return (await readdir(path.join(gitdir, 'objects', 'pack'))).filter((f) => f.endsWith('.pack')).length;
}

/** Blob content whose object id starts with `prefix` (4 hex) but differs from `not` in the 5th digit. */
export function collidingBlob(prefix: string, not: string): string {
  for (let i = 0; ; i++) {
    const body = `collision ${i}\n`;
    const oid = createHash('sha1').update(`blob ${Buffer.byteLength(body)}\0${body}`).digest('hex');
    if (oid.startsWith(prefix) && oid[4] !== not[4]) return body;
  }
}

/** What {@link gitServersPerFile} serves: read its fields inside tests (they are set by its `before` hook). */
export interface GitServers {
  /** The file's temp dir; upstreams live in `<tmp>/git`. */
  tmp: string;
  /** git-http-backend on loopback over `<tmp>/git`, no auth. */
  server: GitServer;
  /** The same repositories behind HTTP Basic auth (`auth`), when asked for. */
  authServer: GitServer;
}

/**
 * Register this test file's `before`/`after` hooks: a temp dir (`prefix`), a git HTTP server over
 * `<tmp>/git`, and with `auth` a second one that demands those credentials. Everything is closed
 * and removed after the file.
 */
export function gitServersPerFile(prefix: string, auth?: { user: string; password: string }): GitServers {
  const s = {} as GitServers;
  before(async () => {
    s.tmp = await tmpDir(prefix);
    await mkdir(path.join(s.tmp, 'git'));
    s.server = await startGitServer({ root: path.join(s.tmp, 'git') });
    if (auth) s.authServer = await startGitServer({ root: path.join(s.tmp, 'git'), auth });
  });
  after(async () => {
    await s.server?.close();
    await s.authServer?.close();
    if (s.tmp) await removeDirs(s.tmp);
  });
  return s;
}

/**
 * Turn `uploadpack.allowFilter` off in the bare repository `bare`: the upstream then cannot filter,
 * so IsoGit takes its whole-history path (isomorphic-git's fetch, a store's first fetch in a child):
 * the path the tests of git.test.ts, git-store, git-ssh and git-local were written for. The partial
 * path has its own tests (git-partial-*, git-on-demand).
 */
export async function refuseFilter(bare: string): Promise<void> {
  await git(['config', 'uploadpack.allowFilter', 'false'], { cwd: bare });
}
