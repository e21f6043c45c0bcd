/**
 * IsoGit's object stores on real parts (git-http-backend on loopback, local upstreams, the git CLI to
 * check): a store's first fetch in a child process (src/adapters/git/fetch-child.ts, cmd/gitopper-fetch.ts),
 * pack compaction (git-compact.ts) and fetch timeouts (git-http.ts). No fakes.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { existsSync, readFileSync } from 'node:fs';
import { readdir, readFile, writeFile } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import git from 'isomorphic-git';
import fs from 'node:fs';
import { IsoGit, type IsoGitOptions } from '../src/adapters/git/iso-git.js';
import { CHILD_CHANNEL, childNodeOptions, type ChildEvent } from '../src/adapters/git/fetch-child.js';
import type { CheckoutRef, SourceRef } from '../src/ports/git.js';
import type { GitServer } from './rig/git-server.js';
import { git as cli, WorkClone } from './rig/repo.js';
import { CONFIG_REPO_COMMITS, makeConfigRepo } from './rig/config-repo.js';
import { commitsOf, gitServersPerFile, lsTree, packs, refuseFilter } from './adapters/git-helpers.js';
import { filesOf } from './adapters/tree.js';

const LINKS = ['grafana/etc', 'grafana/dashboards'];
const USER = 'gitopper';
const PASSWORD = 'tok-8d21c0aa-child-never-sees-argv';

let seq = 0;
let pushes = 0;

const servers = gitServersPerFile('adapter-git-store', { user: USER, password: PASSWORD });

type Notice = { msg: string; level: 'info' | 'warn'; data: Record<string, unknown> };

/** A fresh upstream (the gitopper-config history) served over HTTP, a clone to push to it, an IsoGit with `options`. */
async function fixture(options: IsoGitOptions, srv: () => GitServer = () => servers.server) {
  const name = `up${++seq}`;
  const bare = path.join(servers.tmp, 'git', `${name}.git`);
  const head = await makeConfigRepo(bare);
  const work = await WorkClone.open(bare, path.join(servers.tmp, `${name}-work`));
  const notices: Notice[] = [];
  const g = new IsoGit(path.join(servers.tmp, `${name}-state`), (msg, data, level) => notices.push({ msg, level, data: data as Record<string, unknown> }), { partialClone: false, ...options }); // the whole-history path
  const src: SourceRef = { upstream: srv().url(`${name}.git`), branch: 'main', tokenFile: undefined };
  const co = (dir: string, s: SourceRef = src): CheckoutRef => ({ ...s, dir: path.join(servers.tmp, `${name}-${dir}`), links: LINKS });
  return { name, bare, head, work, g, src, co, notices, store: g.storeOf(src.upstream) };
}

/** Child events published while `fn` runs; `cmdline`/`environ`: /proc of each child read as it started. */
async function children<T>(fn: () => Promise<T>) {
  const events: ChildEvent[] = [];
  const proc: Array<{ cmdline: string; environ: string }> = [];
  const on = (m: unknown) => {
    const e = m as ChildEvent;
    events.push(e);
    // fork returns after exec: /proc shows the child's own argv and environment
    if (e.event === 'spawn') proc.push({ cmdline: readFileSync(`/proc/${e.pid}/cmdline`, 'utf8'), environ: readFileSync(`/proc/${e.pid}/environ`, 'utf8') });
  };
  subscribe(CHILD_CHANNEL, on);
  try {
    const value = await Promise.resolve()
      .then(fn)
      .then((v): { v: T | undefined; err: unknown } => ({ v, err: undefined }), (err: unknown) => ({ v: undefined, err }));
    return { ...value, events, proc, spawns: events.filter((e) => e.event === 'spawn') };
  } finally {
    unsubscribe(CHILD_CHANNEL, on);
  }
}

/** Every commit of `bare`'s `ref` read by isomorphic-git from `store`. */
async function readAll(store: string, commits: readonly string[]): Promise<void> {
  const cache = {};
  for (const oid of commits) await git.readCommit({ fs, gitdir: store, oid, cache });
}

/** Wait for a background compaction, then fetch twice more (nothing new): the first swaps the fresh copy in, the second deletes the packs it replaced. */
async function settleAndSwap(f: Awaited<ReturnType<typeof fixture>>): Promise<void> {
  await f.g.settle();
  await f.g.fetch(f.src); // swaps the copy in
  await f.g.fetch(f.src); // deletes the retired packs (grace 0)
}

/** Push `n` commits (each one file under a link), fetching after each; returns the fetched tips. */
async function pushAndFetch(f: Awaited<ReturnType<typeof fixture>>, n: number, branch = 'main', src = f.src): Promise<string[]> {
  const tips: string[] = [];
  for (let i = 0; i < n; i++) {
    const k = ++pushes;
    await f.work.write(`grafana/etc/${branch}-${k}.ini`, `${branch} ${k}\n`);
    const c = await f.work.commit(`${branch} ${k}`);
    await f.work.push(branch);
    assert.equal(await f.g.fetch({ ...src, branch }), c);
    tips.push(c);
  }
  return tips;
}

test('first fetch runs in a child process: full history, fsck clean; later fetches stay in-process', async () => {
  const f = await fixture({ fetchInChild: true });
  const first = await children(() => f.g.fetch(f.src));
  assert.deepEqual(first, { ...first, v: f.head });
  assert.equal(first.spawns.length, 1, 'one child');
  const spawn = first.spawns[0]!;
  assert.ok(spawn.event === 'spawn' && spawn.pid !== undefined && spawn.pid !== process.pid, 'another process');
  const exit = first.events.find((e) => e.event === 'exit');
  assert.ok(exit?.event === 'exit' && exit.code === 0 && exit.reply?.ok === true && exit.reply.tips.main === f.head, 'the child fetched the tip and exited 0');
  assert.ok(exit.reply.ok && exit.reply.maxRssKiB > 0);
  assert.deepEqual(await commitsOf(f.store, f.head), await commitsOf(f.bare, 'main'), 'full history');
  await cli(['--git-dir', f.store, 'fsck', '--no-dangling', '--strict']);
  assert.deepEqual((await readdir(path.join(f.store, 'objects', 'pack'))).filter((x) => x.includes('.tmp-')), [], 'no temporary pack files');

  const [c1] = await pushAndFetch(f, 1);
  const idle = await children(() => f.g.fetch(f.src));
  assert.equal(idle.spawns.length, 0, 'an idle fetch spawns nothing');
  assert.deepEqual(idle, { ...idle, v: c1 });
  assert.equal(await packs(f.store), 2, 'the second fetch added one pack in-process');
});

test('a local upstream (pipe transport) is fetched in the child too', async () => {
  const f = await fixture({ fetchInChild: true });
  const src: SourceRef = { upstream: f.bare, branch: 'main', tokenFile: undefined };
  const r = await children(() => f.g.fetch(src));
  assert.deepEqual(r, { ...r, v: f.head });
  assert.equal(r.spawns.length, 1);
  const store = f.g.storeOf(src.upstream);
  assert.deepEqual(await commitsOf(store, f.head), await commitsOf(f.bare, 'main'));
  await cli(['--git-dir', store, 'fsck', '--no-dangling']);
});

test("the child keeps the daemon's NODE_OPTIONS but not its heap limit (the unit's --max-old-space-size)", async () => {
  const f = await fixture({ fetchInChild: true });
  const saved = process.env.NODE_OPTIONS;
  // the unit's options as the daemon inherits them (this process's own options were read at its start)
  process.env.NODE_OPTIONS = '--max-semi-space-size=2 --max-old-space-size=1024';
  try {
    const r = await children(() => f.g.fetch(f.src));
    assert.deepEqual(r, { ...r, v: f.head });
    assert.equal(r.spawns.length, 1);
    const env = r.proc[0]!.environ.split('\0');
    assert.deepEqual(env.filter((e) => e.startsWith('NODE_OPTIONS=')), ['NODE_OPTIONS=--max-semi-space-size=2']);
  } finally {
    if (saved === undefined) delete process.env.NODE_OPTIONS;
    else process.env.NODE_OPTIONS = saved;
  }
});

test('childNodeOptions drops both spellings of the heap limit and keeps the rest in order', () => {
  assert.equal(childNodeOptions('--max_old_space_size=64  --enable-source-maps --max-old-space-size=1024 --max-semi-space-size=2'), '--enable-source-maps --max-semi-space-size=2');
  assert.equal(childNodeOptions('--max-old-space-size=1024'), undefined);
  assert.equal(childNodeOptions(undefined), undefined);
  assert.equal(childNodeOptions('--max-old-space-size-foo=1'), '--max-old-space-size-foo=1');
});

test('token_file through the child: the token is on no argv, in no environment and not in the request', async () => {
  const f = await fixture({ fetchInChild: true }, () => servers.authServer);
  const tokenFile = path.join(servers.tmp, `${f.name}-token`);
  await writeFile(tokenFile, `${USER}:${PASSWORD}\n`);
  const src = { ...f.src, tokenFile };
  const m = servers.authServer.mark();
  const r = await children(() => f.g.fetch(src));
  assert.deepEqual(r, { ...r, v: f.head });
  assert.ok(servers.authServer.countSince(m, { user: USER, method: 'POST' }) >= 1, 'pack fetched as the token user');
  const spawn = r.spawns[0]!;
  assert.ok(spawn.event === 'spawn');
  const needles = [PASSWORD, Buffer.from(`${USER}:${PASSWORD}`).toString('base64')];
  const passed = JSON.stringify({ execArgv: spawn.execArgv, args: spawn.args, request: spawn.request });
  assert.ok(passed.includes(tokenFile), 'the child is told where the token file is');
  for (const n of needles) {
    assert.ok(!passed.includes(n), 'not in what the parent passes');
    assert.ok(!r.proc[0]!.cmdline.includes(n), 'not on the child argv');
    assert.ok(!r.proc[0]!.environ.includes(n), 'not in its environment');
  }
  assert.equal(r.proc[0]!.cmdline.split('\0').filter(Boolean).pop()!.endsWith('gitopper-fetch.js'), true, 'argv ends with the entry script');

  const f2 = await fixture({ fetchInChild: true }, () => servers.authServer);
  await writeFile(tokenFile, `${USER}:wrong\n`);
  const bad = await children(() => f2.g.fetch({ ...f2.src, tokenFile }));
  assert.match(String(bad.err), /401/, 'the child error message comes through');
});

test('compaction: above N packs the store becomes one pack; history, fsck and an older checkout stay good', async () => {
  const f = await fixture({ fetchInChild: true, compactAbove: 3, compactGraceMs: 0 });
  const c0 = await f.g.fetch(f.src);
  const c = f.co('co');
  await f.g.prepare(c, undefined);
  await f.g.checkout(c, await f.g.deployed(c), c0, undefined);
  const before = await filesOf(c.dir);
  await pushAndFetch(f, 2);
  assert.equal(await packs(f.store), 3, 'one pack per fetch, not yet compacted');
  assert.equal(f.notices.length, 0, 'no notice yet');
  // leftovers of a killed fetch: a pack without .idx and a temporary file; compaction removes them
  const packDir = path.join(f.store, 'objects', 'pack');
  await writeFile(path.join(packDir, `pack-${'e'.repeat(40)}.pack`), 'half written');
  await writeFile(path.join(packDir, `pack-${'f'.repeat(40)}.idx.tmp-99999`), 'half written');
  const r = await children(async () => {
    const tips = await pushAndFetch(f, 1); // returns at once: the compaction runs in the background
    await f.g.settle();
    return tips;
  });
  const tip = r.v![0]!;
  assert.equal(r.spawns.length, 1, 'one child made the fresh copy');
  assert.ok(r.spawns[0]!.event === 'spawn' && r.spawns[0]!.request.gitdir === `${f.store}.compact`);
  assert.equal(await packs(f.store), 5, 'nothing swapped while no fetch ran (4 fetched packs + the leftover): readers of this pass are never disturbed');
  assert.equal(f.notices.length, 0);
  assert.equal(await f.g.fetch(f.src), tip, 'the next fetch (nothing new) swaps the fresh copy in first');
  assert.equal(await packs(f.store), 6, 'the replaced packs are retired, not deleted: a reader that listed them still finds them');
  await f.g.fetch(f.src); // past the grace period (0 here): the retired packs go
  assert.ok((await packs(f.store)) <= 2, `${await packs(f.store)} packs`);
  assert.deepEqual((await readdir(packDir)).sort().map((x) => x.replace(/^pack-[0-9a-f]{40}/, 'pack-X')), ['pack-X.idx', 'pack-X.pack']);
  assert.equal(existsSync(`${f.store}.compact`), false, 'temp store removed');
  assert.deepEqual(f.notices.map((n) => [n.msg, n.data.packsBefore, n.data.packsAfter]), [['object store compacted', 4, 1]]);
  await cli(['--git-dir', f.store, 'fsck', '--no-dangling', '--strict']);
  const history = await commitsOf(f.bare, 'main');
  assert.deepEqual(await commitsOf(f.store, tip), history);
  assert.equal(history.length, CONFIG_REPO_COMMITS + 3);
  await readAll(f.store, history);

  // the checkout made before compaction: nothing drifted, diffs and the next checkout read the new pack
  assert.equal(await f.g.deployed(c), c0);
  assert.deepEqual(await f.g.drift(c, (await f.g.deployed(c))!), []);
  assert.deepEqual(await filesOf(c.dir), before);
  const expected = (await cli(['diff', '--name-only', c0, tip, '--', ...LINKS], { cwd: f.bare })).split('\n').filter(Boolean).sort();
  assert.deepEqual((await f.g.changedPaths(c, c0, tip)).sort(), expected);
  assert.equal(expected.length, 3);
  await f.g.checkout(c, await f.g.deployed(c), tip, undefined);
  assert.deepEqual(await filesOf(c.dir), await lsTree(f.bare, tip, LINKS));
  const added = expected.find((p) => p.endsWith('.ini') && p.includes('main-'))!;
  assert.equal(await readFile(path.join(c.dir, added), 'utf8'), `${path.basename(added, '.ini').replace('-', ' ')}\n`);
  assert.deepEqual(await f.g.drift(c, (await f.g.deployed(c))!), []);

  // and fetching goes on from the compacted store (haves still work: one small pack)
  const m = servers.server.mark();
  await pushAndFetch(f, 1);
  assert.equal(await packs(f.store), 2);
  assert.equal(servers.server.countSince(m, { method: 'POST', service: 'git-upload-pack' }), 1);
});

/** A fixture compacting above 3 packs whose upstream has a second branch "other" (one commit beyond main); the work clone is left on "other". */
async function withOtherBranch() {
  const f = await fixture({ fetchInChild: true, compactAbove: 3, compactGraceMs: 0 });
  await f.work.git('checkout', '--quiet', '-b', 'other');
  await f.work.write('other.txt', 'only on other\n');
  await f.work.commit('on other');
  await f.work.push('other');
  return f;
}

test('compaction keeps every branch of a shared store and drops the ref of a branch gone upstream', async () => {
  const f = await withOtherBranch();
  await f.g.fetch(f.src);
  const second = await children(() => f.g.fetch({ ...f.src, branch: 'other' }));
  assert.equal(second.spawns.length, 1, 'a branch new to the store is fetched in a child too');
  await pushAndFetch(f, 1, 'other');
  await f.work.git('checkout', '--quiet', 'main');
  assert.equal(await packs(f.store), 3);
  await pushAndFetch(f, 1, 'main');
  await settleAndSwap(f);
  assert.deepEqual(f.notices.map((n) => [n.msg, n.level, n.data.packsBefore, n.data.branches]), [['object store compacted', 'info', 4, ['main', 'other']]]);
  assert.ok((await packs(f.store)) <= 2, 'one pack, plus one small one for the second branch');
  await cli(['--git-dir', f.store, 'fsck', '--no-dangling', '--strict']);
  for (const b of ['main', 'other']) {
    const history = await commitsOf(f.bare, b);
    assert.deepEqual(await commitsOf(f.store, `refs/heads/${b}`), history, `${b} kept`);
    await readAll(f.store, history);
  }

  // upstream deletes "other" (its services moved to main): the next compaction keeps main and drops other's ref
  await cli(['branch', '-D', 'other'], { cwd: f.bare });
  const tips = await pushAndFetch(f, 3, 'main');
  await settleAndSwap(f);
  const last = f.notices.at(-1)!;
  assert.equal(f.notices.length, 2);
  assert.deepEqual([last.msg, last.level, last.data.branches, last.data.dropped], ['object store compacted', 'info', ['main'], ['other']]);
  assert.deepEqual((await cli(['--git-dir', f.store, 'for-each-ref', '--format=%(refname)', 'refs/heads'])).split('\n').filter(Boolean), ['refs/heads/main']);
  assert.equal(existsSync(`${f.store}.compact`), false);
  assert.deepEqual(await commitsOf(f.store, tips.at(-1)!), await commitsOf(f.bare, 'main'));
  await cli(['--git-dir', f.store, 'fsck', '--no-dangling', '--strict']);
});

test('a compaction keeps every commit a checkout has deployed: one force-pushed away upstream stops it', async () => {
  const f = await fixture({ fetchInChild: true, compactAbove: 3, compactGraceMs: 0 });
  const [held] = await pushAndFetch(f, 1, 'main');
  const c = f.co('held');
  await f.g.prepare(c, undefined);
  await f.g.checkout(c, await f.g.deployed(c), held!, undefined); // a service held here (DIFF on a clash, or frozen)
  // upstream drops that commit: main is force-pushed to its parent plus other work
  await f.work.git('reset', '--quiet', '--hard', 'HEAD~1');
  await f.work.push('main', { force: true });
  await pushAndFetch(f, 3, 'main');
  await f.g.settle();
  const failed = f.notices.filter((n) => n.msg === 'object store compaction failed; the old packs are kept');
  assert.equal(failed.length, 1, JSON.stringify(f.notices));
  assert.match(String(failed[0]!.data.err), new RegExp(`${held}.*deployed in ${c.dir.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`));
  assert.equal(await f.g.deployed(c), held, 'the held checkout still finds its commit');
  await cli(['--git-dir', f.store, 'cat-file', '-e', `${held}^{commit}`]);
});

test('a compaction that cannot keep a commit changes nothing, and is not tried again until the packs have doubled', async () => {
  const f = await withOtherBranch();
  await f.g.fetch(f.src);
  await f.g.fetch({ ...f.src, branch: 'other' });
  // "other" is force-pushed upstream to a commit without the one the store has: keeping it is impossible
  await f.work.git('reset', '--quiet', '--hard', 'HEAD~1');
  await f.work.write('other.txt', 'rewritten\n');
  await f.work.commit('rewritten other');
  await f.work.git('push', '--quiet', '--force', 'origin', 'other');
  await f.work.git('checkout', '--quiet', 'main');
  const before = (await readdir(path.join(f.store, 'objects', 'pack'))).sort();
  assert.equal(before.filter((x) => x.endsWith('.pack')).length, 2);
  await pushAndFetch(f, 2, 'main'); // 4 packs: compaction tried, fails
  await f.g.settle();
  assert.deepEqual(f.notices.map((n) => [n.msg, n.level, n.data.packsBefore]), [['object store compaction failed; the old packs are kept', 'warn', 4]]);
  assert.match(String(f.notices[0]!.data.err), /other.*force-pushed/);
  const now = (await readdir(path.join(f.store, 'objects', 'pack'))).sort();
  assert.deepEqual(before.filter((x) => !now.includes(x)), [], 'no old pack removed');
  await pushAndFetch(f, 4, 'main'); // 5..8 packs: not above twice the 4 of the failure
  await f.g.settle();
  assert.equal(f.notices.length, 1, 'no new attempt before the packs doubled');
  // the store's "other" follows the force-push: 9 packs > 8, tried again, and now it works
  await f.g.fetch({ ...f.src, branch: 'other' });
  await settleAndSwap(f);
  assert.deepEqual(f.notices.slice(1).map((n) => [n.msg, n.data.branches]), [['object store compacted', ['main', 'other']]]);
  await cli(['--git-dir', f.store, 'fsck', '--no-dangling', '--strict']);
  assert.deepEqual(await commitsOf(f.store, 'refs/heads/other'), await commitsOf(f.bare, 'other'));
});

/** An HTTP server on loopback that answers nothing (`mode: 'silent'`) or headers and then nothing (`'headers'`). */
async function hangingServer(mode: 'silent' | 'headers') {
  const seen: string[] = [];
  const srv = http.createServer((req, res) => {
    seen.push(`${req.method} ${req.url}`);
    req.resume();
    if (mode === 'headers') {
      res.writeHead(200, { 'content-type': 'application/x-git-upload-pack-advertisement' });
      res.flushHeaders();
    }
  });
  await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(srv.address() as AddressInfo).port}/hangs.git`;
  return { url, seen, close: () => new Promise<void>((resolve) => { srv.closeAllConnections(); srv.close(() => resolve()); }) };
}

test('a hanging upstream fails the fetch after the inactivity timeout, naming the upstream', async () => {
  for (const mode of ['silent', 'headers'] as const) {
    const h = await hangingServer(mode);
    try {
      const g = new IsoGit(path.join(servers.tmp, `hang-${mode}-state`), undefined, { idleTimeoutMs: 1000, partialClone: false });
      const t0 = Date.now();
      await assert.rejects(g.fetch({ upstream: h.url, branch: 'main', tokenFile: undefined }), (err: Error) => {
        assert.ok(err.message.includes(h.url), err.message);
        assert.match(err.message, mode === 'silent' ? /no answer for 1 s \(GET \/hangs\.git\/info\/refs/ : /no data for 1 s/);
        assert.equal((err as { code?: string }).code, 'FETCH_TIMEOUT');
        return true;
      });
      const ms = Date.now() - t0;
      assert.ok(ms >= 900 && ms < 5000, `${mode}: failed after ${ms} ms`);
      assert.equal(h.seen.length, 1);
    } finally {
      await h.close();
    }
  }

  // the same through the child: the idle timeout applies there, and a child past its overall bound is killed
  const h = await hangingServer('silent');
  try {
    const idle = new IsoGit(path.join(servers.tmp, 'hang-child-state'), undefined, { fetchInChild: true, idleTimeoutMs: 1000, partialClone: false });
    const r = await children(() => idle.fetch({ upstream: h.url, branch: 'main', tokenFile: undefined }));
    assert.match(String(r.err), /no answer for 1 s/);
    assert.ok(String(r.err).includes(h.url));
    const bounded = new IsoGit(path.join(servers.tmp, 'hang-child2-state'), undefined, { fetchInChild: true, childTimeoutMs: 1500, partialClone: false });
    const t0 = Date.now();
    const k = await children(() => bounded.fetch({ upstream: h.url, branch: 'main', tokenFile: undefined }));
    assert.match(String(k.err), /no result after 1\.5 s, killed/);
    assert.ok(String(k.err).includes(h.url));
    assert.ok(Date.now() - t0 < 6000);
    const exit = k.events.find((e) => e.event === 'exit');
    assert.ok(exit?.event === 'exit' && exit.signal === 'SIGKILL');
    assert.throws(() => process.kill(k.spawns[0]!.pid!, 0), /ESRCH/, 'the child is gone');

    // the daemon stops during a first fetch: close() kills the child at once, the fetch rejects
    const stopping = new IsoGit(path.join(servers.tmp, 'hang-child3-state'), undefined, { fetchInChild: true, partialClone: false });
    const t1 = Date.now();
    const c = await children(async () => {
      const pending = stopping.fetch({ upstream: h.url, branch: 'main', tokenFile: undefined });
      await new Promise((resolve) => setTimeout(resolve, 500)); // the child is waiting on the silent server
      await stopping.close();
      return pending;
    });
    assert.match(String(c.err), /stopped \(the daemon is shutting down\)/);
    assert.ok(Date.now() - t1 < 5000, 'not the 60 s inactivity timeout nor the 10 min bound');
    assert.throws(() => process.kill(c.spawns[0]!.pid!, 0), /ESRCH/, 'the child is gone');
  } finally {
    await h.close();
  }
});

test('a first fetch that fails (404) rejects with the upstream error, in this process; the next try against the fixed upstream (whole history) succeeds in a child', async () => {
  const g = new IsoGit(path.join(servers.tmp, 'missing-state'), undefined, { fetchInChild: true });
  const src: SourceRef = { upstream: servers.server.url('later.git'), branch: 'main', tokenFile: undefined };
  const r = await children(() => g.fetch(src));
  assert.match(String(r.err), /404/);
  // the first try is the filtered fetch, in this process (a 404 is no upstream that cannot filter)
  assert.equal(r.spawns.length, 0, 'no child for an upstream that answers 404');
  const store = g.storeOf(src.upstream);
  assert.deepEqual(await git.listBranches({ fs, gitdir: store }).catch(() => []), [], 'the failed try left no branch');

  const head = await makeConfigRepo(path.join(servers.tmp, 'git', 'later.git'));
  await refuseFilter(path.join(servers.tmp, 'git', 'later.git')); // a whole history: the child
  const ok = await children(() => g.fetch(src));
  assert.deepEqual(ok, { ...ok, v: head });
  assert.equal(ok.spawns.length, 1, 'fetched again in a child');
  assert.equal((await commitsOf(store, head)).length, CONFIG_REPO_COMMITS);
  await cli(['--git-dir', store, 'fsck', '--no-dangling']);

  // a branch the upstream lacks: the message says so
  const nb = await children(() => g.fetch({ ...src, branch: 'nope' }));
  assert.match(String(nb.err), /nope/);
});
