/**
 * MountPort with util-linux `mount --bind` / `umount`, checked against `/proc/self/mountinfo`.
 * Must run as root, in the mount namespace the services see.
 */
import { execFile } from 'node:child_process';
import { lstatSync, type Stats } from 'node:fs';
import { chown, mkdir, open, readlink, realpath, stat } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import type { MountPort, MountResult, Owner } from '../../ports/host.js';
import { MountTable, type MountSnapshot } from './mount-table.js';
import { GitopperError } from '../../errors/gitopper-error.js';

const run = promisify(execFile);

/** Thrown when a target is mounted from somewhere other than the service's checkout. */
export class ForeignMountError extends GitopperError<{ target: string; device: string; root: string; source: string }> {
  readonly code = 'FOREIGN_MOUNT';
  constructor(override readonly data: { target: string; device: string; root: string; source: string }) {
    super(`${data.target} is already mounted from ${data.device}:${data.root}, not from ${data.source}: unmount it (umount ${data.target}) or change "local"`);
  }
}

/**
 * A link whose source in the checkout is, or lies below, a symbolic link from the repository:
 * bind-mounting it would expose whatever it points at (any path of the host) to the service.
 */
export class SymlinkSourceError extends GitopperError<{ source: string; symlink: string; points: string }> {
  readonly code = 'SYMLINK_SOURCE';
  constructor(override readonly data: { source: string; symlink: string; points: string }) {
    super(`${data.symlink} is a symbolic link in the repository (-> ${data.points}): gitopper does not follow links out of the checkout, so ${data.source} is not mounted; commit the files themselves, not a link`);
  }
}

/**
 * `lstat(2)` of `p`, or undefined when it cannot be had (missing, or any other error). Synchronous
 * on purpose: these are a few lstat calls in the agent's own checkout, microseconds each; the
 * promise form cost a thread-pool round trip, a promise and, for every missing path, an Error with
 * its stack (the mount check of every service on every full pass: docs/daemon.md "Mount checks").
 */
function lstatOrNone(p: string): Stats | undefined {
  try {
    return lstatSync(p, { throwIfNoEntry: false });
  } catch {
    return undefined;
  }
}

/**
 * Refuses a source that is a symlink or has one among its parents inside the checkout (the
 * directories below the nearest one holding `.git`; without one, only the source itself).
 * Returns the source's own `lstat` (not a symlink, so its `stat` too).
 * Throws SymlinkSourceError, or an Error when the source does not exist.
 */
export async function refuseSymlinks(source: string): Promise<Stats> {
  const chain: string[] = [];
  let root: string | undefined;
  for (let p = path.resolve(source); ; p = path.dirname(p)) {
    if (chain.length > 0 && lstatOrNone(path.join(p, '.git')) !== undefined) {
      root = p;
      break;
    }
    chain.push(p);
    if (path.dirname(p) === p) break;
  }
  let own: Stats | undefined;
  for (const p of root === undefined ? chain.slice(0, 1) : chain) {
    const st = lstatOrNone(p);
    if (st === undefined) throw new Error(`${source} does not exist in the checkout (is "link" right?)`);
    if (st.isSymbolicLink()) throw new SymlinkSourceError({ source, symlink: p, points: await readlink(p) });
    own ??= st;
  }
  return own!;
}

/** Bind mounts with the `mount` binary; the mount table is read through a {@link MountTable}. */
export class BindMounter implements MountPort {
  private readonly table: MountTable;

  /** @param mountinfoPath where to read the mount table (tests may point elsewhere). */
  constructor(mountinfoPath = '/proc/self/mountinfo') {
    this.table = new MountTable(mountinfoPath);
  }

  /**
   * See MountPort.shared: the calls made while `fn` runs share one reading of the mount table
   * (`mount-table.ts`: fresh at the scope's start, after our own mounts, and at least every second).
   */
  shared<T>(fn: () => Promise<T>): Promise<T> {
    return this.table.shared(fn);
  }

  async ensure(source: string, target: string, opts: { file: boolean; owner: Owner | undefined }): Promise<MountResult> {
    // the source is no symlink (its lstat is its stat), nor is any directory between it and the checkout
    const srcStat = await refuseSymlinks(source);
    // so realpath only resolves the checkout's own path
    const src = await realpath(source);
    if (opts.file !== srcStat.isFile()) {
      throw new Error(`${source} is ${srcStat.isFile() ? 'a file' : 'a directory'} but "file" is ${opts.file}: set file = ${srcStat.isFile()}`);
    }
    const existing = await this.createTarget(target, opts.file, opts.owner);
    const table = await this.table.read();
    const tgt = await realpath(target);
    const current = table.at(tgt);
    if (current) {
      if (!isOurs(table, current, src)) throw new ForeignMountError({ target, device: current.device, root: current.root, source: src });
      // stat follows links: the target's stat is its real path's
      const t = existing ?? (await stat(tgt));
      if (t.dev === srcStat.dev && t.ino === srcStat.ino) return 'present';
      // ours, but the checkout replaced the source (a single file rewritten): re-make it
      await this.change(['umount', tgt]);
    }
    await this.change(['mount', '--bind', src, tgt]);
    return 'mounted';
  }

  async remove(source: string, target: string): Promise<'unmounted' | 'absent' | 'foreign'> {
    const tgt = await realpath(target).catch(() => undefined);
    if (!tgt) return 'absent';
    const table = await this.table.read();
    const current = table.at(tgt);
    if (!current) return 'absent';
    const src = await realpath(source).catch(() => source);
    if (!isOurs(table, current, src)) return 'foreign';
    await this.change(['umount', tgt]);
    return 'unmounted';
  }

  /** Run `mount`/`umount` (`cmd[0]`) with its arguments; the table is read again afterwards, whatever happened. */
  private async change(cmd: [string, ...string[]]): Promise<void> {
    try {
      await run(cmd[0], cmd.slice(1));
    } finally {
      this.table.changed();
    }
  }

  /**
   * Create a missing target (directory, or empty file) and its parents, owned by `owner`. Returns
   * the `stat` of a target that was there, undefined when it was made now.
   */
  private async createTarget(target: string, file: boolean, owner: Owner | undefined): Promise<Stats | undefined> {
    const existing = await stat(target).then(
      (s) => {
        if (s.isFile() !== file) throw new Error(`${target} exists and is ${s.isFile() ? 'a file' : 'a directory'}, but "file" is ${file}`);
        return s;
      },
      (err: NodeJS.ErrnoException) => {
        if (err.code === 'ENOENT') return undefined;
        throw err;
      },
    );
    if (existing) return existing;
    if (file) {
      await mkdir(path.dirname(target), { recursive: true });
      await (await open(target, 'a')).close();
    } else {
      await mkdir(target, { recursive: true });
    }
    if (owner) await chown(target, owner.uid, owner.gid);
    return undefined;
  }
}

/** True when `current` (the mount on a target) is a bind mount of `src` (a real path), also after `src` was deleted and made again. */
function isOurs(table: MountSnapshot, current: { device: string; root: string }, src: string): boolean {
  const want = table.bindRootOf(src);
  return want !== undefined && current.device === want.device && (current.root === want.root || current.root === `${want.root}//deleted`);
}
