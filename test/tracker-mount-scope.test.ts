/**
 * The tracker opens one shared mount-table scope (`MountPort.shared`) per pass, after its fetch,
 * and every mount check of the pass runs inside it; a drift check (no tracker pass) runs outside.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FakeGit, FakeMounts, ManualClock, until } from './fakes/ports.js';
import { spec } from './fakes/spec.js';
import { agentSetup } from './fakes/agent-setup.js';

/** FakeMounts that records its scopes and whether each ensure ran inside one. */
class ScopedMounts extends FakeMounts {
  scopes = 0;
  open = 0;
  fetchesAtScope: number[] = [];
  ensures: { target: string; inScope: boolean }[] = [];
  constructor(private readonly git: FakeGit) {
    super();
  }
  override async ensure(source: string, target: string): Promise<'mounted' | 'present'> {
    this.ensures.push({ target, inScope: this.open > 0 });
    return super.ensure(source, target);
  }
  async shared<T>(fn: () => Promise<T>): Promise<T> {
    this.scopes++;
    this.fetchesAtScope.push(this.git.fetches.length);
    this.open++;
    try {
      return await fn();
    } finally {
      this.open--;
    }
  }
}

test('one mount-table scope per pass, opened after the fetch; every mount check of the pass inside it, a drift check outside', async () => {
  const git = new FakeGit();
  git.push('c1', { 'grafana/etc/grafana.ini': 'v1', 'prometheus/etc/p.yml': 'p1' });
  const mounts = new ScopedMounts(git);
  const clock = new ManualClock();
  const prom = spec({ service: 'prometheus', dirs: [{ local: '/etc/prometheus', link: 'prometheus/etc', file: false }] });
  const { agent } = agentSetup([spec(), prom], { git, mounts, clock, verifyEveryPolls: 1 });
  agent.start();
  await agent.ready();
  assert.equal(mounts.scopes, 1, 'the startup pass opened one scope');
  assert.deepEqual(mounts.fetchesAtScope, [1], 'after its fetch');
  assert.deepEqual(mounts.ensures.map((e) => e.inScope), [true, true]);
  assert.deepEqual(mounts.ensures.map((e) => e.target).sort(), ['/etc/grafana', '/etc/prometheus']);

  await until(() => clock.sleeps.length === 1, 'waiting for the next poll');
  clock.tick();
  await until(() => mounts.ensures.length === 4, 'the poll (a full pass) checked both mounts');
  assert.equal(mounts.scopes, 2);
  assert.deepEqual(mounts.fetchesAtScope, [1, 2]);
  assert.ok(mounts.ensures.every((e) => e.inScope));

  agent.checkDrift('prometheus');
  await until(() => mounts.ensures.length === 5, 'the drift check checked its mount');
  assert.equal(mounts.ensures[4]!.inScope, false, 'a drift check is no tracker pass: it reads the table itself');
  assert.equal(mounts.scopes, 2);
  await agent.stop();
});
