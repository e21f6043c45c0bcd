/** Health checks, automatic rollback and hooks, over fakes (the real parts are in e2e-health). */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { agentSetup } from './fakes/agent-setup.js';
import { checkHealth } from '../src/core/health-check.js';
import { reconcile } from '../src/core/reconcile.js';
import type { HealthFailure } from '../src/core/health-check.js';
import type { ServiceSpec } from '../src/config/config.js';
import type { Owner, UserPort } from '../src/ports/host.js';
import { FakeCommands, FakeGit, FakeMounts, FakeProbe, FakeStage, FakeUnits, FakeUsers, FastClock, until } from './fakes/ports.js';
import { spec } from './fakes/spec.js';

const health = { http: 'http://127.0.0.1:3000/health', timeoutSeconds: 1, retries: 3, graceSeconds: 2 };

function world(s: ServiceSpec, users: UserPort = new FakeUsers()) {
  const git = new FakeGit();
  git.push('c1', { 'grafana/etc/grafana.ini': 'v1' });
  const units = new FakeUnits();
  const probe = new FakeProbe();
  const commands = new FakeCommands();
  const rollbacks: { failure: HealthFailure; from: string; to: string | undefined }[] = [];
  const events = { fetched: () => {}, reconciled: () => {}, status: () => {}, upstream: () => {}, rolledBack: (_s: string, failure: HealthFailure, from: string, to: string | undefined) => rollbacks.push({ failure, from, to }) };
  const deps = { git, mounts: new FakeMounts(), units, users, clock: new FastClock(), probe, commands, stage: new FakeStage(), scratchDir: '/var/lib/gitopper/stage', random: () => 0, intervalSeconds: 60, events, hostname: 'h' };
  return { git, units, probe, commands, rollbacks, deps, agent: agentSetup([s], deps).agent };
}

test('checkHealth: unit failed, restarting, exec failing, http 500, healthy', async () => {
  const w = world(spec());
  const d = { units: w.units, commands: w.commands, probe: w.probe, clock: new FastClock() };
  w.units.states.set('u.service', { activeState: 'failed', subState: 'failed', nRestarts: 0 });
  assert.deepEqual(await checkHealth(health, 'u.service', undefined, '/', d), { kind: 'unit', reason: 'u.service failed after the change (failed)' });
  let n = 0;
  w.units.status = async () => ({ activeState: 'active', subState: 'running', nRestarts: n++ > 1 ? 2 : 0 });
  assert.equal((await checkHealth(health, 'u.service', undefined, '/', d))?.kind, 'unit');
  w.units.status = async () => ({ activeState: 'active', subState: 'running', nRestarts: 0 });
  w.commands.answer = () => ({ code: 1, output: 'connection refused\n' });
  const exec = await checkHealth({ ...health, exec: ['/bin/check'] }, 'u.service', undefined, '/', d);
  assert.equal(exec?.kind, 'exec');
  assert.match(exec!.reason, /health command \/bin\/check exit 1: connection refused \(3 attempts\)/);
  assert.equal(w.commands.calls.length, 3);
  w.probe.status = 500;
  assert.match((await checkHealth(health, 'u.service', undefined, '/', d))!.reason, /health URL http:\/\/127\.0\.0\.1:3000\/health answered 500 \(3 attempts\)/);
  w.probe.status = 204;
  assert.equal(await checkHealth(health, 'u.service', undefined, '/', d), undefined);
});

test('a failing health check rolls back to the last good commit and freezes with AUTO-ROLLBACK', async () => {
  const w = world(spec({ health }));
  w.agent.start();
  await w.agent.ready();
  assert.equal(w.agent.service('grafana-server').state, 'OK');
  w.git.push('c2', { 'grafana/etc/grafana.ini': 'v2' });
  w.probe.status = 500;
  w.agent.pull('grafana-server');
  await until(() => w.agent.service('grafana-server').state === 'FREEZE', 'auto rollback');
  const s = w.agent.service('grafana-server');
  assert.equal(s.commit, 'c1');
  assert.match(s.info, /^AUTO-ROLLBACK from c2 to c1: health URL .* answered 500/);
  assert.equal(w.rollbacks[0]?.failure.kind, 'http');
  assert.deepEqual(w.agent.history('grafana-server').slice(0, 2).map((h) => [h.trigger, h.commit]), [['auto-rollback', 'c1'], ['pull', 'c2']]);
  const bad = w.agent.history('grafana-server')[1]!;
  assert.equal(bad.state, 'BROKEN', 'the commit that failed its health check is not recorded as OK');
  assert.match(bad.info, /^health check failed: health URL .* answered 500/);
  // stays frozen (mode freeze) when a newer commit arrives
  w.probe.status = 200;
  w.git.push('c3', { 'grafana/etc/grafana.ini': 'v3' });
  w.agent.pull('grafana-server');
  await new Promise((r) => setTimeout(r, 20));
  assert.equal(w.agent.service('grafana-server').commit, 'c1');
  await w.agent.unfreeze('grafana-server', { by: 'ops' });
  assert.equal(w.agent.service('grafana-server').commit, 'c3');
  await w.agent.stop();
});

test('a health command runs as the service user or not at all: a user lookup that fails after the apply is BROKEN, nothing runs as root', async () => {
  const grafana: Owner = { user: 'grafana', uid: 472, gid: 472 };
  let lookups = 0;
  let nss: 'up' | 'down' | 'gone' = 'up';
  // the pass's own lookup succeeds; the gate's lookup (right after) finds the user gone, or NSS down
  const users: UserPort = { lookup: async () => (lookups++ % 2 === 0 || nss === 'up' ? grafana : nss === 'gone' ? undefined : Promise.reject(new Error('nss unreachable'))) };
  const w = world(spec({ health: { ...health, exec: ['/bin/check'] } }), users);
  nss = 'down';
  w.agent.start();
  await w.agent.ready();
  let s = w.agent.service('grafana-server');
  assert.equal(s.state, 'BROKEN');
  assert.match(s.info, /^health check not run: user "grafana" \(lookup failed: nss unreachable\)/);
  assert.equal(w.commands.calls.length, 0, 'the health command never ran as the daemon user');
  nss = 'gone';
  w.agent.pull('grafana-server');
  await until(() => w.agent.service('grafana-server').info.includes('no such user'), 'the next pass checks again');
  assert.equal(w.commands.calls.length, 0);
  // the user is back: the next pass applies again and checks, as the user
  nss = 'up';
  w.agent.pull('grafana-server');
  await until(() => w.agent.service('grafana-server').state === 'OK', 'recovered');
  assert.ok(w.commands.calls.length > 0);
  for (const c of w.commands.calls) assert.deepEqual(c.owner, grafana);
  s = w.agent.service('grafana-server');
  assert.equal(s.commit, 'c1');
  await w.agent.stop();
});

test('retry-next-commit: frozen on the good commit until a newer commit arrives, which is tried', async () => {
  const w = world(spec({ health, autoRollback: 'retry-next-commit' }));
  w.agent.start();
  await w.agent.ready();
  w.git.push('c2', { 'grafana/etc/grafana.ini': 'v2' });
  w.probe.status = 500;
  w.agent.pull('grafana-server');
  await until(() => w.agent.service('grafana-server').state === 'FREEZE', 'auto rollback');
  w.agent.pull('grafana-server');
  await new Promise((r) => setTimeout(r, 20));
  assert.equal(w.agent.service('grafana-server').commit, 'c1', 'the bad commit is not retried');
  w.probe.status = 200;
  w.git.push('c3', { 'grafana/etc/grafana.ini': 'v3' });
  w.agent.pull('grafana-server');
  await until(() => w.agent.service('grafana-server').commit === 'c3', 'the next commit deployed');
  assert.equal(w.agent.service('grafana-server').state, 'OK');
  await w.agent.stop();
});

test('a rollback that itself fails is BROKEN, still frozen, with both reasons; no good commit → BROKEN', async () => {
  const w = world(spec({ health }));
  w.agent.start();
  await w.agent.ready();
  w.git.push('c2', { 'grafana/etc/grafana.ini': 'v2' });
  w.probe.status = 500;
  // the new commit's reload succeeds (then the health URL fails); the rollback's reload fails
  const run = w.units.run.bind(w.units);
  let calls = 0;
  w.units.run = async (unit, action) => (++calls > 1 ? { result: 'failed', activeState: 'failed', unitResult: 'exit-code' } : run(unit, action));
  w.agent.pull('grafana-server');
  await until(() => w.agent.service('grafana-server').state === 'BROKEN', 'broken rollback');
  const s = w.agent.service('grafana-server');
  assert.match(s.info, /job failed .*\(after AUTO-ROLLBACK from c2 to c1: health URL/);
  assert.ok(s.by, 'still frozen');
  await w.agent.stop();

  const first = world(spec({ health }));
  first.probe.status = 500;
  first.agent.start();
  await first.agent.ready();
  await until(() => first.agent.service('grafana-server').state === 'BROKEN', 'no good commit');
  assert.match(first.agent.service('grafana-server').info, /health check failed: .*no earlier good commit/);
  await first.agent.stop();
});

test('pre hook failure: BROKEN with its output, nothing checked out, not re-run for the same commit; post hooks get the env', async () => {
  const w = world(spec({ hooks: { pre: ['ci/check.sh'], post: ['ci/done.sh'], timeoutSeconds: 5 } }));
  const d = w.deps;
  const first = await reconcile(spec({ hooks: { pre: [], post: ['ci/done.sh'], timeoutSeconds: 5 } }), 'c1', { pendingAction: false }, d);
  assert.equal(first.state, 'OK');
  assert.deepEqual(w.commands.calls.map((c) => [c.argv[0], c.env.GITOPPER_COMMIT, c.env.GITOPPER_PREVIOUS_COMMIT, c.env.GITOPPER_CHANGED, c.cwd]), [['/var/lib/gitopper/stage/grafana-server.post/ci/done.sh', 'c1', '', 'grafana/etc', '/srv/gitopper/grafana-server']]);
  w.commands.calls = [];
  w.git.push('c2', { 'grafana/etc/grafana.ini': 'v2' });
  w.commands.answer = (argv) => (argv[0]!.endsWith('check.sh') ? { code: 3, output: 'line1\nbad config: port\n' } : {});
  const s = spec({ hooks: { pre: ['ci/check.sh'], post: ['ci/done.sh'], timeoutSeconds: 5 } });
  const out = await reconcile(s, 'c2', first.runtime, d);
  assert.equal(out.state, 'BROKEN');
  assert.match(out.info, /pre hook ci\/check\.sh failed \(exit 3\): line1 \| bad config: port/);
  assert.equal(w.git.head.get('/srv/gitopper/grafana-server'), 'c1', 'nothing checked out');
  const pre = (w.deps.stage as FakeStage).staged.find((x) => x.dest.endsWith('.pre'))!;
  assert.deepEqual([pre.commit, pre.dest, pre.paths], ['c2', '/var/lib/gitopper/stage/grafana-server.pre', ['grafana/etc', 'ci/check.sh']]);
  assert.equal(w.commands.calls[0]!.cwd, '/var/lib/gitopper/stage/grafana-server.pre');
  const again = await reconcile(s, 'c2', out.runtime, d);
  assert.equal(again.state, 'BROKEN');
  assert.equal(w.commands.calls.length, 1, 'the refused commit is not run again');
  w.git.push('c3', { 'grafana/etc/grafana.ini': 'v3' });
  w.commands.answer = () => ({});
  const ok = await reconcile(s, 'c3', again.runtime, d);
  assert.equal(ok.state, 'OK');
  assert.deepEqual(ok.hooks.map((h) => [h.phase, h.hook, h.code]), [['pre', 'ci/check.sh', 0], ['post', 'ci/done.sh', 0]]);
});
