/**
 * Quiet polls (src/core/tracker.ts): a poll whose fetch finds the tip unchanged skips the services that
 * are OK at it with nothing pending; every Nth such poll, any pull and any moved tip is a full pass.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { TrackerEvents } from '../src/core/tracker.js';
import { FakeGit, FakeMounts, FakeUnits, ManualClock, until } from './fakes/ports.js';
import { spec } from './fakes/spec.js';
import { agentSetup } from './fakes/agent-setup.js';

function rig(verifyEveryPolls?: number) {
  const git = new FakeGit();
  git.push('c1', { 'grafana/etc/grafana.ini': 'v1', 'prometheus/etc/p.yml': 'p1' });
  const clock = new ManualClock();
  const passes: string[] = [];
  const skipped: string[] = [];
  let upstreamEvents = 0;
  const events: TrackerEvents = {
    fetched: () => {},
    reconciled: (service, _o, trigger) => passes.push(`${service}:${trigger}`),
    status: () => {},
    upstream: () => upstreamEvents++,
    skipped: (service, tip) => skipped.push(`${service}@${tip}`),
  };
  const prom = spec({ service: 'prometheus', dirs: [{ local: '/etc/prometheus', link: 'prometheus/etc', file: false }] });
  const units = new FakeUnits();
  const mounts = new FakeMounts();
  const agent = agentSetup([spec(), prom], { git, mounts, units, clock, events, hostname: 'host1', ...(verifyEveryPolls ? { verifyEveryPolls } : {}) }).agent;
  /** Let the timer fire once and wait for that poll's pass to end (both services reported). */
  const poll = async () => {
    await until(() => clock.sleeps.length === 1, 'tracker waiting'); // the previous pass is over
    const seen = upstreamEvents;
    clock.tick();
    await until(() => upstreamEvents === seen + 2, 'poll pass done');
  };
  return { git, clock, agent, passes, skipped, units, mounts, poll };
}

test('a poll with nothing new fetches but skips settled services; every Nth quiet poll is a full pass', async () => {
  const r = rig(3);
  r.agent.start();
  await r.agent.ready();
  assert.deepEqual(r.passes.sort(), ['grafana-server:startup', 'prometheus:startup']);
  r.passes.length = 0;
  await r.poll();
  assert.deepEqual(r.passes.sort(), ['grafana-server:poll', 'prometheus:poll'], 'the first poll after startup is full (the checkout watcher starts after the startup pass)');
  const fetches = r.git.fetches.length;
  r.passes.length = 0;
  await r.poll();
  await r.poll();
  assert.deepEqual(r.passes, [], 'quiet polls 1 and 2 reconcile nothing');
  assert.deepEqual(r.skipped.sort(), ['grafana-server@c1', 'grafana-server@c1', 'prometheus@c1', 'prometheus@c1']);
  assert.equal(r.git.fetches.length, fetches + 2, 'but every poll fetched');
  await r.poll();
  assert.deepEqual(r.passes.sort(), ['grafana-server:poll', 'prometheus:poll'], 'the third quiet poll is a full pass');
  r.passes.length = 0;
  await r.poll();
  assert.deepEqual(r.passes, [], 'and the count starts again');
  await r.agent.stop();
});

test('a moved tip is a full pass at once, whatever the count', async () => {
  const r = rig(100);
  r.agent.start();
  await r.agent.ready();
  await r.poll();
  r.passes.length = 0;
  r.git.push('c2', { 'grafana/etc/grafana.ini': 'v2', 'prometheus/etc/p.yml': 'p1' });
  r.units.calls = [];
  await r.poll();
  assert.deepEqual(r.passes.sort(), ['grafana-server:poll', 'prometheus:poll']);
  assert.ok(r.units.calls.includes('reload grafana-server.service'), 'the change was applied');
  assert.equal(r.agent.service('grafana-server')?.commit, 'c2');
  r.passes.length = 0;
  await r.poll();
  assert.deepEqual(r.passes, [], 'then quiet again at c2');
  await r.agent.stop();
});

test('a service that is not OK is reconciled on every poll, quiet or not', async () => {
  const r = rig(100);
  r.agent.start();
  await r.agent.ready();
  await r.poll();
  // BROKEN by a failed mount on a full pass (a pull), then left to the quiet polls to recover
  r.mounts.fail = new Error('mount: permission denied');
  r.mounts.mounted.clear();
  r.agent.pull();
  await until(() => r.agent.service('grafana-server')?.state === 'BROKEN', 'BROKEN after the pulled pass');
  r.passes.length = 0;
  await r.poll();
  assert.deepEqual(r.passes.sort(), ['grafana-server:poll', 'prometheus:poll'], 'both BROKEN services retried on a quiet poll');
  r.mounts.fail = undefined;
  await r.poll();
  assert.equal(r.agent.service('grafana-server')?.state, 'OK', 'recovered on the next poll');
  r.passes.length = 0;
  await r.poll();
  assert.deepEqual(r.passes, [], 'OK again: skipped');
  await r.agent.stop();
});

test('a reload that failed is retried on quiet polls until it succeeds', async () => {
  const r = rig(100);
  r.agent.start();
  await r.agent.ready();
  r.units.result = 'failed';
  r.git.push('c2', { 'grafana/etc/grafana.ini': 'v2', 'prometheus/etc/p.yml': 'p1' });
  await r.poll();
  assert.notEqual(r.agent.service('grafana-server')?.state, 'OK', 'the failed reload is not OK');
  r.units.result = 'done';
  r.units.calls = [];
  await r.poll();
  assert.ok(r.units.calls.includes('reload grafana-server.service'), 'reload retried although the tip did not move');
  assert.equal(r.agent.service('grafana-server')?.state, 'OK');
  await r.agent.stop();
});

test('a pull is always a full pass', async () => {
  const r = rig(100);
  r.agent.start();
  await r.agent.ready();
  await r.poll();
  r.passes.length = 0;
  r.agent.pull();
  await until(() => r.passes.length === 2, 'pulled pass');
  assert.deepEqual(r.passes.sort(), ['grafana-server:pull', 'prometheus:pull']);
  await r.agent.stop();
});

test('verifyEveryPolls 1 makes every poll a full pass (gitopper behaviour)', async () => {
  const r = rig(1);
  r.agent.start();
  await r.agent.ready();
  r.passes.length = 0;
  await r.poll();
  await r.poll();
  assert.deepEqual(r.passes.sort(), ['grafana-server:poll', 'grafana-server:poll', 'prometheus:poll', 'prometheus:poll']);
  assert.deepEqual(r.skipped, []);
  await r.agent.stop();
});

test('a pull of one service does not restart the count towards the next full pass', async () => {
  const r = rig(3);
  r.agent.start();
  await r.agent.ready();
  await r.poll(); // full (first after startup)
  await r.poll(); // quiet 1
  r.agent.pull('grafana-server');
  await until(() => r.passes.includes('grafana-server:pull'), 'pulled pass of one service');
  r.passes.length = 0;
  await r.poll(); // quiet 2
  assert.deepEqual(r.passes, []);
  await r.poll(); // the third: full
  assert.deepEqual(r.passes.sort(), ['grafana-server:poll', 'prometheus:poll']);
  await r.agent.stop();
});

/** A rig past its first (full) poll: the next polls are quiet. */
async function quietRig() {
  const r = rig(100);
  r.agent.start();
  await r.agent.ready();
  await r.poll();
  r.passes.length = 0;
  await r.poll();
  assert.deepEqual(r.passes, [], 'quiet');
  return r;
}

test('drift on record keeps a service out of quiet polls', async () => {
  const r = await quietRig();
  r.git.edits.set('/srv/gitopper/grafana-server', new Set(['grafana/etc/grafana.ini']));
  r.agent.checkDrift('grafana-server');
  await until(() => r.passes.includes('grafana-server:drift'), 'drift pass');
  r.passes.length = 0;
  await r.poll();
  assert.deepEqual(r.passes, ['grafana-server:poll'], 'the drifted service is reconciled, the other skipped');
  await r.agent.stop();
});

test('a changed spec (reconfigure) is a full pass of that service even on a quiet poll', async () => {
  const r = await quietRig();
  const changed = spec({ dirs: [{ local: '/etc/grafana2', link: 'grafana/etc', file: false }] });
  const prom = spec({ service: 'prometheus', dirs: [{ local: '/etc/prometheus', link: 'prometheus/etc', file: false }] });
  await r.agent.reconfigure([changed, prom]);
  await until(() => r.passes.includes('grafana-server:pull'), 'the reconfigured service is pulled at once');
  assert.ok(r.mounts.mounted.has('/etc/grafana2'), 'the new target is mounted');
  await r.agent.stop();
});

test('after a failed fetch the next poll reconciles every service (DIFF, and no settled tip), then polls are quiet again', async () => {
  const r = await quietRig();
  r.git.failFetch = new Error('upstream down');
  await until(() => r.clock.sleeps.length === 1, 'tracker waiting');
  r.clock.tick(); // a failed fetch sends no upstream events: wait for its DIFF instead
  await until(() => r.agent.service('grafana-server')?.state === 'DIFF', 'DIFF after the failed fetch');
  r.git.failFetch = undefined;
  r.passes.length = 0;
  await r.poll();
  assert.deepEqual(r.passes.sort(), ['grafana-server:poll', 'prometheus:poll'], 'DIFF services, and a full pass anyway');
  r.passes.length = 0;
  await r.poll();
  assert.deepEqual(r.passes, [], 'quiet again');
  await r.agent.stop();
});

test('setQuietPolls(false) (a failed checkout watcher) makes every poll a full pass', async () => {
  const r = await quietRig();
  r.agent.setQuietPolls(false);
  await r.poll();
  await r.poll();
  assert.deepEqual(r.passes.sort(), ['grafana-server:poll', 'grafana-server:poll', 'prometheus:poll', 'prometheus:poll']);
  await r.agent.stop();
});
