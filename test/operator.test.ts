import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BadRequestError, ConflictError, UnknownServiceError } from '../src/core/errors.js';
import type { PersistedState, StateStore } from '../src/ports/state-store.js';
import { FakeGit, FakeUnits, ManualClock, until } from './fakes/ports.js';
import { spec } from './fakes/spec.js';
import { agentSetup } from './fakes/agent-setup.js';

class MemoryStore implements StateStore {
  saved: PersistedState | undefined;
  saves = 0;
  async load() {
    return this.saved;
  }
  async save(s: PersistedState) {
    this.saves++;
    this.saved = JSON.parse(JSON.stringify(s)) as PersistedState;
  }
}

const local = { by: 'local' };

function make(store = new MemoryStore(), git = new FakeGit(), units = new FakeUnits()) {
  if (git.commits.size === 0) {
    git.push('aaaa1111', { 'grafana/etc/grafana.ini': 'v1' });
    git.push('bbbb2222', { 'grafana/etc/grafana.ini': 'v2' });
  }
  const clock = new ManualClock();
  const agent = agentSetup([spec()], { git, units, clock, store, saved: store.saved }).agent;
  return { agent, git, clock, store, units };
}

test('freeze stops passes; unfreeze goes to the tip at once; errors are the catalogue classes', async () => {
  const { agent, git, store } = make();
  agent.start();
  await agent.ready();
  assert.equal(agent.service('grafana-server').commit, 'bbbb2222');
  const frozen = await agent.freeze('grafana-server', local, 'maintenance');
  assert.equal(frozen.state, 'FREEZE');
  assert.equal(frozen.info, 'maintenance');
  assert.equal(frozen.by, 'local');
  await assert.rejects(agent.freeze('grafana-server', local), ConflictError);
  git.push('cccc3333', { 'grafana/etc/grafana.ini': 'v3' });
  agent.pull('grafana-server');
  await new Promise((r) => setTimeout(r, 20));
  assert.equal(agent.service('grafana-server').commit, 'bbbb2222', 'a frozen service is not pulled');
  const un = await agent.unfreeze('grafana-server', local);
  assert.equal(un.state, 'OK');
  assert.equal(un.commit, 'cccc3333', 'unfreeze deploys the tip at once');
  await assert.rejects(agent.unfreeze('grafana-server', local), ConflictError);
  assert.throws(() => agent.service('nope'), UnknownServiceError);
  assert.equal(agent.history('grafana-server')[0]!.trigger, 'unfreeze');
  await agent.stop();
  assert.ok(store.saves > 0);
});

test('rollback deploys the old commit, reloads, and stays frozen with ROLLBACK: <hash>', async () => {
  const { agent, units } = make();
  agent.start();
  await agent.ready();
  units.calls = [];
  await assert.rejects(agent.rollback('grafana-server', 'xyz', local), BadRequestError);
  await assert.rejects(agent.rollback('grafana-server', 'dddd', local), ConflictError);
  const rb = await agent.rollback('grafana-server', 'aaaa', local);
  assert.equal(rb.state, 'FREEZE');
  assert.equal(rb.info, 'ROLLBACK: aaaa1111');
  assert.equal(rb.commit, 'aaaa1111');
  assert.deepEqual(units.calls, ['daemon-reload', 'reload grafana-server.service']);
  const h = agent.history('grafana-server')[0]!;
  assert.equal(h.trigger, 'rollback');
  assert.equal(h.by, 'local');
  await agent.stop();
});

test('a rollback whose reload fails is BROKEN and still frozen', async () => {
  const { agent, units, git } = make();
  agent.start();
  await agent.ready();
  units.result = 'failed';
  const rb = await agent.rollback('grafana-server', 'aaaa1111', local);
  assert.equal(rb.state, 'BROKEN');
  assert.match(rb.info, /job failed/);
  git.push('eeee5555', { 'grafana/etc/grafana.ini': 'v5' });
  agent.pull('grafana-server');
  await new Promise((r) => setTimeout(r, 20));
  assert.equal(agent.service('grafana-server').commit, 'aaaa1111', 'the next poll does not undo the operator');
  await agent.stop();
});

test('freeze and rollback survive a restart (state store)', async () => {
  const store = new MemoryStore();
  const first = make(store);
  first.agent.start();
  await first.agent.ready();
  await first.agent.rollback('grafana-server', 'aaaa1111', local);
  await first.agent.stop();
  assert.equal(store.saved?.services['grafana-server']?.frozen?.rollback, 'aaaa1111');

  const git = first.git; // same upstream, same checkout
  const second = make(store, git);
  second.agent.start();
  await second.agent.ready();
  const s = second.agent.service('grafana-server');
  assert.equal(s.state, 'FREEZE');
  assert.equal(s.info, 'ROLLBACK: aaaa1111');
  assert.equal(s.commit, 'aaaa1111');
  assert.equal(git.head.get('/srv/gitopper/grafana-server'), 'aaaa1111', 'startup did not move a frozen service to the tip');
  assert.ok(second.agent.history('grafana-server').some((h) => h.trigger === 'rollback'), 'history survived');
  await second.agent.stop();
});

test('pull during a slow pass returns at once', async () => {
  const { agent, git } = make();
  let open!: () => void;
  git.gate = new Promise((r) => (open = r));
  agent.start();
  const t0 = Date.now();
  agent.pull();
  agent.pull('grafana-server');
  assert.ok(Date.now() - t0 < 50);
  open();
  git.gate = undefined;
  await agent.ready();
  await until(() => git.fetches.length >= 2, 'the pulled pass (a second fetch)');
  // it found nothing new: a no-op pull adds no history row
  assert.equal(agent.history('grafana-server').some((h) => h.trigger === 'pull'), false);
  await agent.stop();
});

test('a pull records who asked (the key, or webhook) in the rows of the passes that did something; a no-op pull adds no row', async () => {
  const { agent, git } = make();
  agent.start();
  await agent.ready();
  const rows = () => agent.history('grafana-server').length;
  const before = rows();
  for (let i = 0; i < 5; i++) {
    const fetched = git.fetches.length;
    agent.pull('grafana-server', { by: 'SHA256:ops' });
    await until(() => git.fetches.length > fetched, 'a pulled pass');
  }
  await new Promise((r) => setTimeout(r, 10));
  assert.equal(rows(), before, 'five no-op pulls, no rows');
  git.push('cccc3333', { 'grafana/etc/grafana.ini': 'v3' });
  agent.pull('grafana-server', { by: 'SHA256:ops' });
  await until(() => agent.service('grafana-server').commit === 'cccc3333', 'the pull applied');
  assert.deepEqual(agent.history('grafana-server')[0], { ...agent.history('grafana-server')[0], trigger: 'pull', commit: 'cccc3333', by: 'SHA256:ops' });
  git.push('dddd4444', { 'grafana/etc/grafana.ini': 'v4' });
  assert.deepEqual(agent.pullPushed(['http://127.0.0.1:1/repo'], 'main'), ['grafana-server']);
  await until(() => agent.service('grafana-server').commit === 'dddd4444', 'the webhook pull applied');
  assert.equal(agent.history('grafana-server')[0]?.by, 'webhook');
  await agent.stop();
});

test('a rollback to a commit without the service link is refused before anything is touched (409, nothing changes)', async () => {
  const git = new FakeGit();
  git.push('01d00000', { 'prometheus/etc/prometheus.yml': 'p' }); // before grafana/etc existed
  git.push('aaaa1111', { 'grafana/etc/grafana.ini': 'v1' });
  git.push('bbbb2222', { 'grafana/etc/grafana.ini': 'v2' });
  const { agent, units } = make(new MemoryStore(), git);
  agent.start();
  await agent.ready();
  units.calls = [];
  const checkouts = git.checkouts.length;
  await assert.rejects(agent.rollback('grafana-server', '01d0', local), (e: Error) => e instanceof ConflictError && e.message === '01d00000 does not have grafana/etc: rolling back to it would empty /etc/grafana; nothing was changed (pick a commit that has the service\'s files)');
  const s = agent.service('grafana-server');
  assert.deepEqual([s.state, s.commit, s.info], ['OK', 'bbbb2222', '']);
  assert.equal(git.checkouts.length, checkouts, 'nothing checked out');
  assert.deepEqual(units.calls, [], 'systemd not asked');
  assert.notEqual(agent.history('grafana-server')[0]?.trigger, 'rollback', 'no history row for the refused rollback');
  await agent.stop();
});
