/**
 * MountPort with util-linux `mount --bind` / `umount`, checked against `/proc/self/mountinfo`.
 * Must run as root, in the mount namespace the services see.
 */
import { execFile } from 'node:child_process';
import { chown, lstat, mkdir, open, readFile, readlink, realpath, stat } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import type { MountPort, MountResult, Owner } from '../../ports/host.js';
import { expectedBindRoot, mountAt, parseMountinfo } from './mountinfo.js';
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
 * Refuses a source that is a symlink or has one among its parents inside the checkout (the
 * directories below the nearest one holding `.git`; without one, only the source itself).
 * Throws SymlinkSourceError, or an Error when the source does not exist.
 */
export async function refuseSymlinks(source: string): Promise<void> {
  const chain: string[] = [];
  let root: string | undefined;
  for (let p = path.resolve(source); ; p = path.dirname(p)) {
    if (chain.length > 0 && (await lstat(path.join(p, '.git')).then(() => true, () => false))) {
      root = p;
      break;
    }
    chain.push(p);
    if (path.dirname(p) === p) break;
  }
  for (const p of root === undefined ? chain.slice(0, 1) : chain) {
    const st = await lstat(p).catch(() => undefined);
    if (st === undefined) throw new Error(`${source} does not exist in the checkout (is "link" right?)`);
    if (st.isSymbolicLink()) throw new SymlinkSourceError({ source, symlink: p, points: await readlink(p) });
  }
}

/** Bind mounts with the `mount` binary. */
export class BindMounter implements MountPort {
  /** @param mountinfoPath where to read the mount table (tests may point elsewhere). */
  constructor(private readonly mountinfoPath = '/proc/self/mountinfo') {}

  async ensure(source: string, target: string, opts: { file: boolean; owner: Owner | undefined }): Promise<MountResult> {
    await refuseSymlinks(source);
    // no symlink between the checkout and the source: realpath only resolves the mount root's own path
    const src = await realpath(source);
    const srcStat = await stat(src);
    if (opts.file !== srcStat.isFile()) {
      throw new Error(`${source} is ${srcStat.isFile() ? 'a file' : 'a directory'} but "file" is ${opts.file}: set file = ${srcStat.isFile()}`);
    }
    await this.createTarget(target, opts.file, opts.owner);
    const entries = parseMountinfo(await readFile(this.mountinfoPath, 'utf8'));
    const tgt = await realpath(target);
    const current = mountAt(entries, tgt);
    if (current) {
      const want = expectedBindRoot(entries, src);
      const ours = want && current.device === want.device && (current.root === want.root || current.root === `${want.root}//deleted`);
      if (!ours) throw new ForeignMountError({ target, device: current.device, root: current.root, source: src });
      const t = await stat(tgt);
      if (t.dev === srcStat.dev && t.ino === srcStat.ino) return 'present';
      // ours, but the checkout replaced the source (a single file rewritten): re-make it
      await run('umount', [tgt]);
    }
    await run('mount', ['--bind', src, tgt]);
    return 'mounted';
  }

  async remove(source: string, target: string): Promise<'unmounted' | 'absent' | 'foreign'> {
    const tgt = await realpath(target).catch(() => undefined);
    if (!tgt) return 'absent';
    const entries = parseMountinfo(await readFile(this.mountinfoPath, 'utf8'));
    const current = mountAt(entries, tgt);
    if (!current) return 'absent';
    const src = await realpath(source).catch(() => source);
    const want = expectedBindRoot(entries, src);
    const ours = want && current.device === want.device && (current.root === want.root || current.root === `${want.root}//deleted`);
    if (!ours) return 'foreign';
    await run('umount', [tgt]);
    return 'unmounted';
  }

  /** Create a missing target (directory, or empty file) and its parents, owned by `owner`. */
  private async createTarget(target: string, file: boolean, owner: Owner | undefined): Promise<void> {
    const exists = await stat(target).then(
      (s) => {
        if (s.isFile() !== file) throw new Error(`${target} exists and is ${s.isFile() ? 'a file' : 'a directory'}, but "file" is ${file}`);
        return true;
      },
      (err: NodeJS.ErrnoException) => {
        if (err.code === 'ENOENT') return false;
        throw err;
      },
    );
    if (exists) return;
    if (file) {
      await mkdir(path.dirname(target), { recursive: true });
      await (await open(target, 'a')).close();
    } else {
      await mkdir(target, { recursive: true });
    }
    if (owner) await chown(target, owner.uid, owner.gid);
  }
}
