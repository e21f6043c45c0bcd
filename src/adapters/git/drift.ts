/**
 * Drift of a checkout (for `IsoGit.drift`): the paths under the links whose work-tree content differs
 * from the deployed commit. One isomorphic-git `walk` over the index (STAGE) and the work tree
 * (WORKDIR), pruned to the links, compared with the deployed tree listed from the store.
 *
 * A file whose stat (mode, mtime, ctime, uid, gid, inode, size) equals its index entry is taken to
 * have the index's object id without being read, unless it is "racily clean": modified no earlier
 * than the index file was written, when an edit in the same timestamp tick would leave the stat
 * unchanged (git's rule, Documentation/technical/racy-git.txt). Only such files and files whose stat
 * changed are hashed (WORKDIR's `oid()`, which also refreshes the index entry
 * when the content turns out unchanged). Asking WORKDIR for every file's id instead cost a lock and an
 * index lookup per file (bench: drift was ~3.6 ms per service, most of a full pass).
 */
import fs from 'node:fs';
import path from 'node:path';
import git, { type WalkerEntry } from 'isomorphic-git';
import type { Pass } from './object-cache.js';
import { entryAt, listTree } from './trees.js';
import { isoFs } from './iso-fs.js';

/**
 * Sorted repository paths under `links` that differ between the work tree of the checkout at `dir`
 * and commit `head` of the store `store`: modified, deleted, or added and not ignored (`.gitignore`
 * files of the commit, `.git/info/exclude`), as `git status` reports them. Paths in `exclude` (the
 * decrypted secrets, `secrets-drift.ts`) are neither read nor reported. Call under the checkout's
 * lock (the walk may refresh stat data in the index).
 */
export async function workTreeDrift(dir: string, links: readonly string[], store: string, head: string, pass: Pass, exclude: ReadonlySet<string> = new Set()): Promise<string[]> {
  const deployed = new Map<string, string>();
  for (const link of links) {
    const e = await entryAt(store, head, link, pass);
    if (e?.type === 'tree') await listTree(store, link, e.oid, pass, deployed);
    else if (e) deployed.set(link, e.oid);
  }
  const inScope = (p: string) => p === '.' || links.some((l) => p === l || p.startsWith(`${l}/`) || l.startsWith(`${p}/`));
  const work = new Map<string, string>();
  const index = await fs.promises.stat(path.join(dir, '.git', 'index'), { bigint: true }).catch(() => undefined);
  await git.walk({
    fs: isoFs,
    dir,
    gitdir: path.join(dir, '.git'),
    cache: pass.cache,
    trees: [git.STAGE(), git.WORKDIR()],
    map: async (filepath, [stage, wt]) => {
      if (!inScope(filepath) || exclude.has(filepath)) return null; // prune: never descend outside the links
      if (wt && (await wt.type()) === 'blob') {
        const oid = stage && (await stage.type()) === 'blob' && (await sameStat(stage, wt)) && !(await racy(wt, index)) ? await stage.oid() : await wt.oid();
        if (oid !== undefined) work.set(filepath, oid);
      }
      return undefined;
    },
  });
  const out = new Set<string>();
  for (const [p, oid] of deployed) if (work.get(p) !== oid) out.add(p);
  const gitdir = path.join(dir, '.git');
  for (const p of work.keys()) {
    // a file the commit lacks is drift unless .gitignore (or .git/info/exclude) ignores it: files a
    // service or an operator keeps beside the tracked ones on purpose are never reported nor reverted
    if (!deployed.has(p) && !(await git.isIgnored({ fs: isoFs, dir, gitdir, filepath: p }))) out.add(p);
  }
  return [...out].sort();
}

/** True when the file was modified no earlier than the index was written (git's "racily clean"), or the index's time is unknown. */
async function racy(wt: WalkerEntry, index: fs.BigIntStats | undefined): Promise<boolean> {
  if (!index) return true;
  const st = await wt.stat();
  const fileNs = BigInt(st.mtimeSeconds) * 1_000_000_000n + BigInt(st.mtimeNanoseconds);
  return fileNs >= index.mtimeNs;
}

/** True when the index entry's stat data equals the file's (both as isomorphic-git normalises them). */
async function sameStat(stage: WalkerEntry, wt: WalkerEntry): Promise<boolean> {
  const [a, b] = await Promise.all([stage.stat(), wt.stat()]);
  return (
    a.mode === b.mode &&
    a.mtimeSeconds === b.mtimeSeconds &&
    a.mtimeNanoseconds === b.mtimeNanoseconds &&
    a.ctimeSeconds === b.ctimeSeconds &&
    a.ctimeNanoseconds === b.ctimeNanoseconds &&
    a.uid === b.uid &&
    a.gid === b.gid &&
    a.ino === b.ino &&
    a.size === b.size
  );
}

/**
 * The paths among `paths` (repository-relative) whose file in the checkout at `dir` has the content
 * of `commit` in the store `store` (blob ids compared; a symlink by its target; absent on both sides
 * counts as equal), sorted. Reads only those files.
 */
export async function matchingCommit(dir: string, store: string, commit: string, paths: readonly string[], pass: Pass): Promise<string[]> {
  const out: string[] = [];
  for (const p of paths) {
    const entry = await entryAt(store, commit, p, pass);
    const file = path.join(dir, p);
    const st = await fs.promises.lstat(file).catch(() => undefined);
    let oid: string | undefined;
    if (st?.isSymbolicLink()) oid = (await git.hashBlob({ object: Buffer.from(await fs.promises.readlink(file)) })).oid;
    else if (st?.isFile()) oid = (await git.hashBlob({ object: await fs.promises.readFile(file) })).oid;
    if (st?.isDirectory()) continue; // a directory where the commit has a file (or the reverse): not equal
    if (entry === undefined ? st === undefined : entry.type === 'blob' && entry.oid === oid) out.push(p);
  }
  return out.sort();
}
