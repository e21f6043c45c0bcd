/**
 * src/telemetry/observer.ts, `status`: a `state` log line is a transition (state or info changed), never an
 * update that only moved the commit or the freeze record (issue 16: "state" lines for OK → OK).
 * Metrics follow every update either way.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { createLogger } from '../src/telemetry/log.js';
import { Metrics } from '../src/telemetry/metrics.js';
import { observer } from '../src/telemetry/observer.js';
import type { ServiceStatus } from '../src/core/state.js';

const T0 = new Date('2024-08-01T10:00:00Z');
const T1 = new Date('2024-08-01T10:05:00Z');
const C1 = 'a'.repeat(40);
const C2 = 'b'.repeat(40);

function rig() {
  const lines: Array<Record<string, unknown>> = [];
  const out = new Writable({
    write(chunk: Buffer, _enc, cb) {
      for (const l of chunk.toString().split('\n').filter(Boolean)) lines.push(JSON.parse(l) as Record<string, unknown>);
      cb();
    },
  });
  const metrics = new Metrics({ processMetrics: false });
  metrics.syncServices([{ service: 'grafana', state: 'OK', since: T0, commit: C1, branch: 'main' }]);
  return { ev: observer(createLogger(true, out), metrics), metrics, stateLines: () => lines.filter((l) => l.msg === 'state') };
}

const st = (over: Partial<ServiceStatus> = {}): ServiceStatus => ({ state: 'OK', info: '', since: T0, commit: C1, frozen: undefined, ...over });

test('OK → OK at a new commit is no transition: no state line, yet the metrics follow the update', async () => {
  const { ev, metrics, stateLines } = rig();
  ev.status('grafana', st({ commit: C2 }), st());
  assert.deepEqual(stateLines(), []);
  const text = await metrics.registry.metrics();
  assert.match(text, new RegExp(`gitopper_service_info\\{[^}]*commit="${C2.slice(0, 8)}`), 'service_info moved to the new commit');
});

test('a changed freeze record with the same state and info is no transition either', () => {
  const { ev, stateLines } = rig();
  const frozen = { by: 'SHA256:x', at: T1, reason: 'r' };
  ev.status('grafana', st({ state: 'FREEZE', info: 'frozen', frozen }), st({ state: 'FREEZE', info: 'frozen', frozen: { ...frozen } }));
  assert.deepEqual(stateLines(), []);
});

test('real transitions log one line each: OK at info, the others at warn; info changes count', () => {
  const { ev, stateLines } = rig();
  ev.status('grafana', st({ info: '', since: T1 }), st({ info: 'starting' })); // first pass: OK "starting" → OK
  ev.status('grafana', st({ state: 'BROKEN', info: 'unit failed', since: T1 }), st());
  ev.status('grafana', st({ state: 'BROKEN', info: 'mount failed', since: T1 }), st({ state: 'BROKEN', info: 'unit failed' }));
  ev.status('grafana', st({ commit: C2, since: T1 }), st({ state: 'BROKEN', info: 'mount failed' }));
  const got = stateLines().map((l) => [l.level, l.from, l.state, l.info, l.fromInfo]);
  assert.deepEqual(got, [
    [30, 'OK', 'OK', '', 'starting'],
    [40, 'OK', 'BROKEN', 'unit failed', ''],
    [40, 'BROKEN', 'BROKEN', 'mount failed', 'unit failed'],
    [30, 'BROKEN', 'OK', '', 'mount failed'],
  ]);
});
