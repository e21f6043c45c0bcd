/**
 * Notifications, the pure parts: which TrackerEvents become which events (src/telemetry/notifications.ts,
 * through withNotifications over a recording port), the bodies of the three formats and the link
 * template (src/adapters/notify/body.ts), and the signature (sign.ts, against RFC 4231's test vector).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { eventLink, renderBody } from '../src/adapters/notify/body.js';
import { signature } from '../src/adapters/notify/sign.js';
import type { TrackerEvents } from '../src/core/tracker.js';
import type { Outcome } from '../src/core/reconcile.js';
import type { ServiceStatus } from '../src/core/state.js';
import type { NotifyEvent } from '../src/ports/notify.js';
import { withNotifications } from '../src/telemetry/notifications.js';

const T0 = new Date('2024-08-01T10:00:00Z');
const C1 = 'a'.repeat(40);
const C2 = 'b'.repeat(40);
const C3 = 'c'.repeat(40);
const st = (over: Partial<ServiceStatus> = {}): ServiceStatus => ({ state: 'OK', info: '', since: T0, commit: C1, frozen: undefined, ...over });
const outcome = (over: Partial<Outcome> = {}): Outcome => ({ state: 'OK', info: '', commit: C2, changed: ['a'], mounted: 0, actions: [], drift: [], reverted: [], applied: true, hooks: [], job: undefined, phases: {}, runtime: { pendingAction: false }, ...over });

/** withNotifications over a base that records its calls, and a port that records the events. */
function rig(now = { state: 'OK', info: '', commit: C1, tip: C2 }) {
  const base: string[] = [];
  const events: NotifyEvent[] = [];
  let n = 0;
  const observer: TrackerEvents = {
    fetched: () => base.push('fetched'),
    reconciled: () => base.push('reconciled'),
    status: () => base.push('status'),
    upstream: () => base.push('upstream'),
    rolledBack: () => base.push('rolledBack'),
  };
  const ev = withNotifications(observer, { publish: (e) => events.push(e) }, { host: 'web1', lookup: (s) => (s === 'grafana' ? now : undefined), now: () => T0, id: () => `id-${++n}` });
  return { ev, base, events, names: () => events.map((e) => e.event) };
}

test('a pass that applied a new commit: one `applied` with previous and commit; the observer still gets everything', () => {
  const { ev, base, events } = rig();
  ev.reconciled('grafana', outcome(), 'poll', 0.1);
  ev.status('grafana', st({ commit: C2 }), st());
  ev.upstream('grafana', C2, C2);
  assert.deepEqual(base, ['reconciled', 'status', 'upstream']);
  assert.deepEqual(events, [{ version: 1, id: 'id-1', event: 'applied', time: '2024-08-01T10:00:00.000Z', host: 'web1', service: 'grafana', state: 'OK', info: '', commit: C2, previous: C1 }]);
});

test('no `applied` for a pass that changed nothing, a drift revert at the same commit, or the automatic rollback itself', () => {
  const { ev, events } = rig();
  ev.reconciled('grafana', outcome({ applied: false, changed: [] }), 'poll', 0.1);
  ev.status('grafana', st({ commit: C2 }), st()); // HEAD moved, no file of the service changed
  ev.reconciled('grafana', outcome({ commit: C2, reverted: ['x'] }), 'drift', 0.1);
  ev.reconciled('grafana', outcome({ commit: C1 }), 'auto-rollback', 0.1);
  ev.status('grafana', st({ commit: C1, state: 'ROLLBACK', info: 'AUTO', frozen: { by: 'gitopper', at: T0, reason: 'AUTO', rollback: C1, auto: { mode: 'freeze', bad: C2 } } }), st({ commit: C2 }));
  assert.deepEqual(events.map((e) => e.event), []);
});

test('BROKEN and DIFF on entry and on a new reason, `recovered` when leaving them; OK → OK is quiet', () => {
  const { ev, names, events } = rig();
  ev.status('grafana', st({ info: '' }), st({ info: 'starting' }));
  ev.status('grafana', st({ state: 'BROKEN', info: 'unit failed' }), st());
  ev.status('grafana', st({ state: 'BROKEN', info: 'mount failed' }), st({ state: 'BROKEN', info: 'unit failed' }));
  ev.status('grafana', st({ state: 'DIFF', info: 'fetch failed' }), st({ state: 'BROKEN', info: 'mount failed' }));
  ev.status('grafana', st(), st({ state: 'DIFF', info: 'fetch failed' }));
  assert.deepEqual(names(), ['BROKEN', 'BROKEN', 'DIFF', 'recovered']);
  assert.equal(events[0]!.info, 'unit failed');
  assert.equal(events[3]!.state, 'OK');
});

test('an operator freeze, unfreeze and rollback say who (and why); a copied freeze record is no new freeze', () => {
  const { ev, events, names } = rig();
  const frozen = { by: 'SHA256:abc miek@example', at: T0, reason: 'maintenance' };
  ev.status('grafana', st({ state: 'FREEZE', info: 'maintenance', frozen }), st());
  ev.status('grafana', st({ state: 'FREEZE', info: 'maintenance', frozen: { ...frozen } }), st({ state: 'FREEZE', info: 'maintenance', frozen }));
  ev.status('grafana', st(), st({ state: 'FREEZE', info: 'maintenance', frozen }), 'SHA256:xyz ops');
  const rollback = { by: 'SHA256:def ops', at: new Date(T0.getTime() + 1000), reason: 'rollback to cccccccc', rollback: C3 };
  ev.status('grafana', st({ state: 'ROLLBACK', info: 'ROLLBACK: cccccccc', frozen: rollback }), st());
  assert.deepEqual(names(), ['freeze', 'unfreeze', 'freeze']);
  assert.equal(events[0]!.by, 'SHA256:abc miek@example');
  assert.equal(events[0]!.reason, 'maintenance');
  assert.equal(events[1]!.by, 'SHA256:xyz ops', 'the status change says who unfroze');
  assert.deepEqual([events[2]!.by, events[2]!.tip, events[2]!.state], ['SHA256:def ops', C3, 'ROLLBACK']);
});

test('AUTO-ROLLBACK from the bad commit to the good one; none without a good commit (BROKEN says it)', () => {
  const { ev, events } = rig();
  ev.rolledBack!('grafana', { kind: 'http', reason: 'GET /health answered 500' }, C2, C1);
  ev.rolledBack!('grafana', { kind: 'unit', reason: 'unit failed' }, C2, undefined);
  assert.equal(events.length, 1);
  assert.deepEqual({ ...events[0], id: undefined, time: undefined }, { version: 1, id: undefined, time: undefined, event: 'AUTO-ROLLBACK', host: 'web1', service: 'grafana', state: 'ROLLBACK', info: `AUTO-ROLLBACK from bbbbbbbb to aaaaaaaa: GET /health answered 500`, commit: C1, previous: C2, by: 'gitopper', reason: 'GET /health answered 500' });
});

test('refused and held carry the commit as tip, the service as it is now, the reason and until', () => {
  const { ev, events } = rig();
  ev.refused!('grafana', C3, 'signature', 'not signed by an allowed signer');
  ev.held!('grafana', C2, 'window', 'outside Mon-Fri 09:00-17:00', new Date('2024-08-05T07:00:00Z'));
  ev.held!('other', C2, 'gate', 'canary BROKEN', undefined);
  assert.deepEqual(events.map((e) => [e.event, e.commit, e.tip, e.reason, e.until]), [
    ['refused', C1, C3, 'signature: not signed by an allowed signer', undefined],
    ['held', C1, C2, 'window: outside Mon-Fri 09:00-17:00', '2024-08-05T07:00:00.000Z'],
    ['held', '', C2, 'gate: canary BROKEN', undefined],
  ]);
  assert.ok(!('until' in events[0]!), 'absent fields are left out of the JSON, not null');
});

test('a port that throws never reaches the caller', () => {
  const observer: TrackerEvents = { fetched: () => {}, reconciled: () => {}, status: () => {}, upstream: () => {} };
  const ev = withNotifications(observer, { publish: () => { throw new Error('boom'); } }, { host: 'h', lookup: () => undefined });
  assert.doesNotThrow(() => ev.status('s', st({ state: 'BROKEN', info: 'x' }), st()));
  assert.doesNotThrow(() => ev.refused!('s', C2, 'not-descendant', 'force-push'));
});

const EVENT: NotifyEvent = { version: 1, id: 'e1', event: 'BROKEN', time: '2024-08-01T10:00:00.000Z', host: 'web1', service: 'grafana<x>', state: 'BROKEN', info: 'unit failed & <b>', commit: C2, previous: C1 };

test('link template: $host, $service, $commit, $event URL-encoded; other $words kept', () => {
  assert.equal(eventLink('https://g.example/d/x?var-host=$host&var-service=$service&c=$commit&e=$event&v=$__all', { ...EVENT, host: 'web 1' }), `https://g.example/d/x?var-host=web%201&var-service=grafana%3Cx%3E&c=${C2}&e=BROKEN&v=$__all`);
});

test('json body: the event, plus link when the target has a template', () => {
  assert.deepEqual(JSON.parse(renderBody(EVENT, 'json', undefined)), EVENT);
  assert.deepEqual(JSON.parse(renderBody(EVENT, 'json', 'https://g.example/$service')), { ...EVENT, link: 'https://g.example/grafana%3Cx%3E' });
});

test('slack body: text fallback plus a mrkdwn section (escaped, with the link) and a context', () => {
  const body = JSON.parse(renderBody(EVENT, 'slack', 'https://g.example/?s=$service')) as { text: string; blocks: Array<{ type: string; text?: { type: string; text: string }; elements?: Array<{ text: string }> }> };
  assert.equal(body.text, 'web1/grafana<x>: BROKEN at bbbbbbbb: unit failed & <b>');
  assert.deepEqual(body.blocks.map((b) => b.type), ['section', 'context']);
  assert.equal(body.blocks[0]!.text!.type, 'mrkdwn');
  assert.equal(body.blocks[0]!.text!.text, '*web1* / *grafana&lt;x&gt;*: BROKEN at bbbbbbbb: unit failed &amp; &lt;b&gt;\n<https://g.example/?s=grafana%3Cx%3E|details>');
  assert.match(body.blocks[1]!.elements![0]!.text, /state BROKEN · commit `bbbbbbbb`/);
});

test('matrix body: hookshot\'s text and html (escaped, the link as an anchor)', () => {
  const body = JSON.parse(renderBody({ ...EVENT, event: 'freeze', state: 'FREEZE', by: 'ops', reason: 'x' }, 'matrix', undefined)) as Record<string, string>;
  assert.deepEqual(Object.keys(body).sort(), ['html', 'text']);
  assert.equal(body.text, 'web1/grafana<x>: frozen by ops at bbbbbbbb: x');
  assert.equal(body.html, '<b>web1/grafana&lt;x&gt;</b>: frozen by ops at bbbbbbbb: x');
  const linked = JSON.parse(renderBody(EVENT, 'matrix', 'https://g.example/?a=1&b=$host')) as Record<string, string>;
  assert.match(linked.html!, /<a href="https:\/\/g.example\/\?a=1&amp;b=web1">details<\/a>/);
});

test('signature: sha256=<hex HMAC-SHA256> (RFC 4231 test case 2)', () => {
  assert.equal(signature('Jefe', 'what do ya want for nothing?'), 'sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843');
});

test('a refused commit is told once, by `refused`: its DIFF (REFUSED <hash>: …) sends no DIFF event', () => {
  const { ev, events } = rig();
  ev.status('grafana', st({ state: 'DIFF', info: `REFUSED cccccccc: not signed` }), st());
  ev.status('grafana', st({ state: 'DIFF', info: 'fetching main from x: down' }), st({ state: 'DIFF', info: `REFUSED cccccccc: not signed` }));
  assert.deepEqual(events.map((e) => [e.event, e.info]), [['DIFF', 'fetching main from x: down']]);
});
