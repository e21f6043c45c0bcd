/**
 * Issue 11, scenario 1 (part): `kill -9` of the real daemon during a store's first fetch (in its
 * child process, `cmd/gitopper-fetch.ts`) and during the bind mounts of a startup pass, then a
 * restart on the same state dir. Real rig: git smart-HTTP on loopback (behind a proxy that can hold
 * the pack download), a systemd user manager, bind mounts in the test run's mount namespace.
 * (The kill during a big checkout is in another file.)
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readdirSync, writeFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import type { Daemon } from '../e2e/daemon.js';
import { reloadMarkerUnit } from '../rig/systemd.js';
import { isPass, waitFor, World, worldPerFile } from '../e2e/world.js';
import { childrenOf, filesMatching, filesUnder, isRunning, manyServices, mountsAt, serviceNames, sleep, startGateProxy, targetsOf, treeAt } from './lib/c-rig.js';

let w: World;
const { skip } = worldPerFile('gitopper-faults-crash', (x) => (w = x));
const run = promisify(execFile);

/** Every file below `dir` whose name ends in `.lock` (a lock left by a killed process would show here). */
function lockFiles(dir: string): string[] {
  return (readdirSync(dir, { recursive: true }) as string[]).filter((f) => f.endsWith('.lock'));
}

test('kill -9 during a first fetch of a whole history: the orphaned fetch child exits, its half pack and temp file never block, the restart ends OK at the tip', { skip, timeout: 90_000 }, async (t) => {
  const proxy = await startGateProxy(w.server.url(''));
  t.after(() => proxy.close());
  // a whole history goes to a child: an upstream that cannot filter (a filtered first fetch runs in the daemon)
  const bare = path.join(w.dir, 'git', 'gitopper-config.git');
  await run('git', ['config', 'uploadpack.allowFilter', 'false'], { cwd: bare });
  t.after(() => run('git', ['config', 'uploadpack.allowFilter', 'true'], { cwd: bare }));
  const marker = path.join(w.dir, 'crash1.reloads');
  await w.um.writeUnit('grafana-server.service', reloadMarkerUnit('grafana-server', marker));
  const toml = w.config('crash1', w.grafana('crash1')).replace(w.server.url('gitopper-config.git'), proxy.url('gitopper-config.git'));
  proxy.hold();
  const d = await w.daemon('crash1', toml);
  t.after(() => d.stop('SIGKILL'));
  await waitFor(() => proxy.heldCount >= 1, 'the first fetch to ask for its pack', 20_000);
  const kids = childrenOf(d.pid, 'gitopper-fetch');
  assert.equal(kids.length, 1, 'the first fetch runs in one child process');
  assert.equal(await d.stop('SIGKILL'), null, 'killed');
  // the child lost its parent mid-fetch (waiting for the pack): it must not linger
  await waitFor(() => !isRunning(kids[0]!), 'the orphaned fetch child to exit', 15_000);

  // what a fetch killed while writing leaves: a .pack without .idx and a temporary pack file
  const upstreams = path.join(w.dir, 'crash1', 'state', 'upstreams');
  const stores = filesMatching(upstreams, /\.git$/);
  assert.equal(stores.length, 1, 'the child had made the store');
  const packDir = path.join(upstreams, stores[0]!, 'objects', 'pack');
  const half = `pack-${'ab'.repeat(20)}`;
  writeFileSync(path.join(packDir, `${half}.pack`), 'PACK\0\0\0\x02 truncated');
  writeFileSync(path.join(packDir, `${half}.pack.tmp-99999`), 'PACK\0\0\0\x02 truncated');

  proxy.release();
  const tip = await w.work.head();
  const d2 = await w.daemon('crash1', undefined);
  t.after(() => d2.stop());
  const ready = await d2.waitLog((l) => l.msg === 'ready', 'ready after the restart', 30_000);
  assert.deepEqual(ready.services, [{ service: 'grafana-server', state: 'OK', commit: tip.slice(0, 8) }]);
  for (const [target, link] of [['etc/grafana', 'grafana/etc'], ['var/lib/grafana/dashboards', 'grafana/dashboards']] as const) {
    const at = path.join(w.dir, 'crash1', target);
    assert.deepEqual(filesUnder(at), await treeAt((...a) => w.work.git(...a), tip, link), `${target} shows the tip's tree`);
    assert.equal(mountsAt(at), 1, `${target} mounted once`);
  }
  assert.equal((await w.um.systemctl('is-active', 'grafana-server.service')).trim(), 'active');
  assert.deepEqual(lockFiles(path.join(w.dir, 'crash1')), [], 'no lock file anywhere');
  assert.equal(await d2.stop('SIGTERM'), 0);
});

/**
 * Start the daemon `kills` times on the same state dir, each time after a new commit under both links
 * (when `newCommit`) and with every target unmounted (as after a reboot), and kill -9 it as soon as some
 * mount exists (bounded by 20 s). Resolves with the number of mounts present at each kill.
 */
async function killDuringMounts(t: { after: (fn: () => unknown) => void }, name: string, targets: Array<{ target: string }>, kills: number, newCommit: boolean): Promise<number[]> {
  const mounted = () => targets.reduce((n, x) => n + mountsAt(x.target), 0);
  const hits: number[] = [];
  for (let attempt = 0; attempt < kills; attempt++) {
    if (newCommit) {
      await w.work.write('grafana/etc/grafana.ini', `[server]\nhttp_port = ${4100 + attempt}\n`);
      await w.work.write('prometheus/etc/prometheus.yml', `global:\n  scrape_interval: ${10 + attempt}s\n`);
      await w.work.commit(`${name}: attempt ${attempt}`);
      await w.work.push();
    }
    for (const x of targets) while (mountsAt(x.target) > 0) await run('umount', [x.target]);
    const d = await w.daemon(name, undefined);
    t.after(() => d.stop('SIGKILL'));
    const t0 = Date.now();
    let n = 0;
    while (Date.now() - t0 < 20_000) {
      n = mounted();
      if (n > 0) break;
      await sleep(2);
    }
    await d.stop('SIGKILL');
    hits.push(n);
  }
  return hits;
}

/** Start once more (after a final commit), wait for ready, and check every service and target. */
async function restartAndCheck(t: { after: (fn: () => unknown) => void }, name: string, names: string[], targets: Array<{ target: string; link: string }>): Promise<Daemon> {
  await w.work.write('grafana/etc/grafana.ini', `[server]\nhttp_port = 4200\n# ${name}\n`);
  const tip = await w.work.commit(`${name}: final`);
  await w.work.push();
  const d = await w.daemon(name, undefined);
  t.after(() => d.stop('SIGKILL'));
  const ready = await d.waitLog((l) => l.msg === 'ready', 'ready after the kills', 60_000);
  assert.deepEqual(
    (ready.services as Array<{ service: string; state: string; commit: string }>).map((s) => [s.service, s.state, s.commit]),
    names.map((s) => [s, 'OK', tip.slice(0, 8)]),
    `every service OK at the tip; state lines: ${JSON.stringify(d.lines.filter((l) => l.msg === 'state').map((l) => [l.service, l.state, l.info]))}`,
  );
  const grafana = await treeAt((...a) => w.work.git(...a), tip, 'grafana/etc');
  const prom = await treeAt((...a) => w.work.git(...a), tip, 'prometheus/etc');
  for (const x of targets) {
    assert.equal(mountsAt(x.target), 1, `${x.target}: mounted once, no stacked mount`);
    assert.deepEqual(filesUnder(x.target), x.link === 'grafana/etc' ? grafana : prom, `${x.target} shows the tip's tree`);
  }
  assert.deepEqual(lockFiles(path.join(w.dir, name)), [], 'no lock file anywhere');
  // a later pass changes nothing and stacks nothing
  await d.waitLog(isPass(names[0]!, tip), 'a later pass', 15_000, d.lines.length);
  assert.equal(targets.reduce((n, x) => n + mountsAt(x.target), 0), targets.length);
  return d;
}

test('kill -9 during the bind mounts of a startup pass (16 services x 2 mounts, 3 kills, mounts gone each time as after a reboot): the restart ends OK at the tip, every target mounted once with the tip tree', { skip, timeout: 120_000 }, async (t) => {
  const name = 'crash2';
  const names = serviceNames(16);
  const targets = names.flatMap((s) => targetsOf(w, name, s));
  const first = await w.daemon(name, w.config(name, manyServices(w, name, names.length)));
  t.after(() => first.stop('SIGKILL'));
  await first.waitLog((l) => l.msg === 'ready', 'first setup', 60_000);
  await first.stop('SIGKILL');
  // checkouts are at the tip: each startup pass only mounts, and the kill lands among the mounts
  const hits = await killDuringMounts(t, name, targets, 3, false);
  t.diagnostic(`mounts present when each kill -9 landed (of ${targets.length}): ${hits.join(', ')}`);
  const d = await restartAndCheck(t, name, names, targets);
  assert.equal(await d.stop('SIGTERM'), 0);
});

test(
  'kill -9 during the checkouts and mounts of 16 services (a new commit each time): the restart ends OK at the tip',
  { skip, timeout: 120_000 },
  async (t) => {
    const name = 'crash3';
    const names = serviceNames(16);
    const targets = names.flatMap((s) => targetsOf(w, name, s));
    await writeFile(path.join(w.dir, `${name}.toml`), w.config(name, manyServices(w, name, names.length)));
    const hits = await killDuringMounts(t, name, targets, 3, true);
    t.diagnostic(`mounts present when each kill -9 landed (of ${targets.length}): ${hits.join(', ')}`);
    const d = await restartAndCheck(t, name, names, targets);
    assert.equal(await d.stop('SIGTERM'), 0);
  },
);
