/**
 * Partial clone end to end through IsoGit (src/adapters/git/iso-git.ts, on-demand.ts, partial/,
 * packs/), on real parts: git-http-backend on loopback with `uploadpack.allowFilter`, the git CLI to
 * look inside the store (`rev-list --missing=print`, `fsck`). A store holds commits and trees and only
 * the blobs that checkouts needed; a rollback fetches the blobs it lacks, what is present works
 * offline, concurrent checkouts share one request, compaction keeps what checkouts deployed, and an
 * upstream that cannot filter gets a whole-history fetch, said once.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { IsoGit, type IsoGitOptions } from '../src/adapters/git/iso-git.js';
import type { CheckoutRef, SourceRef } from '../src/ports/git.js';
import { git as cli, makeBare, WorkClone } from './rig/repo.js';
import { gitServersPerFile } from './adapters/git-helpers.js';

const servers = gitServersPerFile('git-on-demand');
let seq = 0;

type Notice = { msg: string; level: 'info' | 'warn'; data: Record<string, unknown> };

/** An upstream with `svc/etc` (the link) and `other/` (never checked out), two commits, an IsoGit. */
async function fixture(options: IsoGitOptions = {}, allowFilter = true) {
  const name = `od${++seq}`;
  const bare = path.join(servers.tmp, 'git', `${name}.git`);
  await makeBare(bare, { 'svc/etc/a.conf': 'a = 1\n', 'svc/etc/b.conf': 'b = 1\n', 'other/big.bin': 'x'.repeat(50_000), 'other/notes.txt': 'never needed\n' });
  if (!allowFilter) await cli(['config', 'uploadpack.allowFilter', 'false'], { cwd: bare });
  const work = await WorkClone.open(bare, path.join(servers.tmp, `${name}-work`));
  const first = await work.head();
  await work.write('svc/etc/a.conf', 'a = 2\n');
  await work.write('other/notes.txt', 'changed, still never needed\n');
  const second = await work.commit('second');
  await work.push();
  const notices: Notice[] = [];
  const g = new IsoGit(path.join(servers.tmp, `${name}-state`), (msg, data, level) => notices.push({ msg, level, data: data as Record<string, unknown> }), options);
  const src: SourceRef = { upstream: servers.server.url(`${name}.git`), branch: 'main', tokenFile: undefined };
  const co = (dir: string): CheckoutRef => ({ ...src, dir: path.join(servers.tmp, `${name}-${dir}`), links: ['svc/etc'] });
  return { bare, work, first, second, g, src, co, notices, store: g.storeOf(src.upstream) };
}

/** Object ids the store lacks, as git reports them (`rev-list --objects --missing=print`: lines `?<oid>`). */
async function missingInStore(store: string): Promise<Set<string>> {
  const out = await cli(['rev-list', '--objects', '--all', '--missing=print'], { cwd: store });
  return new Set(out.split('\n').filter((l) => l.startsWith('?')).map((l) => l.slice(1)));
}

/** The blob id of `file` at `commit` in the upstream. */
async function blobOf(bare: string, commit: string, file: string): Promise<string> {
  return (await cli(['rev-parse', `${commit}:${file}`], { cwd: bare })).trim();
}

const uploadPackPosts = (mark: number) => servers.server.countSince(mark, { method: 'POST', service: 'git-upload-pack' });

test('a first setup fetches commits and trees, then only the blobs under the links; the store is a partial clone git accepts', async () => {
  const f = await fixture();
  const tip = await f.g.fetch(f.src);
  assert.equal(tip, f.second);
  const co = f.co('co');
  await f.g.prepare(co, undefined);
  await f.g.checkout(co, await f.g.deployed(co), tip, undefined);
  assert.equal(await readFile(path.join(co.dir, 'svc/etc/a.conf'), 'utf8'), 'a = 2\n');
  const missing = await missingInStore(f.store);
  assert.ok(missing.has(await blobOf(f.bare, f.second, 'other/big.bin')), 'a blob outside the links was fetched');
  assert.ok(missing.has(await blobOf(f.bare, f.first, 'svc/etc/a.conf')), "the first commit's version of a.conf was fetched before anyone needed it");
  assert.ok(!missing.has(await blobOf(f.bare, f.second, 'svc/etc/a.conf')), 'the checked-out blob is not in the store');
  // git accepts the store: the promisor remote is recorded, fsck is clean, log and show work
  assert.equal((await cli(['config', 'remote.origin.promisor'], { cwd: f.store })).trim(), 'true');
  await cli(['fsck', '--no-progress'], { cwd: f.store });
  assert.match(await cli(['log', '--oneline', 'main'], { cwd: f.store }), /second/);
  assert.equal(await cli(['show', `${f.second}:svc/etc/b.conf`], { cwd: f.store }), 'b = 1\n');
  assert.equal(f.notices.filter((n) => /cannot filter/.test(n.msg)).length, 0);
});

test('a rollback fetches exactly the blobs it lacks; what is present works offline; what is not fails clearly and writes nothing', async () => {
  const f = await fixture();
  const tip = await f.g.fetch(f.src);
  const co = f.co('co');
  await f.g.prepare(co, undefined);
  await f.g.checkout(co, undefined, tip, undefined);
  const oldA = await blobOf(f.bare, f.first, 'svc/etc/a.conf');
  assert.ok((await missingInStore(f.store)).has(oldA));

  let mark = servers.server.mark();
  await f.g.checkout(co, tip, f.first, undefined); // the rollback
  assert.equal(uploadPackPosts(mark), 1, 'one request for the missing blobs');
  assert.equal(await readFile(path.join(co.dir, 'svc/etc/a.conf'), 'utf8'), 'a = 1\n');
  assert.ok(!(await missingInStore(f.store)).has(oldA));

  // a third commit is fetched (commits and trees) while the upstream is up, then it goes down
  await f.work.write('svc/etc/b.conf', 'b = 3\n');
  const third = await f.work.commit('third');
  await f.work.push();
  assert.equal(await f.g.fetch(f.src), third);
  servers.server.down();
  try {
    mark = servers.server.mark();
    await f.g.checkout(co, f.first, tip, undefined); // both versions are present: no request
    assert.equal(await readFile(path.join(co.dir, 'svc/etc/a.conf'), 'utf8'), 'a = 2\n');
    assert.equal(servers.server.countSince(mark), 0);
    await assert.rejects(f.g.checkout(co, tip, third, undefined), /are not in the store yet and fetching them failed/);
    assert.equal(await readFile(path.join(co.dir, 'svc/etc/b.conf'), 'utf8'), 'b = 1\n', 'the failed checkout changed a file');
    assert.equal(await f.g.deployed(co), tip);
  } finally {
    servers.server.up();
  }
  await f.g.checkout(co, tip, third, undefined);
  assert.equal(await readFile(path.join(co.dir, 'svc/etc/b.conf'), 'utf8'), 'b = 3\n');
  await cli(['fsck', '--no-progress'], { cwd: f.store });
});

test('concurrent checkouts of one store share their blob requests', async () => {
  const f = await fixture();
  const tip = await f.g.fetch(f.src);
  const cos = Array.from({ length: 8 }, (_, i) => f.co(`co${i}`));
  for (const co of cos) await f.g.prepare(co, undefined);
  const mark = servers.server.mark();
  await Promise.all(cos.map((co) => f.g.checkout(co, undefined, tip, undefined)));
  const posts = uploadPackPosts(mark);
  assert.ok(posts >= 1 && posts <= 2, `8 checkouts made ${posts} blob requests`);
  for (const co of cos) assert.equal(await readFile(path.join(co.dir, 'svc/etc/a.conf'), 'utf8'), 'a = 2\n');
});

test('compaction keeps the blobs checkouts deployed: drift is restored offline afterwards', async () => {
  const f = await fixture({ compactAbove: 2, compactGraceMs: 0 });
  const co = f.co('co');
  let tip = await f.g.fetch(f.src);
  await f.g.prepare(co, undefined);
  await f.g.checkout(co, undefined, tip, undefined);
  for (let i = 0; i < 3; i++) {
    await f.work.write('other/notes.txt', `round ${i}\n`);
    await f.work.commit(`round ${i}`);
    await f.work.push();
    const next = await f.g.fetch(f.src);
    await f.g.markDeployed(co, next); // a change outside the links
    tip = next;
  }
  await f.g.settle();
  await f.g.fetch(f.src); // swaps the compacted copy in
  await f.g.fetch(f.src); // deletes the packs it replaced (grace 0)
  assert.ok(f.notices.some((n) => n.msg === 'object store compacted'), JSON.stringify(f.notices));
  await cli(['fsck', '--no-progress'], { cwd: f.store });
  servers.server.down();
  try {
    await (await import('node:fs/promises')).writeFile(path.join(co.dir, 'svc/etc/a.conf'), 'edited by hand\n');
    assert.deepEqual(await f.g.drift(co, tip), ['svc/etc/a.conf']);
    await f.g.restore(co, tip, ['svc/etc/a.conf'], undefined);
    assert.equal(await readFile(path.join(co.dir, 'svc/etc/a.conf'), 'utf8'), 'a = 2\n');
  } finally {
    servers.server.up();
  }
});

test('an upstream that cannot filter gets the whole history, said once', async () => {
  const f = await fixture({}, false);
  const tip = await f.g.fetch(f.src);
  await f.work.write('svc/etc/b.conf', 'b = 2\n');
  await f.work.commit('more');
  await f.work.push();
  await f.g.fetch(f.src);
  const co = f.co('co');
  await f.g.prepare(co, undefined);
  await f.g.checkout(co, undefined, tip, undefined);
  assert.equal((await missingInStore(f.store)).size, 0, 'the store lacks objects');
  const said = f.notices.filter((n) => /cannot filter/.test(n.msg));
  assert.equal(said.length, 1, JSON.stringify(f.notices));
  assert.equal(said[0]!.level, 'warn');
  await cli(['fsck', '--no-progress'], { cwd: f.store });
});
