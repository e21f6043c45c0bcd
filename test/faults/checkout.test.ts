/**
 * Fault suite (docs/reliability.md): the checkout and the pins it deploys, on the real rig (git
 * smart-HTTP on loopback, a systemd user manager on its own D-Bus, bind mounts in the test run's
 * private mount namespace, the real daemon binary).
 * - `kill -9` while a commit that adds thousands of files is being checked out: after a restart the
 *   service ends OK at the tip, the mount target holds exactly the tip's tree, nothing is taken for
 *   local edits (git-apply-marker.ts).
 * - A rollback pin whose object store is gone (a reinstall, a disk swap: a `--state-dir` holding
 *   only the state file), with the upstream down at start and then up: the pin is fetched and
 *   deployed, and the service stays frozen there.
 * - A rollback to a commit whose files the partial store never fetched (src/adapters/git/on-demand.ts),
 *   with the upstream down: DIFF naming what is missing, the live files untouched, then the pin is
 *   deployed once the upstream is back, without a restart.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { readdir, rm } from 'node:fs/promises';
import path from 'node:path';
import { reloadMarkerUnit } from '../rig/systemd.js';
import { git } from '../rig/repo.js';
import { isPass, isState, lines, waitFor, World, worldPerFile } from '../e2e/world.js';
import type { LogLine } from '../e2e/daemon.js';

let w: World;
const { skip } = worldPerFile('gitopper-fault-checkout', (x) => (w = x));

/** Every file below `dir` (relative paths, sorted), skipping `.git`. */
async function filesBelow(dir: string, rel = ''): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(path.join(dir, rel), { withFileTypes: true })) {
    const r = rel ? `${rel}/${e.name}` : e.name;
    if (e.name === '.git') continue;
    if (e.isDirectory()) out.push(...(await filesBelow(dir, r)));
    else out.push(r);
  }
  return out.sort();
}

/** The files of `commit` under `prefix` (relative to it, sorted) per the git CLI. */
async function treeOf(commit: string, prefix: string): Promise<string[]> {
  const out = await w.work.git('ls-tree', '-r', '--name-only', commit, '--', prefix);
  return out.split('\n').filter(Boolean).map((p) => p.slice(prefix.length + 1)).sort();
}

/** Number of entries in `dir` (0 when it does not exist). */
function count(dir: string): number {
  try {
    return readdirSync(dir).length;
  } catch {
    return 0;
  }
}

test('a rollback pin with an emptied object store and the upstream down at start: DIFF saying why, then deployed and still frozen once the upstream is back', { skip, timeout: 120_000 }, async (t) => {
  const marker = path.join(w.dir, 'pin.reloads');
  await w.um.writeUnit('grafana-server.service', reloadMarkerUnit('grafana-server', marker));
  let d = await w.daemon('pin', w.config('pin', w.grafana('pin')));
  t.after(() => d.stop('SIGKILL'));
  await d.waitLog((l) => l.msg === 'ready', 'first pass');
  const ini = path.join(w.dir, 'pin', 'etc', 'grafana', 'grafana.ini');
  const old = (await w.work.head()).trim();
  const oldBytes = readFileSync(ini, 'utf8');
  await w.work.write('grafana/etc/grafana.ini', '[server]\nhttp_port = 4242\n');
  const tip = await w.work.commit('pin: new port');
  await w.work.push();
  await d.waitLog(isPass('grafana-server', tip), 'the pass at the tip', 60_000);
  let host = `@${await d.apiUrl()}`;
  await w.ctl('do', 'rollback', host, 'grafana-server', old.slice(0, 8));
  assert.equal(readFileSync(ini, 'utf8'), oldBytes);
  assert.equal(await d.stop('SIGTERM'), 0);

  // a reinstall: the object stores are gone, only the state file (and the checkout) remain
  await rm(path.join(w.dir, 'pin', 'state', 'upstreams'), { recursive: true, force: true });
  w.server.down();
  try {
    d = await w.daemon('pin', undefined);
    const diff = await d.waitLog(isState('grafana-server', 'DIFF'), 'DIFF while the upstream is down', 30_000);
    assert.match(String(diff.info), new RegExp(`^pinned commit ${old.slice(0, 8)} is not in the object store yet; fetching main from `));
  } finally {
    w.server.up();
  }
  const from = d.lines.length;
  await d.waitLog(isState('grafana-server', 'FREEZE'), 'FREEZE at the pin', 30_000, from);
  host = `@${await d.apiUrl()}`;
  const listed = JSON.parse(await w.ctl('-m', 'list', 'service', host, 'grafana-server')) as { services: { hash: string; state: string; stateinfo: string }[] };
  assert.deepEqual(listed.services.map((s) => [s.state, s.hash, s.stateinfo]), [['FREEZE', old.slice(0, 8), `ROLLBACK: ${old.slice(0, 8)}`]]);
  assert.equal(readFileSync(ini, 'utf8'), oldBytes, 'the pinned bytes at the mount target, not the tip');
  // and it stays there: later polls leave a frozen service alone
  await d.waitLog(isPass('grafana-server'), 'no pass for a frozen service', 3_000, d.lines.length).then(
    () => assert.fail('a frozen service was reconciled by a poll'),
    () => undefined,
  );
  assert.equal(readFileSync(ini, 'utf8'), oldBytes);
});

test('kill -9 during a checkout of thousands of files: after a restart the service is OK at the tip and the target holds exactly its tree', { skip, timeout: 180_000 }, async (t) => {
  const marker = path.join(w.dir, 'crash.reloads');
  await w.um.writeUnit('grafana-server.service', reloadMarkerUnit('grafana-server', marker));
  let d = await w.daemon('crash', w.config('crash', w.grafana('crash')));
  t.after(() => d.stop('SIGKILL'));
  await d.waitLog((l) => l.msg === 'ready', 'first pass');
  const checkout = path.join(w.dir, 'crash', 'grafana1', 'grafana-server');
  const target = path.join(w.dir, 'crash', 'etc', 'grafana');

  // a commit adding 3,000 files under a link; kill the daemon once part of them is written (a new
  // directory per try, at most three tries: a try whose checkout finished before the kill is retried)
  let caught = -1;
  let tip = '';
  for (let attempt = 0; attempt < 3 && caught < 0; attempt++) {
    const many = path.join(checkout, 'grafana', 'etc', `many${attempt}`);
    for (let i = 0; i < 3000; i++) await w.work.write(`grafana/etc/many${attempt}/f${i}.txt`, `attempt ${attempt} file ${i}\n${'x'.repeat(200)}\n`);
    tip = await w.work.commit(`3,000 files, attempt ${attempt}`);
    await w.work.push();
    const t0 = Date.now();
    while (Date.now() - t0 < 30_000) {
      const n = count(many);
      if (n > 50 && n < 2900) {
        caught = n;
        d.stop('SIGKILL');
        await d.exited();
        break;
      }
      if (n >= 2900) break;
      await new Promise((r) => setImmediate(r));
    }
    if (caught < 0) await d.waitLog(isPass('grafana-server', tip), `pass at attempt ${attempt}`, 60_000);
  }
  assert.ok(caught >= 0, 'the daemon was killed in the middle of a checkout');
  t.diagnostic(`killed with ${caught} of 3,000 files written`);
  assert.ok(existsSync(path.join(checkout, '.git', 'gitopper-applying')), 'the interrupted checkout left its marker');
  const reloadsBefore = lines(marker);

  // restart: the interrupted checkout is undone and applied again; nothing is drift
  d = await w.daemon('crash', undefined);
  const undone = await d.waitLog((l) => l.msg === 'an interrupted checkout was undone: the files it had written are back at the deployed commit', 'the undo', 60_000);
  assert.equal(undone.interrupted, tip);
  await d.waitLog(isPass('grafana-server', tip), 'a pass at the tip', 60_000);
  const host = `@${await d.apiUrl()}`;
  const listed = JSON.parse(await w.ctl('-m', 'list', 'service', host, 'grafana-server')) as { services: { hash: string; state: string; stateinfo: string }[] };
  assert.deepEqual(listed.services.map((s) => [s.state, s.hash, s.stateinfo]), [['OK', tip.slice(0, 8), '']]);
  assert.deepEqual(await filesBelow(target), await treeOf(tip, 'grafana/etc'), 'the mount target holds exactly the tip tree');
  assert.equal(existsSync(path.join(checkout, '.git', 'gitopper-applying')), false);
  await waitFor(() => lines(marker) > reloadsBefore, 'the unit reloaded for the applied files');
});

test('a rollback whose blobs the partial store lacks, with the upstream down: DIFF saying so, files untouched, deployed once the upstream is back', { skip, timeout: 120_000 }, async (t) => {
  await w.um.writeUnit('grafana-server.service', reloadMarkerUnit('grafana-server', path.join(w.dir, 'lazy.reloads')));
  const d = await w.daemon('lazy', w.config('lazy', w.grafana('lazy')));
  t.after(() => d.stop('SIGTERM'));
  await d.waitLog((l) => l.msg === 'ready', 'first pass');
  const ini = path.join(w.dir, 'lazy', 'etc', 'grafana', 'grafana.ini');
  const tipBytes = readFileSync(ini, 'utf8');
  const shas = (await w.work.git('log', '--format=%H', '--', 'grafana/etc/grafana.ini')).trim().split('\n');
  const old = shas[1]!;
  const oldBytes = await w.work.git('show', `${old}:grafana/etc/grafana.ini`);
  assert.notEqual(oldBytes, tipBytes);
  // the store is a partial clone: the old grafana.ini was never fetched
  const stores = path.join(w.dir, 'lazy', 'state', 'upstreams');
  const store = path.join(stores, readdirSync(stores).find((f) => f.endsWith('.git'))!);
  const oldBlob = (await w.work.git('rev-parse', `${old}:grafana/etc/grafana.ini`)).trim();
  // (rev-list --missing=print: `git cat-file -e` would fetch it from the promisor remote itself)
  const lacks = async () => (await git(['rev-list', '--objects', '--missing=print', old], { cwd: store })).split('\n').includes(`?${oldBlob}`);
  assert.ok(await lacks(), 'the old blob is in the store before anyone needed it');

  const host = `@${await d.apiUrl()}`;
  const from = d.lines.length;
  w.server.down();
  try {
    await w.ctl('do', 'rollback', host, 'grafana-server', old.slice(0, 8)).catch(() => undefined); // the answer may be an error: the state says what happened
    // (a poll may fail its fetch first: DIFF naming the fetch; the rollback's own DIFF follows)
    const lacking = (l: LogLine) => isState('grafana-server', 'DIFF')(l) && /are not in the store yet and fetching them failed/.test(String(l.info));
    const diff = await d.waitLog(lacking, 'DIFF naming the blobs the rollback lacks', 30_000, from);
    assert.match(String(diff.info), new RegExp(`^checking out ${old.slice(0, 8)}: the files of commit ${old.slice(0, 12)} \\(\\d+ blobs? under `));
    assert.equal(readFileSync(ini, 'utf8'), tipBytes, 'a live file changed while its new version could not be fetched');
  } finally {
    w.server.up();
  }
  await d.waitLog(isState('grafana-server', 'FREEZE'), 'FREEZE at the pin once the upstream is back', 60_000, from);
  assert.equal(readFileSync(ini, 'utf8'), oldBytes, 'the pinned bytes at the mount target');
  assert.equal(await lacks(), false, 'the old blob was not fetched');
  await git(['fsck', '--no-progress'], { cwd: store });
});
