/**
 * Issue 11, scenario 4: systemd faults under the real daemon. The session bus (its dbus.service) and
 * then the whole user manager restarted under it; a unit whose reload fails; a unit that does not
 * exist; a unit that crashes in a restart loop. Real systemd user managers on their own D-Bus.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { reloadMarkerUnit, startUserManager } from '../rig/systemd.js';
import { isPass, isState, lines, waitFor, World, worldPerFile } from '../e2e/world.js';
import { daemonWithEnv, sleep } from './lib/c-rig.js';

let w: World;
const { skip } = worldPerFile('gitopper-faults-systemd', (x) => (w = x));

/** Commit and push a new grafana.ini (so every service on grafana/etc has a change); resolves with the sha. */
async function pushChange(tag: string): Promise<string> {
  await w.work.write('grafana/etc/grafana.ini', `[server]\n# ${tag} ${Date.now()}\n`);
  const sha = await w.work.commit(`systemd faults: ${tag}`);
  await w.work.push();
  return sha;
}

test('D-Bus and then the whole systemd manager restarted under the daemon: it reconnects, a reload missed while systemd was gone is retried, and a later change reloads the unit', { skip, timeout: 150_000 }, async (t) => {
  const dir = path.join(w.dir, 'um-restart');
  let um = await startUserManager(dir);
  t.after(() => um.stop());
  const marker = path.join(w.dir, 'sd-bus.reloads');
  await um.writeUnit('sd-bus.service', reloadMarkerUnit('sd-bus', marker));
  const d = await daemonWithEnv(w, 'bus', w.config('bus', w.etcService('bus', 'sd-bus', 'reload')), um.env);
  t.after(() => d.stop());
  await d.waitLog((l) => l.msg === 'ready', 'ready');
  assert.equal((await um.systemctl('is-active', 'sd-bus.service')).trim(), 'active');

  // 1. the bus goes away and comes back (the manager stays): a later change reloads
  await um.systemctl('stop', 'dbus.service');
  await sleep(500);
  await um.systemctl('start', 'dbus.service');
  const c1 = await pushChange('after the bus restart');
  await waitFor(() => lines(marker) === 1, 'the reload after the bus restart', 40_000).catch((err: Error) => {
    throw new Error(`${err.message}; state lines: ${JSON.stringify(d.lines.filter((l) => l.msg === 'state').map((l) => [l.state, l.info]))}`);
  });
  await d.waitLog(isPass('sd-bus', c1), 'a pass at c1');

  // 2. the whole manager goes away; a change meanwhile cannot be told to systemd: BROKEN, saying why
  await um.stop();
  const from = d.lines.length;
  const c2 = await pushChange('while the manager is down');
  const broken = await d.waitLog(isState('sd-bus', 'BROKEN'), 'BROKEN while systemd is gone', 40_000, from);
  assert.match(String(broken.info), /systemd|D-Bus/i, 'the state info says systemd could not be reached');
  t.diagnostic(`while the manager was down: ${String(broken.info)}`);

  // 3. a new manager on the same bus address; the unit comes back up as it would at boot
  um = await startUserManager(dir);
  await um.systemctl('start', 'sd-bus.service');
  const from2 = d.lines.length;
  await d.waitLog(isState('sd-bus', 'OK'), 'OK once systemd is back (the missed reload retried)', 40_000, from2);
  await waitFor(() => lines(marker) === 2, 'the retried reload');
  const c3 = await pushChange('after the manager restart');
  await waitFor(() => lines(marker) === 3, 'the reload of a later change', 40_000);
  await d.waitLog(isPass('sd-bus', c3), 'a pass at c3');
  assert.notEqual(c2, c3);
  assert.equal(await d.stop('SIGTERM'), 0);
});

test('a unit whose reload fails (ExecReload=/bin/false): BROKEN with the job result in the state info, retried every pass, OK once the unit is fixed', { skip, timeout: 90_000 }, async (t) => {
  const marker = path.join(w.dir, 'sd-fail.reloads');
  await w.um.writeUnit('sd-fail.service', reloadMarkerUnit('sd-fail', marker, { failReload: true }));
  const d = await w.daemon('fail', w.config('fail', w.etcService('fail', 'sd-fail', 'reload')));
  t.after(() => d.stop());
  await d.waitLog((l) => l.msg === 'ready', 'ready');
  const from = d.lines.length;
  await pushChange('reload fails');
  const broken = await d.waitLog(isState('sd-fail', 'BROKEN'), 'BROKEN', 30_000, from);
  assert.match(String(broken.info), /^systemd reload sd-fail\.service: job failed \(ActiveState=active, Result=success\)$/);
  // retried: a later pass runs the reload again (and fails again: no new state line, but a new job)
  const retried = await d.waitLog((l) => l.msg === 'pass applied' && l.service === 'sd-fail' && (l.job as { result?: string } | undefined)?.result === 'failed', 'a retried reload', 30_000, d.lines.indexOf(broken) + 1);
  assert.deepEqual(retried.actions, ['daemon-reload', 'reload']);
  // fixed: the next retry succeeds
  await w.um.writeUnit('sd-fail.service', reloadMarkerUnit('sd-fail', marker));
  await d.waitLog(isState('sd-fail', 'OK'), 'OK after the fix', 30_000, d.lines.indexOf(retried) + 1);
  assert.equal(lines(marker), 1, 'the fixed reload ran once');
  assert.equal(await d.stop('SIGTERM'), 0);
});

test(
  'a unit that does not exist: BROKEN naming the unit and systemd\'s NoSuchUnit, and it stays BROKEN (retried) until the unit exists',
  { skip, timeout: 90_000 }, async (t) => {
  const marker = path.join(w.dir, 'sd-missing.reloads');
  const d = await w.daemon('missing', w.config('missing', w.etcService('missing', 'sd-missing', 'reload')));
  t.after(() => d.stop());
  const broken = await d.waitLog(isState('sd-missing', 'BROKEN'), 'BROKEN', 30_000);
  assert.match(String(broken.info), /sd-missing\.service/);
  assert.match(String(broken.info), /NoSuchUnit|not found/);
  // later passes (quiet polls and full passes, -t 1s) must not turn it OK while the unit still does not exist
  const from = d.lines.length;
  await d.waitLog((l) => isPass('sd-missing')(l) && l.msg !== 'pass skipped', 'a later full pass', 20_000, from);
  await sleep(1500);
  const after = d.lines.slice(from).filter((l) => l.msg === 'state' && l.service === 'sd-missing');
  assert.deepEqual(after.map((l) => l.state), [], `no transition while the unit is missing (saw ${JSON.stringify(after.map((l) => [l.state, l.info]))})`);
  // the unit appears: the next pass starts it and the service is OK
  await w.um.writeUnit('sd-missing.service', reloadMarkerUnit('sd-missing', marker));
  await d.waitLog(isState('sd-missing', 'OK'), 'OK once the unit exists', 30_000, from);
  assert.equal((await w.um.trySystemctl('is-active', 'sd-missing.service')).stdout.trim(), 'active', 'the agent started the unit it had mounted for');
  assert.equal(await d.stop('SIGTERM'), 0);
});

/** A unit that crashes 0.2 s after each start and is restarted 0.1 s later, with no start limit. */
const CRASH_LOOP = `[Unit]
Description=gitopper faults: crash loop
StartLimitIntervalSec=0

[Service]
Type=simple
ExecStart=/bin/sh -c 'sleep 0.2; exit 3'
Restart=always
RestartSec=100ms
`;

test('a unit that crashes in a restart loop (Restart=always), no health check: the agent does not hang, the accepted restart job counts as OK (as docs/daemon.md defines OK), passes go on and the API answers', { skip, timeout: 90_000 }, async (t) => {
  await w.um.writeUnit('sd-loop2.service', CRASH_LOOP);
  const d = await w.daemon('loop2', w.config('loop2', w.etcService('loop2', 'sd-loop2', 'restart')));
  t.after(() => d.stop());
  await d.waitLog((l) => l.msg === 'ready', 'ready', 60_000);
  const from = d.lines.length;
  const c = await pushChange('crash loop');
  const applied = await d.waitLog((l) => l.msg === 'pass applied' && l.service === 'sd-loop2' && l.commit === c, 'sd-loop2 restarted', 30_000, from);
  assert.deepEqual(applied.job, { action: 'restart', result: 'done' });
  const from2 = d.lines.length;
  await d.waitLog(isPass('sd-loop2'), 'a later pass of sd-loop2', 20_000, from2);
  const res = await w.fetch(`${await d.apiUrl()}/list/service/sd-loop2`);
  assert.equal(res.status, 200);
  assert.deepEqual(((await res.json()) as { services: Array<{ service: string; state: string }> }).services.map((s) => [s.service, s.state]), [['sd-loop2', 'OK']]);
  assert.equal(await d.stop('SIGTERM'), 0);
});

test(
  'a unit that crashes in a restart loop with health.grace: BROKEN naming the restarts, and it stays BROKEN while the unit still crash-loops',
  { skip, timeout: 90_000 },
  async (t) => {
    await w.um.writeUnit('sd-loop.service', CRASH_LOOP);
    const d = await w.daemon('loop', w.config('loop', w.etcService('loop', 'sd-loop', 'restart', 'health = { grace = "2s" }')));
    t.after(() => d.stop());
    const broken = await d.waitLog(isState('sd-loop', 'BROKEN'), 'sd-loop BROKEN', 60_000);
    assert.match(String(broken.info), /sd-loop\.service restarted \d+ time\(s\)/);
    const from = d.lines.length;
    await d.waitLog((l) => isPass('sd-loop')(l) && l.msg !== 'pass skipped', 'a later full pass', 20_000, from);
    await sleep(1500);
    const after = d.lines.slice(from).filter((l) => l.msg === 'state' && l.service === 'sd-loop');
    assert.deepEqual(after.map((l) => [l.state, l.info]), [], 'no transition to OK while the unit still crash-loops');
    assert.equal(await d.stop('SIGTERM'), 0);
  },
);
