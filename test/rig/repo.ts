/**
 * Test rig: git repositories in temporary directories, driven by the git CLI (execFile, no shell).
 *
 * Every git call gets a fixed author/committer and ignores the machine's global and system git
 * config, so the helpers behave the same on a fresh CI machine and on a developer's box.
 */
import { execFile } from 'node:child_process';
import { promises as fs, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

/** Environment for every git CLI call of the rig: fixed identity, no global/system config, no prompts. */
export const GIT_ENV: Readonly<Record<string, string>> = Object.freeze({
  GIT_AUTHOR_NAME: 'Gitopper Rig',
  GIT_AUTHOR_EMAIL: 'rig@gitopper.invalid',
  GIT_COMMITTER_NAME: 'Gitopper Rig',
  GIT_COMMITTER_EMAIL: 'rig@gitopper.invalid',
  GIT_CONFIG_NOSYSTEM: '1',
  GIT_CONFIG_GLOBAL: '/dev/null',
  GIT_TERMINAL_PROMPT: '0',
  GIT_ASKPASS: '/bin/false',
});

/** Options of {@link git}. */
export interface GitOptions {
  /** Working directory of the git process. */
  cwd?: string;
  /** Extra environment on top of `process.env` and {@link GIT_ENV}. */
  env?: Record<string, string>;
  /** Data written to git's stdin. */
  input?: string;
}

/** Error thrown by {@link git} when git exits non-zero; carries git's output. */
export class GitError extends Error {
  constructor(
    message: string,
    /** git's exit code (or null when killed). */
    readonly code: number | null,
    /** git's stdout. */
    readonly stdout: string,
    /** git's stderr. */
    readonly stderr: string,
  ) {
    super(message);
    this.name = 'GitError';
  }
}

/** Runs `git <args>` with {@link GIT_ENV}; resolves with stdout, rejects with a {@link GitError}. */
export function git(args: string[], opts: GitOptions = {}): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = execFile(
      'git',
      args,
      {
        cwd: opts.cwd,
        env: { ...process.env, ...GIT_ENV, ...opts.env },
        maxBuffer: 64 * 1024 * 1024,
        encoding: 'utf8',
      },
      (err, stdout, stderr) => {
        if (err) {
          const code = typeof err.code === 'number' ? err.code : null;
          reject(new GitError(`git ${args.join(' ')} failed (${code ?? err.signal}): ${stderr.trim()}`, code, stdout, stderr));
        } else {
          resolve(stdout);
        }
      },
    );
    if (opts.input !== undefined) child.stdin?.end(opts.input);
    else child.stdin?.end();
  });
}

/** Creates a fresh, empty directory under `os.tmpdir()` whose name starts with `prefix`. */
export async function tmpDir(prefix: string): Promise<string> {
  return fs.mkdtemp(path.join(os.tmpdir(), `${prefix.replace(/[^A-Za-z0-9._-]/g, '_')}-`));
}

/** Mount points at or below `dir`, deepest first, read from /proc/self/mountinfo. */
function mountsUnder(dir: string): string[] {
  let info: string;
  try {
    info = readFileSync('/proc/self/mountinfo', 'utf8');
  } catch {
    return [];
  }
  const unescape = (s: string) => s.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));
  const found: string[] = [];
  for (const line of info.split('\n')) {
    const field = line.split(' ')[4];
    if (!field) continue;
    const mp = unescape(field);
    if (mp === dir || mp.startsWith(dir + '/')) found.push(mp);
  }
  return found.sort((a, b) => b.length - a.length);
}

/**
 * Removes directories made by {@link tmpDir} (missing ones are fine). Mounts below a directory
 * (bind mounts a test made) are detached first (`umount -l`), so the removal never reaches through a
 * bind mount into its source.
 */
export async function removeDirs(...dirs: string[]): Promise<void> {
  for (const d of dirs) {
    const dir = path.resolve(d);
    if (dir === '/' || dir === path.resolve(os.tmpdir())) throw new Error(`refusing to remove ${dir}`);
    for (const mp of mountsUnder(dir)) {
      await new Promise<void>((resolve, reject) =>
        execFile('umount', ['-l', mp], (err, _o, stderr) =>
          err ? reject(new Error(`umount -l ${mp} failed: ${stderr.trim()}`)) : resolve(),
        ),
      );
    }
    if (mountsUnder(dir).length > 0) throw new Error(`mounts remain below ${dir}; not removing it`);
    await fs.rm(dir, { recursive: true, force: true });
  }
}

/**
 * Sets `http.receivepack true` so the smart-HTTP server accepts pushes without a REMOTE_USER, and
 * `uploadpack.allowFilter true` so fetches may be partial (`filter blob:none`), as on GitHub/GitLab.
 */
async function allowHttpPush(bareDir: string): Promise<void> {
  await git(['config', 'http.receivepack', 'true'], { cwd: bareDir });
  await git(['config', 'uploadpack.allowFilter', 'true'], { cwd: bareDir });
}

/**
 * Makes a bare repository at `dest` whose `branch` holds one commit with `files` (path → content;
 * parent directories are created). `HEAD` points at `branch`; `http.receivepack` and `uploadpack.allowFilter` are on.
 * Resolves with the commit's sha.
 */
export async function makeBare(dest: string, files: Record<string, string>, branch = 'main'): Promise<string> {
  await git(['init', '--quiet', '--bare', `--initial-branch=${branch}`, dest]);
  await allowHttpPush(dest);
  const work = await tmpDir('rig-seed');
  try {
    await git(['init', '--quiet', `--initial-branch=${branch}`, work]);
    for (const [rel, content] of Object.entries(files)) await writeRel(work, rel, content);
    await git(['add', '-A'], { cwd: work });
    await git(['commit', '--quiet', '--allow-empty', '-m', 'initial commit'], { cwd: work });
    await git(['push', '--quiet', dest, `HEAD:refs/heads/${branch}`], { cwd: work });
    return (await git(['rev-parse', 'HEAD'], { cwd: work })).trim();
  } finally {
    await removeDirs(work);
  }
}

/** Writes `content` to `root/rel`, creating parent directories; rejects paths that leave `root`. */
async function writeRel(root: string, rel: string, content: string): Promise<void> {
  const file = path.resolve(root, rel);
  if (!file.startsWith(root + path.sep)) throw new Error(`path ${rel} leaves ${root}`);
  await fs.mkdir(path.dirname(file), { recursive: true });
  await fs.writeFile(file, content);
}

/** One entry of {@link WorkClone.log}. */
export interface LogEntry {
  /** Full commit sha. */
  sha: string;
  /** First line of the commit message. */
  subject: string;
}

/**
 * A non-bare clone of a bare repository, used to make upstream changes in tests:
 * write/remove files, commit, and push straight to the bare directory (no HTTP).
 */
export class WorkClone {
  private constructor(
    /** Path of the bare repository this clone pushes to. */
    readonly bareDir: string,
    /** The clone's working tree. */
    readonly dir: string,
  ) {}

  /** Clones `bareDir` into `workDir` (which must not exist or be empty). */
  static async open(bareDir: string, workDir: string): Promise<WorkClone> {
    const bare = path.resolve(bareDir);
    const work = path.resolve(workDir);
    await git(['clone', '--quiet', bare, work]);
    return new WorkClone(bare, work);
  }

  /** Runs `git <args>` inside the clone; resolves with stdout. */
  git(...args: string[]): Promise<string> {
    return git(args, { cwd: this.dir });
  }

  /** Writes a file (relative path; parents are created). */
  async write(relPath: string, content: string): Promise<void> {
    await writeRel(this.dir, relPath, content);
  }

  /** Removes a file or directory (relative path) from the working tree. */
  async remove(relPath: string): Promise<void> {
    const file = path.resolve(this.dir, relPath);
    if (!file.startsWith(this.dir + path.sep)) throw new Error(`path ${relPath} leaves ${this.dir}`);
    await fs.rm(file, { recursive: true });
  }

  /**
   * Stages everything (`git add -A`) and commits; resolves with the new commit's full sha.
   * Fails when nothing changed unless `opts.allowEmpty`.
   */
  async commit(msg: string, opts: { allowEmpty?: boolean } = {}): Promise<string> {
    await this.git('add', '-A');
    await this.git('commit', '--quiet', ...(opts.allowEmpty ? ['--allow-empty'] : []), '-m', msg);
    return this.head();
  }

  /** Full sha of the clone's `HEAD`. */
  async head(): Promise<string> {
    return (await this.git('rev-parse', 'HEAD')).trim();
  }

  /**
   * Pushes `HEAD` to `branch` (default: the current branch) of the bare repository.
   * `opts.force` allows non-fast-forward updates (history rewrites).
   */
  async push(branch?: string, opts: { force?: boolean } = {}): Promise<void> {
    const target = branch ?? (await this.git('symbolic-ref', '--short', 'HEAD')).trim();
    await this.git('push', '--quiet', ...(opts.force ? ['--force'] : []), 'origin', `HEAD:refs/heads/${target}`);
  }

  /** Commits reachable from `HEAD`, newest first. */
  async log(): Promise<LogEntry[]> {
    const out = await this.git('log', '--format=%H %s');
    return out
      .split('\n')
      .filter(Boolean)
      .map((line) => ({ sha: line.slice(0, 40), subject: line.slice(41) }));
  }
}
