import { test } from 'node:test';
import assert from 'node:assert/strict';
import { reconcile, type ReconcileDeps } from '../src/core/reconcile.js';
import { FakeGit, FakeMounts, FakeUnits, FakeUsers, ManualClock, until } from './fakes/ports.js';
import { spec } from './fakes/spec.js';
import { agentSetup } from './fakes/agent-setup.js';

const DIR = '/srv/gitopper/grafana-server';

function deps(): ReconcileDeps & { git: FakeGit; units: FakeUnits } {
  const git = new FakeGit();
  git.push('c1', { 'grafana/etc/grafana.ini': 'v1', 'grafana/etc/other.ini': 'o1' });
  return { git, mounts: new FakeMounts(), units: new FakeUnits(), users: new FakeUsers(), clock: new ManualClock() };
}

test('report: local edits show in the info and outcome; nothing is reverted', async () => {
  const d = deps();
  await reconcile(spec(), 'c1', { pendingAction: false }, d);
  d.git.edits.set(DIR, new Set(['grafana/etc/grafana.ini']));
  d.units.calls = [];
  const out = await reconcile(spec(), 'c1', { pendingAction: false }, d);
  assert.equal(out.state, 'OK');
  assert.deepEqual(out.drift, ['grafana/etc/grafana.ini']);
  assert.equal(out.info, 'drift: 1 file(s) differ from c1: grafana/etc/grafana.ini');
  assert.deepEqual(d.git.restored, []);
  assert.deepEqual(d.units.calls, []);
});

test('report: an upstream change that would overwrite drifted files is DIFF and applies nothing', async () => {
  const d = deps();
  await reconcile(spec(), 'c1', { pendingAction: false }, d);
  d.git.edits.set(DIR, new Set(['grafana/etc/grafana.ini']));
  d.git.push('c2', { 'grafana/etc/grafana.ini': 'v2', 'grafana/etc/other.ini': 'o1' });
  const checkouts = d.git.checkouts.length;
  const out = await reconcile(spec(), 'c2', { pendingAction: false }, d);
  assert.equal(out.state, 'DIFF');
  assert.match(out.info, /local edits to grafana\/etc\/grafana\.ini would be overwritten by c2/);
  assert.equal(d.git.checkouts.length, checkouts, 'nothing checked out');
  assert.equal(out.commit, 'c1');
  // a change elsewhere under the links still applies: the edit is not in its way
  d.git.push('c3', { 'grafana/etc/grafana.ini': 'v1', 'grafana/etc/other.ini': 'o2' });
  const ok = await reconcile(spec(), 'c3', { pendingAction: false }, d);
  assert.equal(ok.state, 'OK');
  assert.deepEqual(ok.changed, ['grafana/etc/other.ini']);
  assert.deepEqual(ok.drift, ['grafana/etc/grafana.ini']);
});

test('report: an edit that already is the tip\'s version is no clash (a checkout cut short before HEAD moved): the tip applies', async () => {
  const d = deps();
  await reconcile(spec(), 'c1', { pendingAction: false }, d);
  d.git.edits.set(DIR, new Set(['grafana/etc/grafana.ini']));
  d.git.asTip.set(DIR, new Set(['grafana/etc/grafana.ini']));
  d.git.push('c2', { 'grafana/etc/grafana.ini': 'v2', 'grafana/etc/other.ini': 'o1' });
  const out = await reconcile(spec(), 'c2', { pendingAction: false }, d);
  assert.equal(out.state, 'OK', out.info);
  assert.equal(out.commit, 'c2');
  assert.deepEqual(out.changed, ['grafana/etc/grafana.ini']);
});

test('revert: local edits are restored and the action runs', async () => {
  const d = deps();
  const s = spec({ drift: 'revert' });
  await reconcile(s, 'c1', { pendingAction: false }, d);
  d.git.edits.set(DIR, new Set(['grafana/etc/grafana.ini', 'grafana/etc/new.txt']));
  d.units.active.add('grafana-server.service');
  d.units.calls = [];
  const out = await reconcile(s, 'c1', { pendingAction: false }, d);
  assert.equal(out.state, 'OK');
  assert.equal(out.info, '');
  assert.deepEqual(out.reverted, ['grafana/etc/grafana.ini', 'grafana/etc/new.txt']);
  assert.deepEqual(d.git.restored, ['grafana/etc/grafana.ini', 'grafana/etc/new.txt']);
  assert.deepEqual(d.units.calls, ['daemon-reload', 'reload grafana-server.service']);
});

test('agent.checkDrift runs a pass without fetching and reports drift in the service view', async () => {
  const d = deps();
  const agent = agentSetup([spec()], d).agent;
  agent.start();
  await agent.ready();
  const fetches = d.git.fetches.length;
  d.git.edits.set(DIR, new Set(['grafana/etc/other.ini']));
  agent.checkDrift('grafana-server');
  await until(() => (agent.service('grafana-server').drift ?? []).length === 1, 'drift reported');
  assert.equal(d.git.fetches.length, fetches, 'no fetch for a drift check');
  assert.match(agent.service('grafana-server').info, /^drift: 1 file/);
  const rows = () => agent.history('grafana-server').filter((h) => h.trigger === 'drift').length;
  assert.equal(rows(), 1, 'drift appearing is a state change: one history row');
  agent.checkDrift('grafana-server');
  agent.checkDrift('grafana-server');
  await new Promise((r) => setTimeout(r, 20));
  assert.equal(rows(), 1, 'checks that change nothing add no rows');
  await agent.stop();
});
