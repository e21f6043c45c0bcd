/**
 * StagePort over isomorphic-git: writes some paths of a commit into a scratch directory (outside
 * the checkout the services see), so `pre` hooks can look at a new commit before it is applied.
 * Reads objects through the service checkout's `.git` (which points at the shared store).
 */
import fs from 'node:fs';
import { mkdir, rm, symlink } from 'node:fs/promises';
import path from 'node:path';
import git from 'isomorphic-git';
import type { CheckoutRef, StagePort } from '../../ports/git.js';
import { ObjectCaches, type Pass } from './object-cache.js';
import type { Owner } from '../../ports/host.js';
import { chownTree } from '../host/owner-tree.js';
import { isoFs } from './iso-fs.js';

/** What {@link IsoStage} asks of the store before reading a commit's files: `IsoGit.ensureFiles`. */
export interface FileSource {
  /** Make sure the store of `co` has the blobs under `paths` at `commit` (a partial clone fetches the missing ones). */
  ensureFiles(co: CheckoutRef, commit: string, paths: readonly string[]): Promise<void>;
}

/** isomorphic-git implementation of {@link StagePort}. */
export class IsoStage implements StagePort {
  /** isomorphic-git's object cache per checkout, shared by the pre and post stagings of a pass (`object-cache.ts`). */
  private readonly caches = new ObjectCaches();

  /** @param files the store's blobs on demand (`IsoGit`); omitted = the store has every blob (a full clone) */
  constructor(private readonly files?: FileSource) {}

  async stage(co: CheckoutRef, commit: string, paths: readonly string[], dest: string, owner: Owner | undefined): Promise<void> {
    const gitdir = path.join(co.dir, '.git');
    await rm(dest, { recursive: true, force: true });
    await mkdir(path.dirname(dest), { recursive: true, mode: 0o711 });
    await mkdir(dest, { mode: 0o755 });
    await this.files?.ensureFiles(co, commit, paths);
    await this.caches.with(co.dir, async (pass) => {
      for (const p of paths) await this.write(gitdir, commit, p, dest, pass);
    });
    if (owner) await chownTree(dest, owner);
  }

  private async write(gitdir: string, commit: string, p: string, dest: string, pass: Pass): Promise<void> {
    const parent = path.posix.dirname(p);
    const { tree } = await git.readTree({ fs: isoFs, gitdir, oid: commit, ...(parent === '.' ? {} : { filepath: parent }), cache: pass.cache }).catch(() => ({ tree: [] as { path: string; oid: string; type: string; mode: string }[] }));
    const e = tree.find((t) => t.path === path.posix.basename(p));
    if (e) await this.entry(gitdir, e, path.join(dest, p), pass);
  }

  private async entry(gitdir: string, e: { oid: string; type: string; mode: string }, target: string, pass: Pass): Promise<void> {
    if (e.type === 'tree') {
      await mkdir(target, { recursive: true });
      const { tree } = await git.readTree({ fs: isoFs, gitdir, oid: e.oid, cache: pass.cache });
      for (const c of tree) await this.entry(gitdir, c, path.join(target, c.path), pass);
      return;
    }
    if (e.type !== 'blob') return; // submodules are not staged
    const { blob } = await git.readBlob({ fs: isoFs, gitdir, oid: e.oid, cache: pass.cache });
    await mkdir(path.dirname(target), { recursive: true });
    if (e.mode === '120000') await symlink(Buffer.from(blob).toString('utf8'), target);
    else await fs.promises.writeFile(target, blob, { mode: e.mode === '100755' ? 0o755 : 0o644 });
  }
}

