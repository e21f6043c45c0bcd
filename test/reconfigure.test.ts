import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { TrackerEvents } from '../src/core/tracker.js';
import { FakeGit, FakeMounts, FakeUnits, until } from './fakes/ports.js';
import { spec } from './fakes/spec.js';
import { agentSetup } from './fakes/agent-setup.js';

const events: TrackerEvents = { fetched: () => {}, reconciled: () => {}, status: () => {}, upstream: () => {} };
const prom = spec({ service: 'prometheus', dirs: [{ local: '/etc/prometheus', link: 'prometheus/etc', file: false }] });

function make() {
  const git = new FakeGit();
  git.push('c1', { 'grafana/etc/grafana.ini': 'v1', 'grafana/dashboards/d.json': 'd', 'prometheus/etc/p.yml': 'p' });
  const mounts = new FakeMounts();
  const units = new FakeUnits();
  const unmounts: string[] = [];
  const agent = agentSetup([spec(), prom], { git, mounts, units, events, onUnmount: (s, t, r) => unmounts.push(`${s} ${t} ${String(r)}`) }).agent;
  return { git, mounts, units, agent, unmounts };
}

test('a removed service stops being tracked and its mounts are removed; others are untouched', async () => {
  const { agent, mounts, unmounts, git } = make();
  agent.start();
  await agent.ready();
  assert.equal(mounts.mounted.size, 2);
  const fetches = git.fetches.length;
  const r = await agent.reconfigure([spec()]);
  assert.deepEqual(r, { added: [], removed: ['prometheus'], changed: [], unchanged: ['grafana-server'] });
  assert.deepEqual(unmounts, ['prometheus /etc/prometheus unmounted']);
  assert.equal(mounts.mounted.has('/etc/prometheus'), false);
  assert.equal(mounts.mounted.get('/etc/grafana'), '/srv/gitopper/grafana-server/grafana/etc');
  assert.throws(() => agent.service('prometheus'), /not managed/);
  assert.equal(git.fetches.length, fetches, 'an unchanged service is not pulled');
  await agent.stop();
});

test('a new service starts; a changed dirs list re-checks out, re-mounts and unmounts the stale target', async () => {
  const { agent, mounts, unmounts, git, units } = make();
  agent.start();
  await agent.ready();
  const checkouts = git.checkouts.length;
  units.calls = [];
  const grafana2 = spec({ dirs: [{ local: '/etc/grafana', link: 'grafana/etc', file: false }, { local: '/var/lib/grafana/dashboards', link: 'grafana/dashboards', file: false }] });
  const extra = spec({ service: 'extra', dirs: [] });
  const r = await agent.reconfigure([grafana2, prom, extra]);
  assert.deepEqual(r, { added: ['extra'], removed: [], changed: ['grafana-server'], unchanged: ['prometheus'] });
  await until(() => mounts.mounted.has('/var/lib/grafana/dashboards'), 'new mount');
  await until(() => units.calls.includes('reload grafana-server.service'), 'action after the change');
  assert.ok(git.checkouts.length > checkouts, 'links checked out again although the commit did not move');
  assert.deepEqual(unmounts, [], 'the kept mount (same target, same source) was not removed');
  assert.equal(agent.service('extra').state, 'OK');
  const moved = spec({ dirs: [{ local: '/etc/grafana2', link: 'grafana/etc', file: false }] });
  await agent.reconfigure([moved, prom, extra]);
  assert.deepEqual(unmounts.sort(), ['grafana-server /etc/grafana unmounted', 'grafana-server /var/lib/grafana/dashboards unmounted']);
  await until(() => mounts.mounted.has('/etc/grafana2'), 'mount at the new target');
  await agent.stop();
});

test('a branch change moves the service to another source keeping its freeze and history', async () => {
  const { agent, git } = make();
  agent.start();
  await agent.ready();
  await agent.freeze('grafana-server', { by: 'ops' }, 'hold');
  const canary = spec({ branch: 'canary' });
  const r = await agent.reconfigure([canary, prom]);
  assert.deepEqual(r.changed, ['grafana-server']);
  assert.equal(agent.sources, 2);
  const s = agent.service('grafana-server');
  assert.equal(s.state, 'FREEZE');
  assert.equal(s.info, 'hold');
  assert.equal(s.branch, 'canary');
  await until(() => git.fetches.some((f) => f.branch === 'canary'), 'the new source fetches');
  await agent.reconfigure([spec(), prom]);
  assert.equal(agent.sources, 1, 'the emptied source was stopped');
  await agent.stop();
});
