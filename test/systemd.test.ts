/**
 * SystemdManager (src/adapters/systemd/manager.ts) against a real systemd user manager on its own D-Bus
 * session bus (test/rig/systemd.ts), with marker units whose reload appends a line to a file.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import dbus from 'dbus-next';
import { ACTION_METHODS, SystemdManager, SystemdTimeoutError } from '../src/adapters/systemd/manager.js';
import { ACTION_ALIASES, ACTIONS } from '../src/config/config.js';
import { removeDirs, tmpDir } from './rig/repo.js';
import { canRunSandbox, reloadMarkerTemplate, reloadMarkerUnit, startUserManager, type UserManager } from './rig/systemd.js';

const sandbox = canRunSandbox();
const skip = sandbox.ok ? false : sandbox.why;
const opts = { skip, timeout: 30_000 };
const OPTS = { callTimeoutSeconds: 5, jobTimeoutSeconds: 10 };

let tmp = '';
let um: UserManager;
let sd: SystemdManager;
const marker = (name: string) => path.join(tmp, `${name}.marker`);
const lines = (name: string) => (existsSync(marker(name)) ? readFileSync(marker(name), 'utf8').split('\n').filter(Boolean) : []);

before(async () => {
  if (skip) return;
  tmp = await tmpDir('adapter-systemd');
  um = await startUserManager(path.join(tmp, 'um'));
  await um.writeUnit('marker.service', reloadMarkerUnit('marker', marker('marker')));
  await um.writeUnit('badreload.service', reloadMarkerUnit('badreload', marker('badreload'), { failReload: true }));
  await um.writeUnit('tmpl@.service', reloadMarkerTemplate('tmpl', marker('tmpl')));
  sd = new SystemdManager(() => dbus.sessionBus({ busAddress: um.busAddress }), OPTS);
});

after(async () => {
  sd?.close();
  await um?.stop();
  if (tmp) await removeDirs(tmp);
});

test('start: the job is done and the unit active', opts, async () => {
  assert.equal(await sd.isActive('marker.service'), false);
  const out = await sd.run('marker.service', 'start');
  assert.deepEqual(out, { result: 'done', activeState: 'active', unitResult: 'success' });
  assert.equal(await sd.isActive('marker.service'), true);
  assert.equal((await um.systemctl('is-active', 'marker.service')).trim(), 'active', 'systemctl agrees');
});

test('reload: done, and ExecReload ran exactly once', opts, async () => {
  const out = await sd.run('marker.service', 'reload');
  assert.equal(out.result, 'done');
  assert.equal(out.activeState, 'active');
  assert.deepEqual(lines('marker'), ['reloaded']);
});

test('a reload that fails: result "failed" with the unit state filled in', opts, async () => {
  assert.equal((await sd.run('badreload.service', 'start')).result, 'done');
  const out = await sd.run('badreload.service', 'reload');
  assert.equal(out.result, 'failed');
  assert.match(out.activeState, /^(active|failed|inactive)$/);
  assert.ok(out.unitResult !== '' && out.unitResult !== 'unknown', `Result: ${out.unitResult}`);
});

test('an unknown unit: the D-Bus error name is kept', opts, async () => {
  await assert.rejects(sd.run('no-such-unit.service', 'reload'), (err: Error & { type?: string }) => {
    const named = `${err.type ?? ''} ${err.message}`;
    assert.match(named, /org\.freedesktop\.systemd1\.(NoSuchUnit|LoadFailed)/, named);
    return true;
  });
  assert.equal(await sd.isActive('no-such-unit.service'), false);
  await assert.rejects(sd.run('marker.service', 'bogus'), /unknown action "bogus"/);
});

test('every action the config accepts maps to the Manager method systemctl uses for that verb', () => {
  // systemd src/systemctl/systemctl-start-unit.c, unit_actions[]: verb → method, aliases included
  const systemctl: Record<string, string> = {
    start: 'StartUnit', stop: 'StopUnit', condstop: 'StopUnit', reload: 'ReloadUnit', restart: 'RestartUnit',
    'try-restart': 'TryRestartUnit', condrestart: 'TryRestartUnit', 'reload-or-restart': 'ReloadOrRestartUnit',
    'try-reload-or-restart': 'ReloadOrTryRestartUnit', 'reload-or-try-restart': 'ReloadOrTryRestartUnit',
    condreload: 'ReloadOrTryRestartUnit', 'force-reload': 'ReloadOrTryRestartUnit',
  };
  assert.deepEqual({ ...ACTION_METHODS }, systemctl);
  for (const a of ACTIONS.filter((x) => x !== '')) assert.ok(Object.hasOwn(ACTION_METHODS, a), a);
  for (const [alias, verb] of Object.entries(ACTION_ALIASES)) assert.equal(ACTION_METHODS[alias], ACTION_METHODS[verb], `${alias} = ${verb}`);
});

test('force-reload (an alias) reloads an active unit and starts no inactive one, like systemctl force-reload', opts, async () => {
  await um.writeUnit('alias.service', reloadMarkerUnit('alias', marker('alias')));
  await sd.daemonReload();
  assert.equal((await sd.run('alias.service', 'force-reload')).result, 'done', 'try-: nothing to do for an inactive unit');
  assert.equal(await sd.isActive('alias.service'), false, 'not started');
  assert.equal((await sd.run('alias.service', 'start')).result, 'done');
  assert.equal((await sd.run('alias.service', 'force-reload')).result, 'done');
  assert.deepEqual(lines('alias'), ['reloaded'], 'ExecReload ran once, no restart');
  await um.systemctl('force-reload', 'alias.service');
  assert.deepEqual(lines('alias'), ['reloaded', 'reloaded'], 'systemctl does the same');
  await assert.rejects(sd.run('alias.service', 'constructor'), /unknown action "constructor"/, 'no Object.prototype member is a method');
});

test('enable a template instance, then start and reload it', opts, async () => {
  await sd.enable('tmpl@a.service');
  assert.equal((await um.systemctl('is-enabled', 'tmpl@a.service')).trim(), 'enabled');
  assert.ok(existsSync(path.join(um.unitDir, 'default.target.wants', 'tmpl@a.service')), 'wants symlink');
  assert.equal((await sd.run('tmpl@a.service', 'start')).result, 'done');
  assert.equal((await sd.run('tmpl@a.service', 'reload')).result, 'done');
  assert.deepEqual(lines('tmpl'), ['reloaded a']);
  await sd.daemonReload();
  assert.equal(await sd.isActive('tmpl@a.service'), true);
});

test('20 sequential reloads all resolve', opts, async (t) => {
  const before = lines('marker').length;
  const t0 = performance.now();
  for (let i = 0; i < 20; i++) assert.equal((await sd.run('marker.service', 'reload')).result, 'done');
  const ms = performance.now() - t0;
  t.diagnostic(`20 sequential reloads (run() incl. ActiveState/Result reads): ${ms.toFixed(0)} ms`);
  assert.equal(lines('marker').length, before + 20);
  assert.ok(ms < 10_000, `${ms} ms`);
});

test('close() then a further call reconnects', opts, async () => {
  sd.close();
  const out = await sd.run('marker.service', 'reload');
  assert.equal(out.result, 'done');
  sd.close();
  sd.close(); // idempotent
  assert.equal(await sd.isActive('marker.service'), true);
});

test('a dead bus address fails with a clear error within the timeout', opts, async () => {
  const dead = new SystemdManager(() => dbus.sessionBus({ busAddress: `unix:path=${tmp}/no-such-bus` }), { callTimeoutSeconds: 1, jobTimeoutSeconds: 1 });
  for (const call of [() => dead.run('marker.service', 'reload'), () => dead.isActive('marker.service')]) {
    const t0 = performance.now();
    await assert.rejects(call(), /D-Bus connection to systemd failed: .*ENOENT.*no-such-bus/);
    assert.ok(performance.now() - t0 < 900, 'at once, before the 1 s call timeout');
  }
  dead.close();
  // a bus that accepts the connection but never answers: the call timeout fires
  const conns = new Set<net.Socket>();
  const server = net.createServer((s) => conns.add(s.resume())); // reads (so it ends) but never answers
  await new Promise<void>((resolve) => server.listen(path.join(tmp, 'mute-bus'), resolve));
  const mute = new SystemdManager(() => dbus.sessionBus({ busAddress: `unix:path=${tmp}/mute-bus` }), { callTimeoutSeconds: 0.5 });
  const t0 = performance.now();
  await assert.rejects(mute.isActive('marker.service'), (err: unknown) => err instanceof SystemdTimeoutError && /no answer from systemd within 0\.5s/.test(err.message));
  assert.ok(performance.now() - t0 < 1500);
  mute.close();
  for (const c of conns) c.destroy(); // nothing may keep this test file's process alive
  server.close();
});

test('a daemon-reload that times out on a busy manager is asked again on a fresh connection before it counts as failed', opts, async () => {
  const slow = new SystemdManager(() => dbus.sessionBus({ busAddress: um.busAddress }), { callTimeoutSeconds: 1, jobTimeoutSeconds: 5 });
  try {
    await slow.daemonReload(); // connected
    process.kill(um.pid, 'SIGSTOP'); // the manager is busy: it answers nothing for 1.6 s
    const resumed = new Promise<void>((r) => setTimeout(() => {
      process.kill(um.pid, 'SIGCONT');
      r();
    }, 1600));
    try {
      await slow.daemonReload();
    } finally {
      await resumed;
    }
    // and one that stays stopped past both calls fails with the timeout
    process.kill(um.pid, 'SIGSTOP');
    try {
      await assert.rejects(slow.daemonReload(), SystemdTimeoutError);
    } finally {
      process.kill(um.pid, 'SIGCONT');
    }
  } finally {
    slow.close();
  }
  await sd.daemonReload(); // the shared manager still works
});
