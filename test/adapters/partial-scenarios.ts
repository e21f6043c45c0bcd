/**
 * The partial-fetch scenarios (src/adapters/git/partial/) every transport must pass, against a real
 * upstream made here (git CLI) and checked with the git CLI and isomorphic-git. Not a test file:
 * test/git-partial-{local,http,ssh}.test.ts call {@link partialScenarios} with their transport.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import fs from 'node:fs';
import { readdir } from 'node:fs/promises';
import path from 'node:path';
import isogit from 'isomorphic-git';
import { fetchFiltered, fetchObjects, isPartialStore, ObjectFetchError } from '../../src/adapters/git/partial/index.js';
import { BranchNotFoundError } from '../../src/adapters/git/store-refs.js';
import { TRANSPORT_CHANNEL, type TransportEvent } from '../../src/adapters/git/transport/pipe.js';
import type { SourceRef } from '../../src/ports/git.js';
import { git, makeBare, WorkClone } from '../rig/repo.js';

/** What a transport's test file gives the scenarios. */
export interface PartialRig {
  /** A temp dir for upstreams and stores (set by the file's `before`). */
  tmp(): string;
  /** The source fetching the bare repository at `bare` over this transport. */
  source(bare: string): SourceRef;
  /** Requests the transport made during `fn`, when it can count them (http: the server's log). */
  requests?<T>(fn: () => Promise<T>): Promise<{ value: T; gets: number; posts: number }>;
}

/** For {@link PartialRig.requests} of SSH and local upstreams: the PipeTransport's requests and processes during `fn`. */
export async function pipeRequests<T>(fn: () => Promise<T>): Promise<{ value: T; gets: number; posts: number; spawns: number }> {
  const seen: TransportEvent[] = [];
  const on = (m: unknown) => seen.push(m as TransportEvent);
  subscribe(TRANSPORT_CHANNEL, on);
  try {
    const value = await fn();
    const count = (method: string) => seen.filter((e) => e.event === 'request' && e.method === method).length;
    return { value, gets: count('GET'), posts: count('POST'), spawns: seen.filter((e) => e.event === 'spawn').length };
  } finally {
    unsubscribe(TRANSPORT_CHANNEL, on);
  }
}

/** Options of the fetches: a generous idle timeout, notices collected. */
export function opts(notices: string[] = []) {
  return { idleTimeoutMs: 30_000, onNotice: (msg: string, data: object) => notices.push(`${msg} ${JSON.stringify(data)}`) };
}

const BIG = randomBytes(64 * 1024).toString('base64'); // incompressible: its absence shows in the bytes

/** An upstream with two commits (small text files under a/, a big file under b/) and allowFilter as asked. */
export async function upstream(rig: PartialRig, name: string, allowFilter = true): Promise<{ bare: string; work: WorkClone; head: string }> {
  const bare = path.join(rig.tmp(), `${name}.git`);
  await makeBare(bare, { 'a/x.txt': 'x one\n', 'a/y.txt': 'y one\n', 'b/big.txt': BIG });
  await git(['config', 'uploadpack.allowFilter', String(allowFilter)], { cwd: bare });
  const work = await WorkClone.open(bare, path.join(rig.tmp(), `${name}-work`));
  await work.write('a/x.txt', 'x two\n');
  await work.write('b/big.txt', `${BIG}2`);
  await work.commit('second');
  await work.push();
  return { bare, work, head: await work.head() };
}

/** Object ids by type of `git rev-list --objects <revs>` in `gitdir`. */
export async function reachable(gitdir: string, ...revs: string[]): Promise<Record<'commit' | 'tree' | 'blob', Set<string>>> {
  const ids = (await git(['--git-dir', gitdir, 'rev-list', '--objects', ...revs])).split('\n').filter(Boolean).map((l) => l.slice(0, 40));
  const typed = await git(['--git-dir', gitdir, 'cat-file', '--batch-check=%(objectname) %(objecttype)'], { input: ids.join('\n') + '\n' });
  return byType(typed);
}

/** Object ids by type of the objects the store `gitdir` holds itself (no lazy fetch). */
export async function local(gitdir: string): Promise<Record<'commit' | 'tree' | 'blob', Set<string>>> {
  return byType(await git(['--git-dir', gitdir, 'cat-file', '--batch-all-objects', '--batch-check=%(objectname) %(objecttype)']));
}

function byType(lines: string): Record<'commit' | 'tree' | 'blob', Set<string>> {
  const out = { commit: new Set<string>(), tree: new Set<string>(), blob: new Set<string>() };
  for (const l of lines.split('\n').filter(Boolean)) {
    const [id, type] = l.split(' ');
    if (type === 'commit' || type === 'tree' || type === 'blob') out[type].add(id!);
  }
  return out;
}

/** Objects `git rev-list --missing=print` reports missing from the store (never fetches). */
export async function missing(gitdir: string, rev: string): Promise<Set<string>> {
  const out = await git(['--git-dir', gitdir, 'rev-list', '--objects', '--missing=print', rev]);
  return new Set(out.split('\n').filter((l) => l.startsWith('?')).map((l) => l.slice(1)));
}

/** The blob id of `file` at `commit` in `gitdir`. */
export async function blobOf(gitdir: string, commit: string, file: string): Promise<string> {
  return (await git(['--git-dir', gitdir, 'rev-parse', `${commit}:${file}`])).trim();
}

/** Names of the pack files of a store. */
export async function packFiles(gitdir: string): Promise<string[]> {
  return (await readdir(path.join(gitdir, 'objects', 'pack')).catch(() => [])).sort();
}

/** Register the scenarios for one transport (`label` names it in the test titles). */
export function partialScenarios(label: string, rig: PartialRig, skip: string | false): void {
  test(`${label}: a filtered fetch brings commits and trees but no blob; fetchObjects brings exactly the blobs asked; git and isomorphic-git read the store`, { skip }, async () => {
    const up = await upstream(rig, `${label}-basic`);
    const store = path.join(rig.tmp(), `${label}-basic-store`);
    const src = rig.source(up.bare);
    const tip = await fetchFiltered(store, src, opts());
    assert.equal(tip, up.head);
    assert.equal(await isPartialStore(store), true);
    assert.equal((await git(['--git-dir', store, 'config', 'extensions.partialclone'])).trim(), 'origin');
    assert.equal((await git(['--git-dir', store, 'config', 'remote.origin.promisor'])).trim(), 'true');
    assert.equal((await git(['--git-dir', store, 'config', 'remote.origin.partialclonefilter'])).trim(), 'blob:none');
    const want = await reachable(up.bare, up.head);
    const have = await local(store);
    assert.deepEqual(have.commit, want.commit, 'every commit');
    assert.deepEqual(have.tree, want.tree, 'every tree');
    assert.equal(have.blob.size, 0, 'no blob');
    assert.deepEqual(await missing(store, 'main'), want.blob, 'git sees every blob as promised (missing)');
    const packs = (await packFiles(store)).filter((f) => f.endsWith('.promisor'));
    assert.equal(packs.length, 1);
    assert.equal(fs.readFileSync(path.join(store, 'objects', 'pack', packs[0]!), 'utf8'), `${tip} refs/heads/main\n`, 'git\'s .promisor format');

    const asked = [await blobOf(store, tip!, 'a/x.txt'), await blobOf(store, tip!, 'a/y.txt')];
    const { bytes } = await fetchObjects(store, src, asked, opts());
    assert.deepEqual((await local(store)).blob, new Set(asked), 'exactly the blobs asked');
    assert.ok(bytes > 0 && bytes < 16 * 1024, `the big blob did not come (${bytes} bytes)`);
    await git(['--git-dir', store, 'fsck', '--no-progress']); // throws unless exit 0
    assert.deepEqual((await git(['--git-dir', store, 'log', '--format=%H', 'main'])).split('\n').filter(Boolean), (await git(['--git-dir', up.bare, 'log', '--format=%H', 'main'])).split('\n').filter(Boolean));
    assert.equal(await git(['--git-dir', store, 'show', `${tip}:a/x.txt`]), 'x two\n');

    const commit = await isogit.readCommit({ fs, gitdir: store, oid: tip! });
    assert.equal(commit.commit.message, 'second\n');
    const tree = await isogit.readTree({ fs, gitdir: store, oid: tip!, filepath: 'a' });
    assert.deepEqual(tree.tree.map((e) => e.path).sort(), ['x.txt', 'y.txt']);
    const blob = await isogit.readBlob({ fs, gitdir: store, oid: tip!, filepath: 'a/y.txt' });
    assert.equal(Buffer.from(blob.blob).toString(), 'y one\n');
    await assert.rejects(isogit.readBlob({ fs, gitdir: store, oid: tip!, filepath: 'b/big.txt' }), /not found|Could not find/i, 'a blob not fetched is absent');
  });

  test(`${label}: nothing new downloads nothing; after a new upstream commit only its commit and trees come`, { skip }, async () => {
    const up = await upstream(rig, `${label}-again`);
    const store = path.join(rig.tmp(), `${label}-again-store`);
    const src = rig.source(up.bare);
    await fetchFiltered(store, src, opts());
    const before = await packFiles(store);
    const objectsBefore = await local(store);
    if (rig.requests) {
      const r = await rig.requests(() => fetchFiltered(store, src, opts()));
      assert.equal(r.value, up.head);
      // https reuses the capabilities it was advertised (stateless POSTs); a pipe reads them with each process
      assert.deepEqual([r.gets, r.posts], [label === 'https' ? 0 : 1, 1], 'ls-refs only (and a pipe process\'s advertisement)');
    } else {
      assert.equal(await fetchFiltered(store, src, opts()), up.head);
    }
    assert.deepEqual(await packFiles(store), before, 'no pack written');

    await up.work.write('a/new.txt', 'new\n');
    const next = await up.work.commit('third');
    await up.work.push();
    assert.equal(await fetchFiltered(store, src, opts()), next);
    const after = await local(store);
    const added = (k: 'commit' | 'tree' | 'blob') => new Set([...after[k]].filter((o) => !objectsBefore[k].has(o)));
    const fresh = await reachable(up.bare, next, `^${up.head}`);
    assert.deepEqual(added('commit'), new Set([next]), 'only the new commit');
    assert.deepEqual(added('tree'), fresh.tree, 'only the new trees');
    assert.equal(added('blob').size, 0, 'no blob');
    assert.equal((await packFiles(store)).filter((f) => f.endsWith('.pack')).length, 2);
    await git(['--git-dir', store, 'fsck', '--no-progress']);

    // a force-push back to a commit the store has: the server sends an empty pack, only the ref moves
    await up.work.git('push', '--quiet', '--force', 'origin', `${up.head}:refs/heads/main`);
    const packsNow = await packFiles(store);
    assert.equal(await fetchFiltered(store, src, opts()), up.head);
    assert.equal((await git(['--git-dir', store, 'rev-parse', 'refs/heads/main'])).trim(), up.head);
    assert.deepEqual(await packFiles(store), packsNow, 'an empty pack is not installed');
  });

  test(`${label}: an upstream without uploadpack.allowFilter gives undefined (fallback) and writes nothing`, { skip }, async () => {
    const up = await upstream(rig, `${label}-nofilter`, false);
    const store = path.join(rig.tmp(), `${label}-nofilter-store`);
    const notices: string[] = [];
    assert.equal(await fetchFiltered(store, rig.source(up.bare), opts(notices)), undefined);
    assert.equal(fs.existsSync(store), false, 'no store made');
    assert.equal(notices.length, 1);
    assert.match(notices[0]!, /upstream cannot filter.*allowFilter/);
  });

  test(`${label}: a missing branch throws BranchNotFoundError; an object the upstream lacks throws ObjectFetchError naming the count`, { skip }, async () => {
    const up = await upstream(rig, `${label}-errors`);
    const store = path.join(rig.tmp(), `${label}-errors-store`);
    await assert.rejects(fetchFiltered(store, { ...rig.source(up.bare), branch: 'nope' }, opts()), BranchNotFoundError);
    await fetchFiltered(store, rig.source(up.bare), opts());
    const err = await fetchObjects(store, rig.source(up.bare), ['0123456789012345678901234567890123456789'], opts()).then(() => undefined, (e: unknown) => e);
    assert.ok(err instanceof ObjectFetchError, String(err));
    assert.match(err.message, /cannot fetch 1 missing object from /);
    assert.deepEqual(await packFiles(store), (await packFiles(store)).filter((f) => !f.startsWith('.')), 'no temp left');
  });
}
