/**
 * Admission in the core (src/core/admission.ts, deploy.ts): signatures, anti-rollback, deployment
 * windows and the rollout's bake and gate, over the fakes (the adapters have their own tests and
 * the e2e tests drive the real daemon).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ConflictError } from '../src/core/errors.js';
import type { HoldKind, RefusalKind, TrackerEvents } from '../src/core/tracker.js';
import type { GatePort, GateResult, SignaturePort, SignatureVerdict } from '../src/ports/trust.js';
import type { ServiceSpec } from '../src/config/config.js';
import { gateQuery } from '../src/core/admission.js';
import { FakeGit, ManualClock, until } from './fakes/ports.js';
import { spec } from './fakes/spec.js';
import { agentSetup, noEvents } from './fakes/agent-setup.js';

const A = 'aaaa1111'.padEnd(40, '0');
const B = 'bbbb2222'.padEnd(40, '0');
const C = 'cccc3333'.padEnd(40, '0');
const NAME = 'grafana-server';
const operator = { by: 'SHA256:op' };

/** Refuses the commits in `unsigned`; throws for the ones in `broken`. */
class FakeSignatures implements SignaturePort {
  unsigned = new Set<string>();
  broken = new Set<string>();
  asked: string[] = [];
  async verify(_s: unknown, commit: string): Promise<SignatureVerdict> {
    this.asked.push(commit);
    if (this.broken.has(commit)) throw new Error('allowed signers file /etc/x: no such file');
    return this.unsigned.has(commit) ? { ok: false, reason: 'not signed' } : { ok: true, signer: 'alice' };
  }
}

/** Answers `series` series; throws while `down`. */
class FakeGate implements GatePort {
  series = 0;
  down = false;
  queries: string[] = [];
  async query(_p: string, q: string): Promise<GateResult> {
    this.queries.push(q);
    if (this.down) throw new Error('connect ECONNREFUSED');
    return { series: this.series, sample: this.series > 0 ? ['{host="canary"} 1'] : [] };
  }
}

/** Records refused and held events. */
function recorder(): { events: TrackerEvents; refused: [string, RefusalKind][]; held: [string, HoldKind, Date | undefined][] } {
  const refused: [string, RefusalKind][] = [];
  const held: [string, HoldKind, Date | undefined][] = [];
  return { refused, held, events: { ...noEvents, refused: (_s, c, k) => refused.push([c, k]), held: (_s, c, k, _r, u) => held.push([c, k, u]) } };
}

/** An agent at commit A (first setup done) with `over` in its spec. */
async function settled(over: Partial<ServiceSpec>, extra: { signatures?: SignaturePort; gate?: GatePort; clock?: ManualClock } = {}) {
  const git = new FakeGit();
  git.push(A, { 'grafana/etc/grafana.ini': 'v1' });
  const rec = recorder();
  const clock = extra.clock ?? new ManualClock();
  const { agent } = agentSetup([spec(over)], { git, clock, events: rec.events, ...(extra.signatures ? { signatures: extra.signatures } : {}), ...(extra.gate ? { gate: extra.gate } : {}) });
  agent.start();
  await agent.ready();
  assert.equal(agent.service(NAME).commit, A, 'first setup is never held');
  /** Push `id` and run a timer poll; resolves once the pass has looked at it. */
  const poll = async (id?: string, files = { 'grafana/etc/grafana.ini': id ?? 'x' }) => {
    if (id) git.push(id, files);
    const fetches = git.fetches.length;
    await until(() => clock.sleeps.length > 0, 'the tracker waits');
    clock.tick();
    await until(() => git.fetches.length > fetches && clock.sleeps.length > 0, 'a poll ran');
  };
  return { agent, git, clock, poll, ...rec };
}

test('an unsigned tip is refused once: the service stays on its commit, DIFF with REFUSED <hash>; a signed one after it applies', async () => {
  const signatures = new FakeSignatures();
  signatures.unsigned.add(B);
  const t = await settled({ verify: { allowedSigners: '/etc/gitopper/allowed_signers' } }, { signatures });
  await t.poll(B);
  let s = t.agent.service(NAME);
  assert.equal(s.commit, A);
  assert.equal(s.state, 'DIFF');
  assert.match(s.info, /^REFUSED bbbb2222: not signed$/);
  await t.poll();
  assert.deepEqual(t.refused, [[B, 'signature']], 'one event per refused commit, not per poll');
  assert.equal(t.agent.history(NAME).filter((h) => h.commit === B).length, 1, 'one history row per refused commit');
  await t.poll(C);
  s = t.agent.service(NAME);
  assert.equal(s.commit, C);
  assert.equal(s.state, 'OK');
  await t.agent.stop();
});

test('a signature that cannot be checked (policy file gone) refuses the commit with the reason', async () => {
  const signatures = new FakeSignatures();
  signatures.broken.add(B);
  const t = await settled({ verify: { allowedSigners: '/etc/x' } }, { signatures });
  await t.poll(B);
  assert.match(t.agent.service(NAME).info, /^REFUSED bbbb2222: cannot check its signature: allowed signers file \/etc\/x: no such file$/);
  await t.agent.stop();
});

test('a rollback to an unsigned commit is refused before anything changes (409)', async () => {
  const signatures = new FakeSignatures();
  const t = await settled({ verify: { openpgpKeys: '/k.asc' } }, { signatures });
  await t.poll(B);
  assert.equal(t.agent.service(NAME).commit, B);
  signatures.unsigned.add(A);
  await assert.rejects(t.agent.rollback(NAME, 'aaaa1111', operator), (err: unknown) => err instanceof ConflictError && /aaaa1111 is refused: not signed; nothing was changed/.test(err.message));
  const s = t.agent.service(NAME);
  assert.equal(s.commit, B);
  assert.equal(s.state, 'OK', 'not frozen, not rolled back');
  await t.agent.stop();
});

test('anti-rollback: a force-pushed tip is refused; the operator can roll back to it explicitly', async () => {
  const t = await settled({ antiRollback: true });
  t.git.unrelated.add(B);
  await t.poll(B);
  let s = t.agent.service(NAME);
  assert.equal(s.commit, A);
  assert.match(s.info, /^REFUSED bbbb2222: not a descendant of the deployed aaaa1111/);
  assert.deepEqual(t.refused, [[B, 'not-descendant']]);
  s = await t.agent.rollback(NAME, 'bbbb2222', operator);
  assert.equal(s.commit, B, 'an explicit rollback is not refused');
  assert.match(s.info, /^ROLLBACK: bbbb2222$/);
  await t.agent.stop();
});

test('a deployment window holds timer polls until it opens; an operator pull is not held', async () => {
  const clock = new ManualClock();
  clock.t = new Date('2026-12-05T10:00:00Z'); // a Saturday
  const t = await settled({ window: ['Mon-Fri 09:00-17:00 UTC'] }, { clock });
  await t.poll(B);
  let s = t.agent.service(NAME);
  assert.equal(s.commit, A);
  assert.equal(s.state, 'OK');
  assert.equal(s.info, 'HELD: bbbb2222 waits for the deployment window (opens 2026-12-07T09:00:00.000Z)');
  assert.deepEqual(t.held.map(([c, k, u]) => [c, k, u?.toISOString()]), [[B, 'window', '2026-12-07T09:00:00.000Z']]);
  t.agent.pull(NAME, operator);
  await until(() => t.agent.service(NAME).commit === B, 'the operator pull applies');
  assert.equal(t.agent.service(NAME).info, '');
  await t.poll(C);
  assert.equal(t.agent.service(NAME).commit, B, 'the next commit waits again');
  clock.t = new Date('2026-12-07T09:00:00Z');
  await t.poll();
  s = t.agent.service(NAME);
  assert.equal(s.commit, C, 'applied once the window is open');
  await t.agent.stop();
});

test('rollout: a new tip bakes for `bake` after this host first saw it, then waits for the gate to be clear `for` seconds', async () => {
  const gate = new FakeGate();
  gate.series = 1;
  const t = await settled({ rollout: { bakeSeconds: 600, gate: { prometheus: 'http://p:9090', query: 'bad{commit="$commit",service="$service"}', forSeconds: 120 } } }, { gate });
  const first = t.clock.now();
  await t.poll(B);
  assert.match(t.agent.service(NAME).info, new RegExp(`^HELD: bbbb2222 bakes until ${new Date(first.getTime() + 600_000 + 60_000).toISOString().replace(/\./g, '\\.')}`));
  assert.equal(gate.queries.length, 0, 'the gate is not asked while baking');
  t.clock.t = new Date(t.clock.t.getTime() + 600_000);
  await t.poll();
  assert.match(t.agent.service(NAME).info, /^HELD: bbbb2222 held by the rollout gate: query returned 1 series: \{host="canary"\} 1$/);
  assert.equal(gate.queries.at(-1), `bad{commit="${B}",service="${NAME}"}`);
  gate.down = true;
  await t.poll();
  assert.match(t.agent.service(NAME).info, /held by the rollout gate: query failed \(connect ECONNREFUSED\)/, 'a gate that cannot be asked holds (fails closed)');
  gate.down = false;
  gate.series = 0;
  await t.poll();
  assert.match(t.agent.service(NAME).info, /clear for 0s of 120s/);
  await t.poll();
  assert.match(t.agent.service(NAME).info, /clear for 60s of 120s/);
  await t.poll();
  assert.equal(t.agent.service(NAME).commit, B, 'applied once the gate has been clear for `for`');
  assert.deepEqual(t.held.map(([c, k]) => [c, k]), [[B, 'bake'], [B, 'gate']], 'one event per commit and kind');
  await t.agent.stop();
});

test('without anti_rollback (gitopper\'s behaviour) a force-pushed tip is followed; with verify it is on by default', async () => {
  const t = await settled({});
  t.git.unrelated.add(B);
  await t.poll(B);
  assert.equal(t.agent.service(NAME).commit, B);
  await t.agent.stop();
  const signatures = new FakeSignatures();
  const v = await settled({ verify: { allowedSigners: '/a' } }, { signatures });
  v.git.unrelated.add(B);
  await v.poll(B);
  assert.equal(v.agent.service(NAME).commit, A);
  assert.deepEqual(v.refused, [[B, 'not-descendant']]);
  await v.agent.stop();
  const off = await settled({ verify: { allowedSigners: '/a' }, antiRollback: false }, { signatures });
  off.git.unrelated.add(B);
  await off.poll(B);
  assert.equal(off.agent.service(NAME).commit, B, 'anti_rollback = false turns it off even with verify');
  await off.agent.stop();
});

test('a frozen service rolled back to an older commit keeps it at startup: pins are not anti-rollback refusals', async () => {
  const t = await settled({ antiRollback: true });
  await t.poll(B);
  await t.agent.rollback(NAME, 'aaaa1111', operator);
  assert.equal(t.agent.service(NAME).commit, A);
  await t.poll(C);
  assert.equal(t.agent.service(NAME).commit, A);
  assert.match(t.agent.service(NAME).info, /^ROLLBACK: aaaa1111$/);
  assert.deepEqual(t.refused, []);
  await t.agent.stop();
});

test('gateQuery replaces $commit, $short, $service and $machine', () => {
  assert.equal(gateQuery('x{c="$commit",s="$short",svc="$service",m="$machine",o="$other"}', spec(), B), `x{c="${B}",s="bbbb2222",svc="grafana-server",m="localhost",o="$other"}`);
});
