/**
 * IsoGit (src/adapters/git/iso-git.ts) on real parts: the gitopper-config history served by git-http-backend
 * on loopback (test/rig), checked with the git CLI. No fakes.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { lstat, mkdir, readdir, readFile, readlink, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { IsoGit, NotOurCheckoutError } from '../src/adapters/git/iso-git.js';
import type { CheckoutRef, SourceRef } from '../src/ports/git.js';
import type { Owner } from '../src/ports/host.js';
import { git, WorkClone } from './rig/repo.js';
import { CONFIG_REPO_COMMITS, makeConfigRepo } from './rig/config-repo.js';
import { canRunSandbox } from './rig/systemd.js';
import { filesContaining, filesOf, walk } from './adapters/tree.js';
import { collidingBlob, commitsOf, gitServersPerFile, lsTree, packs } from './adapters/git-helpers.js';

const LINKS = ['grafana/etc', 'grafana/dashboards'];
const USER = 'gitopper';
const PASSWORD = 'tok-3f9a7c1e-not-in-any-file';
const NOBODY: Owner = { user: 'nobody', uid: 65534, gid: 65534 };

let seq = 0;

const servers = gitServersPerFile('adapter-git', { user: USER, password: PASSWORD });

/** A fresh upstream (the gitopper-config history), a clone to change it, an IsoGit with its own state dir. */
async function fixture(onNotice?: (msg: string, data: object) => void) {
  const name = `up${++seq}`;
  const bare = path.join(servers.tmp, 'git', `${name}.git`);
  const head = await makeConfigRepo(bare);
  const work = await WorkClone.open(bare, path.join(servers.tmp, `${name}-work`));
  const g = new IsoGit(path.join(servers.tmp, `${name}-state`), onNotice, { partialClone: false }); // the whole-history path
  const src: SourceRef = { upstream: servers.server.url(`${name}.git`), branch: 'main', tokenFile: undefined };
  const co = (dir: string, s: SourceRef = src): CheckoutRef => ({ ...s, dir: path.join(servers.tmp, `${name}-${dir}`), links: LINKS });
  return { name, bare, head, work, g, src, co };
}

test('fetch fills one bare store with the full history; an idle fetch downloads nothing', async (t) => {
  const { bare, head, work, g, src } = await fixture();
  const m0 = servers.server.mark();
  const tip = await g.fetch(src);
  assert.equal(tip, head);
  assert.ok(servers.server.countSince(m0, { service: 'git-upload-pack', status: 200 }) >= 2, 'went over HTTP');
  const store = g.storeOf(src.upstream);
  assert.deepEqual(await commitsOf(store, tip), await commitsOf(bare, 'main'), 'full history, not shallow');
  assert.equal((await commitsOf(store, tip)).length, CONFIG_REPO_COMMITS);
  await git(['--git-dir', store, 'fsck', '--no-dangling']);

  const before = await packs(store);
  const m1 = servers.server.mark();
  assert.equal(await g.fetch(src), head);
  const idle = servers.server.countSince(m1);
  t.diagnostic(`HTTP requests per fetch with nothing new: ${idle} (${servers.server.requests.slice(m1).map((r) => `${r.method} ${r.path.replace(/^.*\.git/, '')}`).join(', ')})`);
  assert.ok(idle >= 1 && idle <= 2, `idle fetch made ${idle} requests`);
  assert.equal(await packs(store), before, 'an idle fetch adds no pack');

  await work.write('grafana/etc/grafana.ini', 'changed\n');
  const c1 = await work.commit('change');
  await work.push();
  assert.equal(await g.fetch(src), c1);
  assert.equal((await commitsOf(store, c1)).length, 25);
});

test('prepare + checkout write only the link paths; deployed() is undefined before the first checkout', async () => {
  const { bare, head, g, src, co } = await fixture();
  const c = co('co');
  assert.equal(await g.deployed(c), undefined, 'no directory yet');
  const tip = await g.fetch(src);
  await g.prepare(c, undefined);
  assert.equal(await g.deployed(c), undefined, 'prepared, nothing deployed');
  assert.equal(await readlink(path.join(c.dir, '.git', 'objects')), path.join(g.storeOf(src.upstream), 'objects'));
  await g.checkout(c, await g.deployed(c), tip, undefined);
  assert.equal(await g.deployed(c), head);
  assert.deepEqual(await filesOf(c.dir), await lsTree(bare, head, LINKS));
  assert.deepEqual(await filesOf(c.dir), ['grafana/dashboards/dash.json', 'grafana/etc/grafana.ini']);
  assert.equal(await readFile(path.join(c.dir, 'grafana/etc/grafana.ini'), 'utf8'), await git(['show', `${head}:grafana/etc/grafana.ini`], { cwd: bare }));
  assert.equal((await git(['rev-parse', 'HEAD'], { cwd: c.dir })).trim(), head, 'the git CLI agrees on HEAD');
});

test('changedPaths lists exactly the changed paths under the links; checkout applies them, deletions too', async () => {
  const { bare, work, g, src, co } = await fixture();
  const c = co('co');
  await work.write('grafana/etc/sub/a.conf', 'a\n');
  await work.write('grafana/etc/sub/b.conf', 'b\n');
  await work.write('grafana/dashboards/gone.json', '{}\n');
  await work.write('grafana/etc/ldap', 'a file\n');
  const c1 = await work.commit('c1');
  await work.push();
  assert.equal(await g.fetch(src), c1);
  await g.prepare(c, undefined);
  await g.checkout(c, await g.deployed(c), c1, undefined);
  assert.ok(existsSync(path.join(c.dir, 'grafana/etc/sub/a.conf')));

  await work.write('grafana/etc/grafana.ini', '[server]\nhttp_port = 3001\n'); // modify
  await work.remove('grafana/etc/sub');
  await work.write('grafana/etc/sub', 'now a file\n'); // a directory replaced by a file
  await work.remove('grafana/etc/ldap');
  await work.write('grafana/etc/ldap/x.toml', 'a file replaced by a directory\n');
  await work.write('grafana/dashboards/new.json', '{"new":1}\n'); // add
  await work.remove('grafana/dashboards/gone.json'); // delete
  await work.write('crapdir/crap.md', 'outside\n'); // outside the links
  await work.write('grafana/etc.bak', 'a sibling that shares the prefix\n');
  await work.remove('README.md');
  const c2 = await work.commit('c2');
  await work.push();
  assert.equal(await g.fetch(src), c2);
  const expected = [
    'grafana/dashboards/gone.json',
    'grafana/dashboards/new.json',
    'grafana/etc/grafana.ini',
    'grafana/etc/ldap',
    'grafana/etc/ldap/x.toml',
    'grafana/etc/sub',
    'grafana/etc/sub/a.conf',
    'grafana/etc/sub/b.conf',
  ];
  const cli = (await git(['diff', '--name-only', c1, c2, '--', ...LINKS], { cwd: bare })).split('\n').filter(Boolean).sort();
  assert.deepEqual(cli, expected, 'the git CLI agrees');
  assert.deepEqual((await g.changedPaths(c, c1, c2)).sort(), expected);
  assert.deepEqual((await g.changedPaths(c, c2, c1)).sort(), expected, 'symmetric');
  assert.deepEqual(await g.changedPaths(c, c2, c2), []);

  await g.checkout(c, await g.deployed(c), c2, undefined);
  assert.deepEqual(await filesOf(c.dir), await lsTree(bare, c2, LINKS));
  assert.equal(await readFile(path.join(c.dir, 'grafana/etc/sub'), 'utf8'), 'now a file\n');
  assert.equal(await readFile(path.join(c.dir, 'grafana/etc/ldap/x.toml'), 'utf8'), 'a file replaced by a directory\n');
  assert.equal(existsSync(path.join(c.dir, 'grafana/dashboards/gone.json')), false, 'deleted upstream, deleted here');
  assert.equal(await readFile(path.join(c.dir, 'grafana/etc/grafana.ini'), 'utf8'), '[server]\nhttp_port = 3001\n');

  await work.write('crapdir/crap.md', 'only outside\n');
  const c3 = await work.commit('c3');
  await work.remove('grafana/dashboards'); // a whole link deleted upstream
  const c4 = await work.commit('c4');
  await work.push();
  assert.equal(await g.fetch(src), c4);
  assert.deepEqual(await g.changedPaths(c, c2, c3), [], 'nothing under the links changed');
  assert.deepEqual((await g.changedPaths(c, c3, c4)).sort(), ['grafana/dashboards/dash.json', 'grafana/dashboards/new.json']);
  await g.checkout(c, await g.deployed(c), c4, undefined);
  assert.deepEqual(await filesOf(c.dir), await lsTree(bare, c4, LINKS));
  assert.equal(existsSync(path.join(c.dir, 'grafana/dashboards')), false, 'a link deleted upstream is deleted from the checkout');
  assert.equal(await g.deployed(c), c4);
});

test('markDeployed moves HEAD without touching any file; a failed checkout moves nothing', async () => {
  const { head, work, g, src, co } = await fixture();
  const c = co('co');
  await g.fetch(src);
  await g.prepare(c, undefined);
  await g.checkout(c, await g.deployed(c), head, undefined);
  await work.write('grafana/etc/grafana.ini', 'new\n');
  const c1 = await work.commit('c1');
  await work.push();
  await g.fetch(src);
  const before = await walk(c.dir, ['.git']);
  await g.markDeployed(c, c1);
  assert.equal(await g.deployed(c), c1);
  assert.deepEqual(await walk(c.dir, ['.git']), before, 'same inodes, same mtimes');
  assert.notEqual(await readFile(path.join(c.dir, 'grafana/etc/grafana.ini'), 'utf8'), 'new\n');

  await assert.rejects(g.checkout(c, await g.deployed(c), 'deadbeef'.repeat(5), undefined), /deadbeef/);
  assert.equal(await g.deployed(c), c1, 'HEAD stays');
  assert.deepEqual(await walk(c.dir, ['.git']), before, 'files stay');
});

test('two checkouts of one upstream share one store, and one fetch serves both', async () => {
  const { work, g, src, co } = await fixture();
  const [a, b] = [co('a'), co('b')];
  const m = servers.server.mark();
  const tip = await g.fetch(src);
  const afterFetch = servers.server.mark();
  for (const c of [a, b]) {
    await g.prepare(c, undefined);
    await g.checkout(c, await g.deployed(c), tip, undefined);
    assert.equal(await readlink(path.join(c.dir, '.git', 'objects')), path.join(g.storeOf(src.upstream), 'objects'));
  }
  assert.equal(servers.server.countSince(m, { method: 'POST', service: 'git-upload-pack' }), 1, 'one pack request');
  assert.equal(servers.server.countSince(afterFetch), 0, 'prepare and checkout never go to the server');
  assert.equal((await readdir(path.dirname(g.storeOf(src.upstream)))).length, 1, 'one store');
  assert.deepEqual(await filesOf(a.dir), await filesOf(b.dir));

  await work.write('grafana/dashboards/dash.json', '{"v":2}\n');
  const c1 = await work.commit('c1');
  await work.push();
  assert.equal(await g.fetch(src), c1);
  for (const c of [a, b]) {
    assert.deepEqual(await g.changedPaths(c, tip, c1), ['grafana/dashboards/dash.json']);
    await g.checkout(c, await g.deployed(c), c1, undefined);
    assert.equal(await readFile(path.join(c.dir, 'grafana/dashboards/dash.json'), 'utf8'), '{"v":2}\n');
  }
});

test('findInHistory: full id, 4-hex prefix, other branch, ambiguous and unknown prefixes', async () => {
  const { work, g, src } = await fixture();
  const history = (await work.log()).map((e) => e.sha);
  const target = history[5]!; // this commit's 4-hex prefix gets a twin blob
  await work.git('checkout', '--quiet', '-b', 'other');
  await work.write('other.txt', 'only on other\n');
  const onOther = await work.commit('on other');
  await work.push('other');
  await work.git('checkout', '--quiet', 'main');
  await work.write('crapdir/collide.txt', collidingBlob(target.slice(0, 4), target));
  const tip = await work.commit('twin blob');
  await work.push();
  assert.equal(await g.fetch({ ...src, branch: 'other' }), onOther);
  assert.equal(await g.fetch(src), tip);

  const store = g.storeOf(src.upstream);
  const objects = (await git(['--git-dir', store, 'cat-file', '--batch-all-objects', '--batch-check=%(objectname)'])).split('\n').filter(Boolean);
  const matches = (p: string) => objects.filter((o) => o.startsWith(p)).length;
  const find = (prefix: string, from = tip) => g.findInHistory(src, from, prefix);

  assert.equal(await find(tip), tip, 'full id of the tip');
  assert.equal(await find(history[20]!), history[20], 'full id of an ancestor');
  const unique = [tip, ...history].find((c) => c !== target && matches(c.slice(0, 4)) === 1);
  assert.ok(unique, 'some commit has a unique 4-hex prefix');
  assert.equal(await find(unique.slice(0, 4)), unique, '4-hex prefix');
  assert.equal(matches(target.slice(0, 4)), 2);
  assert.equal(await find(target.slice(0, 4)), undefined, 'ambiguous prefix');
  assert.equal(await find(target.slice(0, 5)), target, 'a longer prefix resolves it');
  assert.equal(await find(onOther), undefined, 'in the store but on another branch');
  assert.equal(await find(onOther, onOther), onOther, 'it is in the store');
  const unknown = Array.from({ length: 65536 }, (_, i) => i.toString(16).padStart(4, '0')).find((p) => matches(p) === 0)!;
  assert.equal(await find(unknown), undefined, 'unknown prefix');
  const blob = (await git(['rev-parse', `${tip}:crapdir/collide.txt`], { cwd: work.dir })).trim();
  assert.equal(await find(blob), undefined, 'not a commit');
});

test('token_file: Basic auth, wrong token fails, a rewritten file is re-read, the token is never stored', async () => {
  const { name, head, g, co } = await fixture();
  const tokenFile = path.join(servers.tmp, `${name}-token`);
  const src: SourceRef = { upstream: servers.authServer.url(`${name}.git`), branch: 'main', tokenFile };
  await assert.rejects(g.fetch({ ...src, tokenFile: undefined }), /401/, 'anonymous is refused');
  await writeFile(tokenFile, `${USER}:${PASSWORD}\n`);
  const m = servers.authServer.mark();
  assert.equal(await g.fetch(src), head);
  assert.ok(servers.authServer.countSince(m, { user: USER, method: 'POST' }) >= 1, 'pack fetched as the token user');

  await writeFile(tokenFile, `${USER}:wrong\n`);
  await assert.rejects(g.fetch(src), /401/);
  await writeFile(tokenFile, `${USER}:${PASSWORD}\n`); // rotation: no restart needed
  assert.equal(await g.fetch(src), head);
  await writeFile(tokenFile, '\n');
  await assert.rejects(g.fetch(src), /empty/);
  await assert.rejects(g.fetch({ ...src, tokenFile: `${tokenFile}.missing` }), /\.missing/);

  const c = co('co', src);
  await g.prepare(c, undefined);
  await g.checkout(c, await g.deployed(c), head, undefined);
  const needles = [PASSWORD, Buffer.from(`${USER}:${PASSWORD}`).toString('base64')];
  assert.deepEqual(await filesContaining(path.join(servers.tmp, `${name}-state`), needles), [], 'no token in the store');
  assert.deepEqual(await filesContaining(c.dir, needles), [], 'no token in the checkout');
  assert.ok(readFileSync(path.join(g.storeOf(src.upstream), 'config'), 'utf8').includes(src.upstream), 'plain URL in config');
});

test('prepare refuses a non-empty directory that is not a git checkout and changes nothing', async () => {
  const { g, co } = await fixture();
  const c = co('foreign');
  await mkdir(c.dir, { mode: 0o700 });
  await writeFile(path.join(c.dir, 'keep.txt'), 'mine\n');
  const before = await walk(c.dir);
  const st = await stat(c.dir);
  await assert.rejects(g.prepare(c, NOBODY), (err: unknown) => err instanceof NotOurCheckoutError && err.code === 'NOT_OUR_CHECKOUT' && err.data.dir === c.dir);
  assert.deepEqual(await walk(c.dir), before);
  const now = await stat(c.dir);
  assert.deepEqual([now.uid, now.gid, now.mode], [st.uid, st.gid, st.mode], 'owner and mode unchanged');
});

test('prepare adopts an existing full clone and keeps its objects aside', async () => {
  const notices: Array<{ msg: string; data: Record<string, unknown> }> = [];
  const { bare, head, g, src, co } = await fixture((msg, data) => notices.push({ msg, data: data as Record<string, unknown> }));
  const c = co('clone');
  await git(['clone', '--quiet', bare, c.dir]);
  await g.fetch(src);
  await g.prepare(c, undefined);
  const objects = path.join(c.dir, '.git', 'objects');
  assert.ok((await lstat(objects)).isSymbolicLink());
  assert.equal(await readlink(objects), path.join(g.storeOf(src.upstream), 'objects'));
  const aside = (await readdir(path.join(c.dir, '.git'))).filter((n) => n.startsWith('objects.pre-gitopper-'));
  assert.equal(aside.length, 1);
  assert.ok((await readdir(path.join(c.dir, '.git', aside[0]!, 'pack'))).some((f) => f.endsWith('.pack')), 'the old objects are kept');
  assert.equal(notices.length, 1);
  assert.equal(notices[0]!.data.keptAt, path.join(c.dir, '.git', aside[0]!));
  assert.equal(await g.deployed(c), head, "the clone's HEAD is in the store");
  await g.prepare(c, undefined);
  assert.equal(notices.length, 1, 'adopted once');
  await g.checkout(c, await g.deployed(c), head, undefined);
  assert.equal(await g.deployed(c), head);
});

const sandbox = canRunSandbox();
test('prepare and checkout give the checkout to the owner (chown to nobody)', { skip: sandbox.ok ? false : sandbox.why }, async () => {
  const { head, g, src, co } = await fixture();
  const c = co('owned');
  await g.fetch(src);
  await g.prepare(c, NOBODY);
  assert.equal((await stat(c.dir)).uid, NOBODY.uid);
  await g.checkout(c, await g.deployed(c), head, NOBODY);
  const entries = (await walk(c.dir, ['.git'])).filter((e) => LINKS.some((l) => e.rel === l || e.rel.startsWith(`${l}/`)));
  assert.ok(entries.length >= 4);
  for (const e of entries) assert.deepEqual([e.rel, e.uid, e.gid], [e.rel, NOBODY.uid, NOBODY.gid]);
});

test('prepare repairs what a process killed in the middle leaves: a missing .git/objects link, a truncated .git/index, an interrupted checkout marker', async () => {
  const { g, src, co, work } = await fixture();
  const c = co('repair');
  const tip = await g.fetch(src);
  await g.prepare(c, undefined);
  await g.checkout(c, await g.deployed(c), tip, undefined);
  // killed between removing git's objects dir and linking the store's
  await rm(path.join(c.dir, '.git', 'objects'));
  // killed while isomorphic-git rewrote the index
  await writeFile(path.join(c.dir, '.git', 'index'), '');
  const notices: string[] = [];
  const g2 = new IsoGit(path.dirname(g.storeOf(src.upstream)).replace(/\/upstreams$/, ''), (msg) => notices.push(msg), { partialClone: false });
  await g2.prepare(c, undefined);
  assert.equal(await readlink(path.join(c.dir, '.git', 'objects')), path.join(g.storeOf(src.upstream), 'objects'));
  assert.equal(existsSync(path.join(c.dir, '.git', 'index')), false);
  assert.deepEqual(notices, ['a truncated .git/index (an interrupted write) was removed; the next checkout writes it anew']);
  assert.equal(await g2.deployed(c), tip);
  assert.deepEqual(await g2.drift(c, (await g2.deployed(c))!), [], 'no index: the files are hashed, and they are the deployed ones');
  // a checkout of the next commit cut short after writing one file and leaving a temporary one
  await work.write('grafana/etc/grafana.ini', 'next\n');
  await work.write('grafana/etc/new.conf', 'new\n');
  const next = await work.commit('next');
  await work.push();
  await g2.fetch(src);
  await writeFile(path.join(c.dir, '.git', 'gitopper-applying'), `${next}\n`);
  await writeFile(path.join(c.dir, 'grafana/etc/new.conf'), 'ne'); // half written
  await writeFile(path.join(c.dir, 'grafana/etc/.grafana.ini.gitopper-new'), 'next\n');
  await g2.prepare(c, undefined);
  assert.ok(notices.includes('an interrupted checkout was undone: the files it had written are back at the deployed commit'));
  assert.deepEqual(await g2.drift(c, (await g2.deployed(c))!), [], 'back at the deployed commit: nothing is drift');
  assert.equal(existsSync(path.join(c.dir, 'grafana/etc/new.conf')), false);
  assert.equal(existsSync(path.join(c.dir, 'grafana/etc/.grafana.ini.gitopper-new')), false);
  assert.equal(existsSync(path.join(c.dir, '.git', 'gitopper-applying')), false);
  await g2.checkout(c, await g2.deployed(c), next, undefined);
  assert.equal(await readFile(path.join(c.dir, 'grafana/etc/new.conf'), 'utf8'), 'new\n');
});

test('missingLinks names the links a commit lacks (a rollback target that would empty a live directory)', async () => {
  const { g, src, co, work } = await fixture();
  const c = co('missing');
  const tip = await g.fetch(src);
  assert.deepEqual(await g.missingLinks(c, tip), []);
  await work.remove('grafana/dashboards');
  const without = await work.commit('no dashboards');
  await work.push();
  await g.fetch(src);
  assert.deepEqual(await g.missingLinks(c, without), ['grafana/dashboards']);
  await assert.rejects(g.missingLinks(c, 'f'.repeat(40)));
});
