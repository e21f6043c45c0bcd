/**
 * Giving a tree of files to a service's user. Uses lchown(2) only: a symlink is re-owned itself and
 * never followed, so a repository symlink pointing outside (say at /etc/shadow) cannot hand its
 * target to the service user.
 */
import fs from 'node:fs';
import { lstat, readdir } from 'node:fs/promises';
import path from 'node:path';
import type { Owner } from '../../ports/host.js';

/** lchown `p` and, for a directory, everything below it (no symlink is followed). A missing `p` is ignored. */
export async function chownTree(p: string, owner: Owner): Promise<void> {
  const st = await lstat(p).catch(() => undefined);
  if (!st) return;
  await fs.promises.lchown(p, owner.uid, owner.gid);
  if (st.isDirectory()) for (const name of await readdir(p)) await chownTree(path.join(p, name), owner);
}
