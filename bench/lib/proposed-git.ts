/**
 * The fixes this bench recommends for `src/adapters/git.ts`, as a subclass of IsoGit so their effect
 * is measured in the same run ("proposed" rows). Not used by the daemon. What changes:
 *
 * 1. fetch: one `GET info/refs` (`git.listServerRefs`, protocol v1) first; when the remote tip equals
 *    the store's `refs/heads/<branch>` nothing else is asked (no upload-pack POST, no pack written).
 *    After a real fetch the store's `refs/heads/<branch>` is set to the tip, so isomorphic-git sends
 *    it as a `have` next time (it resolves haves from `ref` = the branch name, which never matched
 *    `refs/remotes/origin/<branch>`): the server then sends only new objects instead of the whole
 *    history again.
 * 2. Object reads go through the store's gitdir, not `<checkout>/.git` (a symlink to the same
 *    objects): isomorphic-git keys its pack cache by path, so each checkout re-read and re-parsed
 *    the `.idx` and the whole `.pack` once per pass. deployed() and changedPaths() read via the store.
 * 3. drift(): `walk([STAGE(), WORKDIR()])` in the checkout (stat against the index, hashing only files
 *    whose stat changed; reads no object) compared with the deployed tree read from the store,
 *    instead of statusMatrix (whose TREE walker reads objects through the checkout's path).
 * 6. (with `compactAbove`) when a fetch leaves more packs than that, a fresh one-pack store is made
 *    by a child process (`compact-child.ts`), its pack moved in, and the old packs deleted.
 */
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import { readdir, rename, rm } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import git from 'isomorphic-git';
import http from 'isomorphic-git/http/node';
import { IsoGit } from '../../src/adapters/git.js';
import type { CheckoutRef, Pass, SourceRef } from '../../src/ports.js';
import { KeyedLock } from '../../src/serial.js';
import { ROOT } from './util.js';

const run = promisify(execFile);

interface Entry {
  readonly oid: string;
  readonly type: string;
}

export class ProposedGit extends IsoGit {
  private readonly storeLock = new KeyedLock();
  /** Requests saved: fetches answered by the ref advertisement alone. */
  shortcuts = 0;
  /** Number of compactions done. */
  compactions = 0;

  constructor(stateDir: string, private readonly compactAbove = 0) {
    super(stateDir);
  }

  override async fetch(source: SourceRef, pass: Pass): Promise<string> {
    const gitdir = this.storeOf(source.upstream);
    const branchRef = `refs/heads/${source.branch}`;
    const local = await git.resolveRef({ fs, gitdir, ref: branchRef }).catch(() => undefined);
    if (local !== undefined && /^https?:/.test(source.upstream) && source.tokenFile === undefined) {
      const refs = await git.listServerRefs({ http, url: source.upstream, prefix: branchRef, protocolVersion: 1 });
      const remote = refs.find((r) => r.ref === branchRef)?.oid;
      if (remote === local) {
        this.shortcuts++;
        return local;
      }
    }
    const tip = await super.fetch(source, pass);
    await this.storeLock.run(gitdir, async () => {
      await git.writeRef({ fs, gitdir, ref: branchRef, value: tip, force: true });
      if (this.compactAbove > 0) await this.compact(source, gitdir);
    });
    return tip;
  }

  /** Fix 6: more than `compactAbove` packs → one fresh pack made in a child process; new pack in first, old ones out after. */
  private async compact(source: SourceRef, gitdir: string): Promise<void> {
    const packDir = path.join(gitdir, 'objects', 'pack');
    const old = (await readdir(packDir)).filter((f) => f.endsWith('.pack') || f.endsWith('.idx'));
    if (old.filter((f) => f.endsWith('.pack')).length <= this.compactAbove) return;
    const tmp = `${gitdir}.compact`;
    await rm(tmp, { recursive: true, force: true });
    await run(process.execPath, [path.join(ROOT, 'dist', 'bench', 'compact-child.js'), source.upstream, source.branch, tmp]);
    const fresh = (await readdir(path.join(tmp, 'objects', 'pack'))).sort((a, b) => (a.endsWith('.pack') ? 0 : 1) - (b.endsWith('.pack') ? 0 : 1));
    for (const f of fresh) await rename(path.join(tmp, 'objects', 'pack', f), path.join(packDir, f)); // .pack before .idx: readers look up .idx
    for (const f of old.filter((x) => !fresh.includes(x)).sort((a, b) => (a.endsWith('.idx') ? 0 : 1) - (b.endsWith('.idx') ? 0 : 1))) await rm(path.join(packDir, f), { force: true });
    await rm(tmp, { recursive: true, force: true });
    this.compactions++;
  }

  override async deployed(co: CheckoutRef, pass: Pass): Promise<string | undefined> {
    let oid: string;
    try {
      oid = await git.resolveRef({ fs, gitdir: path.join(co.dir, '.git'), ref: 'HEAD' });
    } catch {
      return undefined;
    }
    try {
      await git.readCommit({ fs, gitdir: this.storeOf(co.upstream), oid, cache: pass.cache });
    } catch {
      return undefined;
    }
    return oid;
  }

  override async changedPaths(co: CheckoutRef, from: string, to: string, pass: Pass): Promise<string[]> {
    const store = this.storeOf(co.upstream);
    const out: string[] = [];
    for (const link of co.links) {
      const [a, b] = await Promise.all([entryAt(store, from, link, pass), entryAt(store, to, link, pass)]);
      await diffEntries(store, link, a, b, pass, out);
    }
    return out;
  }

  override async drift(co: CheckoutRef, pass: Pass): Promise<string[]> {
    const head = await this.deployed(co, pass);
    if (head === undefined) return [];
    const store = this.storeOf(co.upstream);
    const deployed = new Map<string, string>();
    for (const link of co.links) {
      const e = await entryAt(store, head, link, pass);
      if (e?.type === 'tree') await listTree(store, link, e.oid, pass, deployed);
      else if (e) deployed.set(link, e.oid);
    }
    const worth = (p: string) => p === '.' || co.links.some((l) => p === l || p.startsWith(`${l}/`) || l.startsWith(`${p}/`));
    const work = new Map<string, string>();
    await git.walk({
      fs,
      dir: co.dir,
      gitdir: path.join(co.dir, '.git'),
      cache: pass.cache,
      trees: [git.STAGE(), git.WORKDIR()],
      map: async (filepath, [, wt]) => {
        if (!worth(filepath)) return null;
        if (!wt || (await wt.type()) !== 'blob') return undefined;
        work.set(filepath, await wt.oid());
        return undefined;
      },
    });
    const out = new Set<string>();
    for (const [p, oid] of deployed) if (work.get(p) !== oid) out.add(p);
    for (const p of work.keys()) if (!deployed.has(p)) out.add(p);
    return [...out].sort();
  }
}

async function entryAt(gitdir: string, commit: string, filepath: string, pass: Pass): Promise<Entry | undefined> {
  const parent = path.posix.dirname(filepath);
  const base = path.posix.basename(filepath);
  try {
    const { tree } = await git.readTree({ fs, gitdir, oid: commit, ...(parent === '.' ? {} : { filepath: parent }), cache: pass.cache });
    const e = tree.find((t) => t.path === base);
    return e ? { oid: e.oid, type: e.type } : undefined;
  } catch (err) {
    if ((err as { code?: string }).code === 'NotFoundError') return undefined;
    throw err;
  }
}

async function readTreeOid(gitdir: string, oid: string, pass: Pass): Promise<Map<string, Entry>> {
  const { tree } = await git.readTree({ fs, gitdir, oid, cache: pass.cache });
  return new Map(tree.map((t) => [t.path, { oid: t.oid, type: t.type }]));
}

async function listTree(gitdir: string, prefix: string, oid: string, pass: Pass, out: Map<string, string>): Promise<void> {
  for (const [name, e] of await readTreeOid(gitdir, oid, pass)) {
    if (e.type === 'tree') await listTree(gitdir, `${prefix}/${name}`, e.oid, pass, out);
    else out.set(`${prefix}/${name}`, e.oid);
  }
}

async function diffEntries(gitdir: string, prefix: string, a: Entry | undefined, b: Entry | undefined, pass: Pass, out: string[]): Promise<void> {
  if (a?.oid === b?.oid && a?.type === b?.type) return;
  if (a?.type === 'tree' && b?.type === 'tree') {
    const [ta, tb] = await Promise.all([readTreeOid(gitdir, a.oid, pass), readTreeOid(gitdir, b.oid, pass)]);
    for (const name of [...new Set([...ta.keys(), ...tb.keys()])].sort()) await diffEntries(gitdir, `${prefix}/${name}`, ta.get(name), tb.get(name), pass, out);
    return;
  }
  const paths = new Map<string, string>();
  for (const e of [a, b]) {
    if (e?.type === 'tree') await listTree(gitdir, prefix, e.oid, pass, paths);
    else if (e) paths.set(prefix, e.oid);
  }
  out.push(...[...paths.keys()].sort());
}
