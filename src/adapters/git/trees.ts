/**
 * Reading and comparing the trees of commits in a checkout's object store, for `git.ts`: the entry at a
 * path, the paths that differ between two commits, and the paths that change kind (file <-> directory).
 *
 * Commit and tree reads are memoised for the pass (in `pass.cache`, beside isomorphic-git's own
 * entries, keyed by store and object id): services of one upstream share the commit and the trees
 * above their links, and each isomorphic-git object read costs a failed open of a loose object, a
 * listing of `objects/pack` and an inflate. Objects are immutable, so a memo can never be stale.
 */
import git from 'isomorphic-git';
import type { Pass } from './object-cache.js';
import { isoFs } from './iso-fs.js';

/** A tree entry as isomorphic-git reports it. */
export interface Entry {
  readonly oid: string;
  readonly type: string;
  /** Git file mode, e.g. `100644`, `100755`, `040000`. */
  readonly mode?: string;
}

const MEMO = Symbol('gitopper.git-trees');

interface Memo {
  readonly commits: Map<string, Promise<string>>;
  readonly trees: Map<string, Promise<Map<string, Entry>>>;
}

/** `key`'s value in `map`, computed once per pass; a failed computation is not kept. */
function once<T>(map: Map<string, Promise<T>>, key: string, compute: () => Promise<T>): Promise<T> {
  let p = map.get(key);
  if (!p) {
    p = compute();
    map.set(key, p);
    p.catch(() => map.delete(key));
  }
  return p;
}

function memo(pass: Pass): Memo {
  const cache = pass.cache as { [MEMO]?: Memo };
  return (cache[MEMO] ??= { commits: new Map(), trees: new Map() });
}

/**
 * The root tree id of `commit` in `gitdir` (memoised per pass).
 * @throws isomorphic-git's NotFoundError when the store lacks the commit, ObjectTypeError when it is no commit
 */
export function commitTree(gitdir: string, commit: string, pass: Pass): Promise<string> {
  return once(memo(pass).commits, `${gitdir}\0${commit}`, async () => (await git.readCommit({ fs: isoFs, gitdir, oid: commit, cache: pass.cache })).commit.tree);
}

/** The tree entry at `filepath` (repository-relative, `/`-separated) in `commit`, or undefined when there is none. */
export async function entryAt(gitdir: string, commit: string, filepath: string, pass: Pass): Promise<Entry | undefined> {
  let entry: Entry = { oid: await commitTree(gitdir, commit, pass), type: 'tree', mode: '040000' };
  for (const name of filepath.split('/').filter((x) => x !== '' && x !== '.')) {
    if (entry.type !== 'tree') return undefined; // a path through a file
    const next = (await readTreeOid(gitdir, entry.oid, pass)).get(name);
    if (!next) return undefined;
    entry = next;
  }
  return entry;
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

/** Tree `oid` as name → entry (memoised per pass: treat the map as read-only). */
export function readTreeOid(gitdir: string, oid: string, pass: Pass): Promise<Map<string, Entry>> {
  return once(memo(pass).trees, `${gitdir}\0${oid}`, async () => {
    const { tree } = await git.readTree({ fs: isoFs, gitdir, oid, cache: pass.cache });
    return new Map(tree.map((t) => [t.path, { oid: t.oid, type: t.type, mode: t.mode }]));
  });
}
