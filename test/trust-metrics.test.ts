/** The admission and rollout series (src/telemetry/trust-metrics.ts) through the observer's events. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import pino from 'pino';
import { Metrics } from '../src/telemetry/metrics.js';
import { observer } from '../src/telemetry/observer.js';

const C1 = '1'.repeat(40);
const C2 = '2'.repeat(40);

async function series(m: Metrics, name: string): Promise<string[]> {
  return (await m.registry.getSingleMetricAsString(name)).split('\n').filter((l) => !l.startsWith('#') && l !== '');
}

test('refused counts by reason, held follows the hold and is cleared by a pass, failed_commit_info keeps one series per service', async () => {
  const m = new Metrics({ processMetrics: false });
  const ev = observer(pino({ level: 'silent' }), m);
  m.addService({ service: 'web', branch: 'main', state: 'OK', since: new Date(0), commit: C1 });
  assert.deepEqual(await series(m, 'gitopper_service_refused_commits_total'), ['gitopper_service_refused_commits_total{service="web",reason="signature"} 0', 'gitopper_service_refused_commits_total{service="web",reason="not-descendant"} 0']);
  ev.refused?.('web', C2, 'signature', 'not signed');
  ev.refused?.('web', C1, 'signature', 'not signed');
  assert.match((await series(m, 'gitopper_service_refused_commits_total'))[0]!, /reason="signature"\} 2$/);
  ev.held?.('web', C2, 'gate', 'x', undefined);
  assert.deepEqual((await series(m, 'gitopper_service_held')).map((l) => l.replace(/^.*reason="(\w+)"\} (\d)$/, '$1=$2')), ['window=0', 'bake=0', 'gate=1']);
  ev.reconciled('web', { state: 'OK', info: '', commit: C2, changed: [], mounted: 0, actions: [], drift: [], reverted: [], hooks: [], phases: {}, applied: false, runtime: { pendingAction: false } } as never, 'poll', 0.1);
  assert.ok((await series(m, 'gitopper_service_held')).every((l) => l.endsWith(' 0')), 'a pass ends the hold');
  ev.rolledBack?.('web', { kind: 'exec', reason: 'r' }, C1, undefined);
  ev.rolledBack?.('web', { kind: 'exec', reason: 'r' }, C2, C1);
  assert.deepEqual(await series(m, 'gitopper_service_failed_commit_info'), [`gitopper_service_failed_commit_info{service="web",commit="${C2}"} 1`]);
  m.removeService('web');
  ev.refused?.('web', C2, 'not-descendant', 'x');
  assert.deepEqual(await series(m, 'gitopper_service_refused_commits_total'), [], 'a removed service\'s late events bring nothing back');
  assert.deepEqual(await series(m, 'gitopper_service_failed_commit_info'), []);
});
