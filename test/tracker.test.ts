import { test } from 'node:test';
import assert from 'node:assert/strict';
import { jitteredDelayMs, type TrackerEvents } from '../src/core/tracker.js';
import type { ServiceStatus } from '../src/core/state.js';
import { FakeGit, FakeMounts, FakeUnits, ManualClock, until } from './fakes/ports.js';
import { spec } from './fakes/spec.js';
import { agentSetup } from './fakes/agent-setup.js';

function rig(services = [spec()]) {
  const git = new FakeGit();
  git.push('c1', { 'grafana/etc/grafana.ini': 'v1', 'prometheus/etc/p.yml': 'p1' });
  const clock = new ManualClock();
  const transitions: { service: string; status: ServiceStatus }[] = [];
  const passes: string[] = [];
  const ahead: string[] = [];
  const events: TrackerEvents = {
    fetched: () => {},
    reconciled: (service, _o, trigger) => passes.push(`${service}:${trigger}`),
    status: (service, status) => transitions.push({ service, status }),
    upstream: (service, tip, deployed) => ahead.push(`${service}:${tip}:${deployed}`),
  };
  const units = new FakeUnits();
  const agent = agentSetup(services, { git, units, clock, random: () => 0.5, events, hostname: 'host1' }).agent;
  return { git, clock, agent, transitions, passes, units, ahead };
}

test('jitter stays in [d, 1.5d)', () => {
  assert.equal(jitteredDelayMs(60, () => 0), 60_000);
  assert.equal(jitteredDelayMs(60, () => 0.999999) < 90_000, true);
  assert.equal(jitteredDelayMs(60, () => 0.5), 75_000);
});

test('services sharing an upstream branch share one fetch per pass', async () => {
  const prom = spec({ service: 'prometheus', dirs: [{ local: '/etc/prometheus', link: 'prometheus/etc', file: false }] });
  const other = spec({ service: 'other', branch: 'canary', dirs: [] });
  const r = rig([spec(), prom, other]);
  r.git.push('c1', { 'grafana/etc/grafana.ini': 'v1' });
  assert.equal(r.agent.sources, 2);
  r.agent.start();
  await r.agent.ready();
  assert.equal(r.git.fetches.length, 2, 'one fetch for main (two services), one for canary');
  await until(() => r.clock.sleeps.length === 2, 'both trackers waiting');
  const ms = r.clock.tick();
  assert.equal(ms, 75_000, 'the wait is the jittered interval');
  await until(() => r.git.fetches.length === 3, 'second pass');
  await r.agent.stop();
});

test('pull never blocks, runs an immediate pass, and a pull during a pass runs after it', async () => {
  const r = rig();
  let open!: () => void;
  r.git.gate = new Promise((res) => (open = res));
  r.agent.start();
  r.agent.pull('grafana-server'); // while the startup pass waits in fetch
  assert.equal(r.passes.length, 0, 'pull returned before any pass finished');
  open();
  r.git.gate = undefined;
  await until(() => r.passes.length === 2, 'startup pass then the pulled pass');
  assert.deepEqual(r.passes, ['grafana-server:startup', 'grafana-server:pull']);
  assert.throws(() => r.agent.pull('nope'), /not managed on this host/);
  await r.agent.stop();
});

test('fetch failure → DIFF for every service of the source; recovery → OK; change time moves only on transitions', async () => {
  const r = rig();
  r.agent.start();
  await r.agent.ready();
  const ok = r.agent.service('grafana-server');
  assert.equal(ok.state, 'OK');
  r.git.failFetch = new Error('HTTP Error: 503 Service Unavailable');
  r.clock.t = new Date(r.clock.t.getTime() + 1000);
  r.agent.pull();
  await until(() => r.agent.service('grafana-server').state === 'DIFF', 'DIFF');
  const diff = r.agent.service('grafana-server');
  assert.match(diff.info, /fetching main from .*503/);
  assert.equal(diff.commit, 'c1', 'files stay at the deployed commit');
  assert.ok(diff.since > ok.since);
  const n = r.transitions.length;
  r.agent.pull();
  await until(() => r.passes.length >= 1 && r.git.fetches.length === 3, 'another failing pass');
  assert.equal(r.transitions.length, n, 'same DIFF again is not a transition');
  r.git.failFetch = undefined;
  r.agent.pull();
  await until(() => r.agent.service('grafana-server').state === 'OK', 'recovered');
  await r.agent.stop();
});

test('stop() ends the loops while they wait', async () => {
  const r = rig();
  r.agent.start();
  await r.agent.ready();
  await until(() => r.clock.sleeps.length === 1, 'waiting');
  await r.agent.stop();
  assert.equal(r.clock.sleeps.length, 0);
});

test('after each fetch every service (frozen too) reports tip and deployed commit', async () => {
  const r = rig();
  r.agent.start();
  await r.agent.ready();
  assert.deepEqual(r.ahead, ['grafana-server:c1:c1']);
  await r.agent.freeze('grafana-server', { by: 'local' });
  r.git.push('c2', { 'grafana/etc/grafana.ini': 'v2' });
  r.agent.pull();
  await until(() => r.ahead.length === 2, 'second report');
  assert.equal(r.ahead[1], 'grafana-server:c2:c1', 'frozen at c1 while upstream is at c2');
  await r.agent.stop();
});

/** A saved state: `grafana-server` frozen by a rollback to `pin`, last deployed `deployed`. */
function rolledBackState(pin: string, deployed: string) {
  const at = '2026-11-01T10:00:00.000Z';
  return {
    version: 1 as const,
    services: {
      'grafana-server': { state: 'FREEZE', info: `ROLLBACK: ${pin}`, since: at, commit: deployed, frozen: { by: 'ops', at, reason: `rollback to ${pin}`, rollback: pin }, history: [] },
    },
  };
}

test('a rollback pin whose commit the store lacks (emptied --state-dir) is fetched, then deployed; the service stays frozen there', async () => {
  const git = new FakeGit();
  git.push('c1', { 'grafana/etc/grafana.ini': 'v1' });
  git.push('c2', { 'grafana/etc/grafana.ini': 'v2' });
  git.missing = new Set(['c1', 'c2']); // a fresh state dir: nothing fetched yet
  git.failFetch = new Error('connection refused');
  const clock = new ManualClock();
  const units = new FakeUnits();
  const agent = agentSetup([spec()], { git, units, clock, random: () => 0.5, saved: rolledBackState('c1', 'c1') }).agent;
  agent.start();
  await agent.ready();
  // the upstream is down: nothing can be deployed, and it says why; still frozen
  let s = agent.service('grafana-server');
  assert.equal(s.state, 'DIFF');
  assert.match(s.info, /^pinned commit c1 is not in the object store yet; fetching main from .*connection refused/);
  assert.equal(git.checkouts.length, 0);
  // the upstream is back: the next poll fetches and deploys the pin (not the tip c2)
  git.failFetch = undefined;
  clock.tick();
  await until(() => agent.service('grafana-server').state === 'FREEZE', 'the pin deployed');
  s = agent.service('grafana-server');
  assert.equal(s.commit, 'c1');
  assert.equal(s.info, 'ROLLBACK: c1');
  assert.deepEqual(git.checkouts.map((c) => c.commit), ['c1']);
  await agent.stop();
});

test('a pin the store has is deployed before the first fetch (mounts come back with the upstream down)', async () => {
  const git = new FakeGit();
  git.push('c1', { 'grafana/etc/grafana.ini': 'v1' });
  git.push('c2', { 'grafana/etc/grafana.ini': 'v2' });
  git.failFetch = new Error('connection refused');
  const mounts = new FakeMounts();
  const agent = agentSetup([spec()], { git, mounts, random: () => 0.5, saved: rolledBackState('c1', 'c2') }).agent;
  agent.start();
  await agent.ready();
  const s = agent.service('grafana-server');
  assert.equal(s.state, 'FREEZE');
  assert.equal(s.commit, 'c1', 'the rollback target, not the commit deployed before the rollback');
  assert.deepEqual(git.checkouts.map((c) => c.commit), ['c1']);
  assert.equal(mounts.mounted.get('/etc/grafana'), '/srv/gitopper/grafana-server/grafana/etc');
  await agent.stop();
});
