/**
 * IsoGit.drift (src/adapters/git/iso-git.ts) on real parts: a checkout of the gitopper-config history served
 * by git-http-backend on loopback, edited on disk, compared with what `git status` says.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmod, mkdir, readFile, rm, stat, symlink, unlink, utimes, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { IsoGit } from '../src/adapters/git/iso-git.js';
import type { CheckoutRef, SourceRef } from '../src/ports/git.js';
import { git, WorkClone } from './rig/repo.js';
import { makeConfigRepo } from './rig/config-repo.js';
import { gitServersPerFile } from './adapters/git-helpers.js';

const LINKS = ['grafana/etc', 'grafana/dashboards'];

let seq = 0;

const servers = gitServersPerFile('adapter-git-drift');

/** A checkout of the generated config repository's tip with the grafana links. */
async function checkedOut() {
  const name = `up${++seq}`;
  const bare = path.join(servers.tmp, 'git', `${name}.git`);
  const head = await makeConfigRepo(bare);
  const g = new IsoGit(path.join(servers.tmp, `${name}-state`));
  const src: SourceRef = { upstream: servers.server.url(`${name}.git`), branch: 'main', tokenFile: undefined };
  const co: CheckoutRef = { ...src, dir: path.join(servers.tmp, `${name}-co`), links: LINKS };
  await g.fetch(src);
  await g.prepare(co, undefined);
  await g.checkout(co, await g.deployed(co), head, undefined);
  return { bare, head, g, src, co, file: (p: string) => path.join(co.dir, p) };
}

/** What the git CLI sees as changed under the links (tracked changes and untracked files that are not ignored). */
async function cliStatus(dir: string): Promise<string[]> {
  const out = await git(['-c', 'core.quotePath=false', 'status', '--porcelain', '--untracked-files=all', '--', ...LINKS], { cwd: dir });
  return out.split('\n').filter(Boolean).map((l) => l.slice(3)).sort();
}

test('a fresh checkout has no drift, and touching a file without changing it is none either', async () => {
  const { g, co, file } = await checkedOut();
  assert.deepEqual(await g.drift(co, (await g.deployed(co))!), []);
  const ini = file('grafana/etc/grafana.ini');
  const later = new Date(Date.now() + 60_000);
  await utimes(ini, later, later); // stat differs from the index, content does not
  assert.deepEqual(await g.drift(co, (await g.deployed(co))!), []);
  assert.deepEqual(await g.drift(co, (await g.deployed(co))!), [], 'still none once the index stat was refreshed');
});

test('an edit that keeps the size and puts the mtime back is still drift (the ctime moved: git\'s stat rule)', async () => {
  const { g, co, file } = await checkedOut();
  const ini = file('grafana/etc/grafana.ini');
  const T = 1_700_000_000; // whole seconds: utimes keeps them exactly
  await utimes(ini, T, T);
  assert.deepEqual(await g.drift(co, (await g.deployed(co))!), [], 'a new mtime alone is no drift');
  // the index now carries that stat (refreshed by the walk), so only the ctime can tell the edit
  const debug = await git(['ls-files', '--debug', 'grafana/etc/grafana.ini'], { cwd: co.dir });
  assert.match(debug, new RegExp(`mtime: ${T}:0`), debug);
  const text = await readFile(ini, 'utf8');
  const same = text.replace(/[a-z]/, (c) => (c === 'x' ? 'y' : 'x')); // one letter changed, same length
  assert.notEqual(same, text);
  await writeFile(ini, same);
  await utimes(ini, T, T);
  assert.equal((await stat(ini)).mtimeMs, T * 1000, 'mtime put back');
  assert.deepEqual(await g.drift(co, (await g.deployed(co))!), ['grafana/etc/grafana.ini']);
});

test('edits, deletions and additions are drift, files ignored by .gitignore are not; paths outside the links are not', async () => {
  const { g, co, file } = await checkedOut();
  await writeFile(file('grafana/etc/grafana.ini'), 'edited on the host\n');
  const dashboards = (await git(['ls-files', 'grafana/dashboards'], { cwd: co.dir })).split('\n').filter(Boolean);
  assert.ok(dashboards.length > 0, 'the fixture has dashboards');
  await unlink(file(dashboards[0]!));
  await writeFile(file('grafana/etc/new.conf'), 'x\n');
  await mkdir(file('grafana/etc/sub'), { recursive: true });
  await writeFile(file('grafana/etc/sub/deep.conf'), 'y\n');
  await writeFile(file('grafana/etc/.gitignore'), 'ignored.tmp\n');
  await writeFile(file('grafana/etc/ignored.tmp'), 'z\n');
  // outside the links: not the service's files, never drift
  await mkdir(file('prometheus'), { recursive: true });
  await writeFile(file('prometheus/stray.yml'), 'not ours\n');
  await writeFile(file('README.local'), 'not ours\n');

  await writeFile(file('grafana/etc/excluded.local'), 'w\n');
  await writeFile(file('.git/info/exclude'), '*.local\n');
  const expected = ['grafana/etc/.gitignore', 'grafana/etc/grafana.ini', 'grafana/etc/new.conf', 'grafana/etc/sub/deep.conf', dashboards[0]!].sort();
  assert.deepEqual(await g.drift(co, (await g.deployed(co))!), expected);
  assert.deepEqual(await cliStatus(co.dir), expected, 'the same paths as git status');
});

test('a file replaced by a symlink or a directory is drift; undoing the edits clears it', async () => {
  const { g, co, head, file, bare } = await checkedOut();
  const ini = file('grafana/etc/grafana.ini');
  const original = await git(['show', `${head}:grafana/etc/grafana.ini`], { cwd: bare });
  await rm(ini);
  await symlink('/etc/hostname', ini);
  assert.deepEqual(await g.drift(co, (await g.deployed(co))!), ['grafana/etc/grafana.ini']);
  await rm(ini);
  await mkdir(ini);
  await writeFile(path.join(ini, 'inside'), 'x\n');
  assert.deepEqual(await g.drift(co, (await g.deployed(co))!), ['grafana/etc/grafana.ini', 'grafana/etc/grafana.ini/inside']);
  await rm(ini, { recursive: true });
  await writeFile(ini, original);
  await chmod(ini, 0o644);
  assert.deepEqual(await g.drift(co, (await g.deployed(co))!), [], 'content back as committed: no drift');
});

test('restore puts drifted paths back, after which drift is empty; an ignored file is left alone', async () => {
  const { g, co, file } = await checkedOut();
  await writeFile(file('grafana/etc/grafana.ini'), 'edited\n');
  await writeFile(file('grafana/etc/new.conf'), 'x\n');
  await writeFile(file('.git/info/exclude'), '*.state\n');
  await writeFile(file('grafana/etc/run.state'), 'kept by the service\n');
  const drift = await g.drift(co, (await g.deployed(co))!);
  assert.deepEqual(drift, ['grafana/etc/grafana.ini', 'grafana/etc/new.conf']);
  await g.restore(co, (await g.deployed(co))!, drift, undefined);
  assert.deepEqual(await g.drift(co, (await g.deployed(co))!), []);
  assert.deepEqual(await cliStatus(co.dir), []);
  assert.equal(await readFile(file('grafana/etc/run.state'), 'utf8'), 'kept by the service\n', 'the ignored file survived the revert');
});

test('matching: which edited files already are a commit\'s version', async () => {
  const { g, co, src, bare, head, file } = await checkedOut();
  const work = await WorkClone.open(bare, path.join(servers.tmp, `work-m-${seq}`));
  await work.write('grafana/etc/grafana.ini', '[server]\nhttp_port = 4000\n');
  const next = await work.commit('upstream change');
  await work.push();
  assert.equal(await g.fetch(src), next);
  const ini = 'grafana/etc/grafana.ini';
  await writeFile(file(ini), '[server]\nhttp_port = 4000\n'); // what next brings, applied by hand
  await writeFile(file('grafana/etc/new.conf'), 'x\n'); // next lacks it
  assert.deepEqual(await g.drift(co, (await g.deployed(co))!), ['grafana/etc/grafana.ini', 'grafana/etc/new.conf']);
  assert.deepEqual(await g.matching(co, next, [ini, 'grafana/etc/new.conf']), [ini]);
  assert.deepEqual(await g.matching(co, head, [ini]), [], 'not the deployed version');
  await writeFile(file(ini), '[server]\nhttp_port = 4001\n');
  assert.deepEqual(await g.matching(co, next, [ini]), [], 'a different edit');
  await rm(file('grafana/etc/new.conf'));
  assert.deepEqual(await g.matching(co, next, ['grafana/etc/new.conf']), ['grafana/etc/new.conf'], 'absent on both sides');
});

test('before the first checkout there is nothing deployed and so no drift', async () => {
  const { g, src } = await checkedOut();
  const co: CheckoutRef = { ...src, dir: path.join(servers.tmp, `fresh-${seq}`), links: LINKS };
  await g.prepare(co, undefined);
  await writeFile(path.join(co.dir, 'stray'), 'x\n');
  // drift is asked against the deployed commit only: with none, there is nothing to ask
  const head = await g.deployed(co);
  assert.deepEqual(head === undefined ? [] : await g.drift(co, head), []);
});

test('drift reads the work tree of one commit while the store moves on', async () => {
  const { g, co, src, bare, head } = await checkedOut();
  const work = await WorkClone.open(bare, path.join(servers.tmp, `work-${seq}`));
  await work.write('grafana/etc/grafana.ini', '[server]\nhttp_port = 4000\n');
  const next = await work.commit('upstream change');
  await work.push();
  assert.equal(await g.fetch(src), next);
  assert.notEqual(next, head);
  assert.deepEqual(await g.drift(co, (await g.deployed(co))!), [], 'drift is against the deployed commit, not the fetched tip');
});
