/**
 * Reading and comparing the trees of commits in a checkout's object store, for `git.ts`: the entry at a
 * path, the paths that differ between two commits, and the paths that change kind (file <-> directory).
 */
import fs from 'node:fs';
import path from 'node:path';
import git from 'isomorphic-git';
import type { Pass } from '../ports.js';

/** A tree entry as isomorphic-git reports it. */
export interface Entry {
  readonly oid: string;
  readonly type: string;
  /** Git file mode, e.g. `100644`, `100755`, `040000`. */
  readonly mode?: string;
}

/** The tree entry at `filepath` in `commit`, or undefined when absent. */
export async function entryAt(gitdir: string, commit: string, filepath: string, pass: Pass): Promise<Entry | undefined> {
  const parent = path.posix.dirname(filepath);
  const base = path.posix.basename(filepath);
  try {
    const { tree } = await git.readTree({ fs, gitdir, oid: commit, ...(parent === '.' ? {} : { filepath: parent }), cache: pass.cache });
    const e = tree.find((t) => t.path === base);
    return e ? { oid: e.oid, type: e.type, mode: e.mode } : undefined;
  } catch (err) {
    if ((err as { code?: string }).code === 'NotFoundError') return undefined;
    throw err;
  }
}

/** Append to `out` the paths under `prefix` that differ between entries `a` and `b`, descending only into unequal trees. */
export async function diffEntries(gitdir: string, prefix: string, a: Entry | undefined, b: Entry | undefined, pass: Pass, out: string[]): Promise<void> {
  if (a?.oid === b?.oid && a?.type === b?.type) return;
  if (a?.type === 'tree' && b?.type === 'tree') {
    const [ta, tb] = await Promise.all([readTreeOid(gitdir, a.oid, pass), readTreeOid(gitdir, b.oid, pass)]);
    const names = [...new Set([...ta.keys(), ...tb.keys()])].sort();
    for (const name of names) await diffEntries(gitdir, `${prefix}/${name}`, ta.get(name), tb.get(name), pass, out);
    return;
  }
  // added, removed, or a change of kind (blob <-> tree): every path on either side changed
  const paths = new Map<string, string>();
  for (const e of [a, b]) {
    if (e?.type === 'tree') await listTree(gitdir, prefix, e.oid, pass, paths);
    else if (e) paths.set(prefix, e.oid);
  }
  out.push(...[...paths.keys()].sort());
}

/** Append to `out` the paths under `prefix` that are a file in `a` and a directory in `b`, or the reverse. */
export async function kindChanges(gitdir: string, prefix: string, a: Entry | undefined, b: Entry, pass: Pass, out: string[]): Promise<void> {
  if (!a || a.oid === b.oid) return;
  if (a.type !== b.type) {
    out.push(prefix);
    return;
  }
  if (a.type !== 'tree') return;
  const [ta, tb] = await Promise.all([readTreeOid(gitdir, a.oid, pass), readTreeOid(gitdir, b.oid, pass)]);
  for (const [name, e] of tb) await kindChanges(gitdir, `${prefix}/${name}`, ta.get(name), e, pass, out);
}

/** Set in `out` every non-tree path below `prefix` in tree `oid` to its object id (blobs, symlinks, submodule commits). */
export async function listTree(gitdir: string, prefix: string, oid: string, pass: Pass, out: Map<string, string>): Promise<void> {
  for (const [name, e] of await readTreeOid(gitdir, oid, pass)) {
    if (e.type === 'tree') await listTree(gitdir, `${prefix}/${name}`, e.oid, pass, out);
    else out.set(`${prefix}/${name}`, e.oid);
  }
}

/** Tree `oid` as name → entry. */
export async function readTreeOid(gitdir: string, oid: string, pass: Pass): Promise<Map<string, Entry>> {
  const { tree } = await git.readTree({ fs, gitdir, oid, cache: pass.cache });
  return new Map(tree.map((t) => [t.path, { oid: t.oid, type: t.type, mode: t.mode }]));
}
