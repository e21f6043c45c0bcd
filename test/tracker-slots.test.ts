/**
 * The agent's pass slots (`PASS_CONCURRENCY`, tracker-deps.ts; deploy.ts `SLOTTED`): a pass
 * reconciles at most that many services at once, across all trackers, and still reconciles them all;
 * an operator's rollback does not wait for a slot.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { CheckoutRef } from '../src/ports/git.js';
import { PASS_CONCURRENCY } from '../src/core/tracker.js';
import { FakeGit, ManualClock, until } from './fakes/ports.js';
import { spec } from './fakes/spec.js';
import { agentSetup } from './fakes/agent-setup.js';

/** FakeGit whose checkouts take a while and count how many run at once. */
class SlowGit extends FakeGit {
  running = 0;
  most = 0;
  release: (() => void)[] = [];
  override async checkout(co: CheckoutRef, deployed: string | undefined, commit: string): Promise<void> {
    this.running++;
    this.most = Math.max(this.most, this.running);
    try {
      await new Promise<void>((resolve) => this.release.push(resolve));
      await super.checkout(co, deployed, commit);
    } finally {
      this.running--;
    }
  }
  /** Let every waiting checkout go on. */
  drain(): void {
    for (const r of this.release.splice(0)) r();
  }
}

const services = (n: number, upstreams = 1) =>
  Array.from({ length: n }, (_, i) => spec({ service: `svc${i}`, upstream: `http://127.0.0.1:1/repo${i % upstreams}`, dirs: [{ local: `/etc/svc${i}`, link: 'grafana/etc', file: false }] }));

test(`a first pass of 3×${PASS_CONCURRENCY} services on two upstreams checks out at most ${PASS_CONCURRENCY} at once, and all of them`, async () => {
  const git = new SlowGit();
  git.push('c1', { 'grafana/etc/grafana.ini': 'v1' });
  const n = 3 * PASS_CONCURRENCY;
  const { agent } = agentSetup(services(n, 2), { git, clock: new ManualClock() });
  agent.start();
  const ready = agent.ready();
  while (git.checkouts.length < n) {
    await until(() => git.release.length > 0, 'a checkout waiting');
    await new Promise((r) => setImmediate(r)); // let every free slot fill before counting
    assert.ok(git.running <= PASS_CONCURRENCY, `${git.running} checkouts at once`);
    git.drain();
    await new Promise((r) => setImmediate(r));
  }
  await ready;
  assert.equal(git.most, PASS_CONCURRENCY, 'the slots are used (not one at a time)');
  assert.equal(new Set(git.checkouts.map((c) => c.dir)).size, n, 'every service checked out once');
  assert.ok(agent.services().every((s) => s.state === 'OK' && s.commit === 'c1'));
});

test('an operator rollback runs while every slot is taken by a pass', async () => {
  const git = new SlowGit();
  git.push('aaaa1111', { 'grafana/etc/grafana.ini': 'v1' });
  const clock = new ManualClock();
  const n = PASS_CONCURRENCY + 1;
  const { agent } = agentSetup(services(n), { git, clock });
  agent.start();
  while (git.checkouts.length < n) {
    await until(() => git.release.length > 0, 'a checkout waiting');
    git.drain();
    await new Promise((r) => setImmediate(r));
  }
  await agent.ready();
  // held by the operator: the next poll does not deploy it, so every slot goes to the others
  const last = `svc${n - 1}`;
  await agent.freeze(last, { by: 'test' }, 'held for a rollback');
  git.push('cccc3333', { 'grafana/etc/grafana.ini': 'v3' }); // in the history, never deployed
  git.push('bbbb2222', { 'grafana/etc/grafana.ini': 'v2' });
  await until(() => clock.sleeps.length === 1, 'waiting for the next poll');
  clock.tick();
  await until(() => git.running === PASS_CONCURRENCY, 'the poll holds every slot');
  const rolled = agent.rollback(last, 'cccc3333', { by: 'test' });
  await until(() => git.running === PASS_CONCURRENCY + 1, 'the rollback checks out beside the full slots');
  git.drain();
  await rolled;
  await until(() => git.release.length > 0 || git.running === 0, 'the rest of the pass');
  while (git.running > 0) {
    git.drain();
    await new Promise((r) => setImmediate(r));
  }
  const info = agent.services().find((s) => s.service === last);
  assert.equal(info?.state, 'FREEZE', 'held at the rollback target');
  assert.equal(info?.info, 'ROLLBACK: cccc3333');
  assert.equal(info?.commit, 'cccc3333');
});
