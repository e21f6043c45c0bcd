/**
 * The object stores under `<state-dir>/upstreams/` as the store sweep sees them ({@link StoresPort},
 * `src/core/store-sweep.ts`): listed with when a fetch last used each (the mtime of `<store>/gitopper-used`,
 * set by every fetch), checked for a commit, removed under the store's lock.
 */
import { lstat, readdir, rm, utimes, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { StoreEntry, StoresPort } from '../../ports/git.js';
import { commitTree } from './trees.js';
import { isNotFound } from './head.js';
import { storeName } from '../../upstream/upstream.js';

/** File in a store whose mtime is when a fetch last used it. */
const USED_FILE = 'gitopper-used';

/** Set the store at `gitdir`'s last-used time to now (the file is made when missing). Throws on I/O failure. */
export async function markUsed(gitdir: string): Promise<void> {
  const file = path.join(gitdir, USED_FILE);
  const now = new Date();
  await utimes(file, now, now).catch(() => writeFile(file, ''));
}

/** What the store directory needs of the git adapter (`IsoGit.withStoreRemoved`): its per-store lock. */
export interface StoreLock {
  /** Run `fn` while no fetch into the store at `gitdir` runs, then forget the store's checkouts. */
  withStoreRemoved(gitdir: string, fn: () => Promise<void>): Promise<void>;
}

/** {@link StoresPort} over the stores of the git adapter of the same `--state-dir`. */
export class StoreDirectory implements StoresPort {
  private readonly dir: string;

  /** @param stateDir the daemon's `--state-dir` (stores live in `<stateDir>/upstreams/`) */
  constructor(stateDir: string, private readonly git: StoreLock) {
    this.dir = path.join(stateDir, 'upstreams');
  }

  async list(): Promise<StoreEntry[]> {
    const names = await readdir(this.dir).catch((err: NodeJS.ErrnoException) => (err.code === 'ENOENT' ? [] : Promise.reject(err)));
    const out: StoreEntry[] = [];
    for (const name of names.filter((n) => n.endsWith('.git'))) {
      // a store from before this marker existed: the directory's own time
      const st = await lstat(path.join(this.dir, name, USED_FILE)).catch(() => lstat(path.join(this.dir, name)));
      if (st.isDirectory() || st.isFile()) out.push({ name, lastUsed: st.mtime });
    }
    return out;
  }

  nameOf(upstream: string): string {
    return storeName(upstream);
  }

  async contains(name: string, commit: string): Promise<boolean> {
    try {
      await commitTree(path.join(this.dir, name), commit, { cache: {} });
      return true;
    } catch (err) {
      if (isNotFound(err)) return false;
      throw err;
    }
  }

  /** Delete store `name` and a leftover compaction copy of it (`<name>.compact`). Throws for a name that is not a store's. */
  async remove(name: string): Promise<void> {
    if (!/^[^/.][^/]*\.git$/.test(name)) throw new Error(`not a store name: ${name}`);
    const gitdir = path.join(this.dir, name);
    await this.git.withStoreRemoved(gitdir, async () => {
      await rm(`${gitdir}.compact`, { recursive: true, force: true });
      await rm(gitdir, { recursive: true, force: true });
    });
  }
}
