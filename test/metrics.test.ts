/**
 * Metrics as Prometheus sees them: the observer is driven with synthetic TrackerEvents (and once
 * by a real Agent over fakes), the registry's exposition text is checked by `promtool check metrics`
 * (must exit 0 with no problems) and its samples are read back to assert values.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import type { AddressInfo } from 'node:net';
import { Writable } from 'node:stream';
import { createLogger } from '../src/telemetry/log.js';
import { Metrics, PROMTOOL_REJECTED } from '../src/telemetry/metrics.js';
import { observer } from '../src/telemetry/observer.js';
import { metricsApp } from '../src/http/metrics-app.js';
import type { Outcome } from '../src/core/reconcile.js';
import type { SourceRef } from '../src/ports/git.js';
import { initialStatus, nextStatus, type ServiceStatus } from '../src/core/state.js';
import type { TrackerEvents } from '../src/core/tracker.js';
import { FakeGit, ManualClock, until } from './fakes/ports.js';
import { spec } from './fakes/spec.js';
import { missingPackage } from './rig/system-packages.js';
import { agentSetup } from './fakes/agent-setup.js';

const C1 = 'c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1';
const C2 = 'c2c2c2c2c2c2c2c2c2c2c2c2c2c2c2c2c2c2c2c2';
const SOURCE: SourceRef = { upstream: 'http://127.0.0.1:1/repo', branch: 'main', tokenFile: undefined };
const T0 = new Date('2024-01-01T00:00:00Z');
const at = (s: number) => new Date(T0.getTime() + s * 1000);

const noPromtool = missingPackage('prometheus', 'promtool');

/** `promtool check metrics` on `text`: exit code and everything it printed. */
function promtoolCheck(text: string): { status: number | null; output: string } {
  const r = spawnSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8', timeout: 10_000 });
  return { status: r.status, output: `${r.stdout}${r.stderr}`.trim() };
}

/** Assert promtool accepts `text` without a single problem. */
function assertPromtoolClean(text: string): void {
  const r = promtoolCheck(text);
  assert.equal(r.status, 0, `promtool check metrics failed:\n${r.output}`);
  assert.equal(r.output, '', `promtool reported problems:\n${r.output}`);
}

/** One sample of the exposition text. */
interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** Samples of a text-format 0.0.4 exposition (comments skipped; label values unescaped). */
function parse(text: string): Sample[] {
  const out: Sample[] = [];
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)(?: -?\d+)?$/.exec(line);
    assert.ok(m, `not a sample line: ${line}`);
    const labels: Record<string, string> = {};
    for (const l of (m[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) labels[l[1]!] = l[2]!.replace(/\\(.)/g, (_s, c: string) => (c === 'n' ? '\n' : c));
    out.push({ name: m[1]!, labels, value: Number(m[3] === '+Inf' ? Infinity : m[3]) });
  }
  return out;
}

/** Samples named `name` whose labels include `labels`. */
function find(samples: Sample[], name: string, labels: Record<string, string> = {}): Sample[] {
  return samples.filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v));
}

/** The value of the one sample named `name` with `labels`; undefined when absent, throws when ambiguous. */
function value(samples: Sample[], name: string, labels: Record<string, string> = {}): number | undefined {
  const hits = find(samples, name, labels);
  assert.ok(hits.length <= 1, `${hits.length} samples of ${name} ${JSON.stringify(labels)}`);
  return hits[0]?.value;
}

/** The registry's exposition, promtool-checked, as samples. */
async function scrape(m: Metrics, check = !noPromtool): Promise<Sample[]> {
  const text = await m.registry.metrics();
  if (check) assertPromtoolClean(text);
  return parse(text);
}

const silent = () => createLogger(false, new Writable({ write: (_c, _e, cb) => cb() }));

/** Metrics plus an observer over them (no process metrics unless asked: values only). */
function rig(processMetrics = false): { m: Metrics; ev: TrackerEvents } {
  const m = new Metrics({ version: '1.2.3', processMetrics });
  return { m, ev: observer(silent(), m) };
}

function status(over: Partial<ServiceStatus> = {}): ServiceStatus {
  return { state: 'OK', info: '', since: T0, commit: C1, frozen: undefined, ...over };
}

/** A pass outcome that did nothing; override any field. */
function outcome(over: Partial<Outcome> = {}): Outcome {
  return { state: 'OK', info: '', commit: C1, changed: [], mounted: 0, actions: [], drift: [], reverted: [], applied: false, hooks: [], job: undefined, phases: {}, runtime: { pendingAction: false }, ...over };
}

test('everything served passes promtool check metrics, process and Node.js metrics included', { skip: noPromtool }, async () => {
  const m = new Metrics({ version: '0.1.0' });
  m.addService({ service: 'grafana-server', branch: 'main', state: 'OK', since: T0, commit: C1 });
  m.configLoaded(true, T0);
  m.reload('grafana-server', 'timeout');
  m.phase('fetch', 0.2);
  m.pass('grafana-server', 0.3);
  m.gitOp(true);
  const text = await m.registry.metrics();
  const r = promtoolCheck(text);
  assert.equal(r.status, 0, r.output);
  assert.equal(r.output, '');
  const names = new Set(parse(text).map((s) => s.name));
  for (const n of ['process_cpu_seconds_total', 'process_resident_memory_bytes', 'process_start_time_seconds', 'process_open_fds', 'process_max_fds', 'nodejs_heap_size_used_bytes', 'nodejs_active_handles']) {
    assert.ok(names.has(n), `${n} is served`);
  }
  for (const n of PROMTOOL_REJECTED) assert.equal(names.has(n), false, `${n} is left out`);

  // and the check itself bites: prom-client's rejected gauges make it fail
  const bad = `${text}# HELP nodejs_active_handles_total x\n# TYPE nodejs_active_handles_total gauge\nnodejs_active_handles_total 3\n`;
  assert.notEqual(promtoolCheck(bad).status, 0);
});

test('addService shows a service before its first pass; config and build info', async () => {
  const { m } = rig();
  let s = await scrape(m);
  assert.equal(value(s, 'gitopper_build_info', { version: '1.2.3' }), 1);
  assert.equal(find(s, 'gitopper_config_last_reload_successful').length, 0, 'no config series before configLoaded');
  assert.equal(value(s, 'gitopper_machine_git_ops_total'), 0);
  assert.equal(value(s, 'gitopper_machine_git_errors_total'), 0);

  m.addService({ service: 'grafana-server', branch: 'main', state: 'FREEZE', since: at(7), commit: C1 });
  m.addService({ service: 'prometheus', branch: 'canary', state: 'OK', since: at(9), commit: '' });
  m.configLoaded(true, at(5));
  s = await scrape(m);
  assert.equal(value(s, 'gitopper_service_state', { service: 'grafana-server' }), 1);
  assert.equal(value(s, 'gitopper_service_change_time_seconds', { service: 'grafana-server' }), T0.getTime() / 1000 + 7);
  assert.equal(value(s, 'gitopper_service_state', { service: 'prometheus' }), 0);
  assert.deepEqual(find(s, 'gitopper_service_info').map((x) => x.labels), [{ service: 'grafana-server', hash: C1.slice(0, 8), commit: C1, branch: 'main' }], 'no info series while nothing is deployed');
  for (const service of ['grafana-server', 'prometheus']) {
    assert.equal(value(s, 'gitopper_service_upstream_ahead', { service }), 0);
    assert.equal(value(s, 'gitopper_service_drift', { service }), 0);
    assert.equal(value(s, 'gitopper_service_reloads_total', { service, result: 'done' }), 0);
    assert.equal(value(s, 'gitopper_service_reloads_total', { service, result: 'failed' }), 0);
    assert.equal(value(s, 'gitopper_service_passes_skipped_total', { service }), 0, 'skipped passes start at 0');
  }
  for (const phase of ['fetch', 'checkout', 'mount', 'unit']) assert.equal(value(s, 'gitopper_sync_duration_seconds_count', { phase }), 0, `${phase} initialised`);
  assert.equal(value(s, 'gitopper_config_last_reload_successful'), 1);
  assert.equal(value(s, 'gitopper_config_last_reload_success_timestamp_seconds'), T0.getTime() / 1000 + 5);

  m.configLoaded(false, at(60));
  s = await scrape(m);
  assert.equal(value(s, 'gitopper_config_last_reload_successful'), 0);
  assert.equal(value(s, 'gitopper_config_last_reload_success_timestamp_seconds'), T0.getTime() / 1000 + 5, 'a failed load keeps the last success time');

  m.setDrift('grafana-server', 3);
  s = await scrape(m);
  assert.equal(value(s, 'gitopper_service_drift', { service: 'grafana-server' }), 3);
  m.addService({ service: 'grafana-server', branch: 'main', state: 'FREEZE', since: at(7), commit: C1 });
  assert.equal(value(await scrape(m), 'gitopper_service_drift', { service: 'grafana-server' }), 3, 'adding a known service again keeps its drift');
});

test('state values follow the five states; change_time moves only on a real transition', async () => {
  const { m, ev } = rig();
  m.addService({ service: 'svc', branch: 'main', ...initialStatus(T0) });
  let cur: ServiceStatus = initialStatus(T0);
  const step = async (next: { state: ServiceStatus['state']; info: string; commit: string }, t: number) => {
    const prev = cur;
    cur = nextStatus(cur, { ...next, frozen: undefined }, at(t));
    if (cur !== prev) ev.status('svc', cur, prev);
    const s = await scrape(m);
    return [value(s, 'gitopper_service_state', { service: 'svc' }), value(s, 'gitopper_service_change_time_seconds', { service: 'svc' })! - T0.getTime() / 1000];
  };
  assert.deepEqual(await step({ state: 'OK', info: '', commit: C1 }, 10), [0, 10], 'starting → OK is a transition');
  assert.deepEqual(await step({ state: 'OK', info: '', commit: C2 }, 20), [0, 10], 'a new commit alone is no transition');
  assert.deepEqual(await step({ state: 'OK', info: '', commit: C2 }, 25), [0, 10], 'nothing changed');
  assert.deepEqual(await step({ state: 'FREEZE', info: 'held', commit: C2 }, 30), [1, 30]);
  assert.deepEqual(await step({ state: 'ROLLBACK', info: 'ROLLBACK: c1c1c1c1', commit: C2 }, 40), [2, 40]);
  assert.deepEqual(await step({ state: 'BROKEN', info: 'systemd reload: job failed', commit: C1 }, 50), [3, 50]);
  assert.deepEqual(await step({ state: 'BROKEN', info: 'systemd reload: job failed', commit: C1 }, 55), [3, 50], 'the same failure again is no transition');
  assert.deepEqual(await step({ state: 'DIFF', info: 'fetching: refused', commit: C1 }, 60), [4, 60]);
  assert.deepEqual(await step({ state: 'OK', info: '', commit: C1 }, 70), [0, 70]);
});

test('service_info keeps exactly one series per service when the commit changes', async () => {
  const { m, ev } = rig();
  m.addService({ service: 'svc', branch: 'main', ...initialStatus(T0) });
  m.addService({ service: 'other', branch: 'main', state: 'OK', since: T0, commit: C1 });
  ev.status('svc', status({ commit: C1 }), initialStatus(T0));
  let s = await scrape(m);
  assert.deepEqual(find(s, 'gitopper_service_info', { service: 'svc' }).map((x) => [x.labels.hash, x.labels.commit, x.labels.branch, x.value]), [[C1.slice(0, 8), C1, 'main', 1]]);
  ev.status('svc', status({ commit: C2 }), status({ commit: C1 }));
  s = await scrape(m);
  assert.deepEqual(find(s, 'gitopper_service_info', { service: 'svc' }).map((x) => [x.labels.hash, x.labels.commit, x.value]), [[C2.slice(0, 8), C2, 1]], 'old label set dropped');
  assert.equal(find(s, 'gitopper_service_info', { service: 'other' }).length, 1, 'other services untouched');
  // a rollout across a fleet: count by commit
  assert.deepEqual(find(s, 'gitopper_service_info').map((x) => x.labels.hash).sort(), [C1.slice(0, 8), C2.slice(0, 8)]);
  // branch change (live config) relabels too
  m.addService({ service: 'svc', branch: 'canary', state: 'OK', since: T0, commit: C2 });
  s = await scrape(m);
  assert.deepEqual(find(s, 'gitopper_service_info', { service: 'svc' }).map((x) => x.labels.branch), ['canary']);
  // removed from the config: every per-service series goes, and late events do not bring them back
  m.reload('svc', 'timeout');
  m.pass('svc', 1);
  ev.skipped?.('svc', C1);
  assert.equal(value(await scrape(m), 'gitopper_service_passes_skipped_total', { service: 'svc' }), 1);
  m.removeService('svc');
  ev.status('svc', status({ commit: C1 }), status({ commit: C2 }));
  ev.skipped?.('svc', C1);
  ev.upstream('svc', C1, C1);
  ev.reconciled('svc', outcome({ job: { action: 'reload', result: 'done' } }), 'poll', 1);
  m.setDrift('svc', 2);
  s = await scrape(m);
  assert.deepEqual(s.filter((x) => x.labels.service === 'svc').map((x) => x.name), []);
  assert.equal(value(s, 'gitopper_service_state', { service: 'other' }), 0);
  m.addService({ service: 'svc', branch: 'main', state: 'OK', since: T0, commit: C1 });
  s = await scrape(m);
  assert.equal(value(s, 'gitopper_service_reloads_total', { service: 'svc', result: 'done' }), 0, 'added again: counts from 0');
  assert.equal(find(s, 'gitopper_service_info', { service: 'svc' }).length, 1);
});

test('reloads_total counts one per systemd job waited for, by result', async () => {
  const { m, ev } = rig();
  m.addService({ service: 'svc', branch: 'main', state: 'OK', since: T0, commit: C1 });
  ev.reconciled('svc', outcome({ actions: ['daemon-reload', 'reload'], job: { action: 'reload', result: 'done' } }), 'poll', 0.1);
  ev.reconciled('svc', outcome({ actions: ['daemon-reload', 'reload'], job: { action: 'reload', result: 'done' } }), 'pull', 0.1);
  ev.reconciled('svc', outcome({ state: 'BROKEN', actions: ['daemon-reload', 'reload'], job: { action: 'reload', result: 'failed' } }), 'poll', 0.1);
  ev.reconciled('svc', outcome({ state: 'BROKEN', actions: ['daemon-reload', 'restart'], job: { action: 'restart', result: 'timeout' } }), 'poll', 0.1);
  ev.reconciled('svc', outcome(), 'poll', 0.01); // nothing changed: no job
  ev.reconciled('svc', outcome({ state: 'BROKEN', actions: [] }), 'poll', 0.01); // daemon-reload failed: no job waited for
  const s = await scrape(m);
  assert.deepEqual(find(s, 'gitopper_service_reloads_total', { service: 'svc' }).map((x) => [x.labels.result, x.value]).sort(), [['done', 2], ['failed', 1], ['timeout', 1]]);
  assert.equal(find(s, 'gitopper_service_pass_duration_seconds_count', { service: 'svc' })[0]?.value, 6);
});

test('drift follows the files a pass found differing; an early failure does not reset it', async () => {
  const { m, ev } = rig();
  m.addService({ service: 'svc', branch: 'main', state: 'OK', since: T0, commit: C1 });
  const drift = async () => value(await scrape(m), 'gitopper_service_drift', { service: 'svc' });
  const found = (state: Outcome['state'], drift: string[]) => outcome({ state, drift });
  assert.equal(await drift(), 0);
  ev.reconciled('svc', found('OK', ['grafana/etc/grafana.ini', 'grafana/etc/ldap.toml']), 'drift', 0.01);
  assert.equal(await drift(), 2);
  ev.reconciled('svc', found('DIFF', []), 'poll', 0.01); // failed before looking
  assert.equal(await drift(), 2);
  ev.reconciled('svc', found('DIFF', ['grafana/etc/grafana.ini']), 'poll', 0.01); // clash with an upstream change
  assert.equal(await drift(), 1);
  ev.reconciled('svc', found('OK', []), 'poll', 0.01);
  assert.equal(await drift(), 0);
  ev.reconciled('svc', outcome({ reverted: ['grafana/etc/grafana.ini'], actions: ['daemon-reload', 'reload'], job: { action: 'reload', result: 'done' } }), 'drift', 0.01);
  assert.equal(await drift(), 0, 'reverted edits are no drift');
  m.setDrift('svc', 4);
  assert.equal(await drift(), 4);
});

test('sync_duration_seconds: fetch from fetched, checkout/mount/unit from the outcome phases', async () => {
  const { m, ev } = rig();
  ev.fetched(SOURCE, 0.003, C1, undefined);
  ev.fetched(SOURCE, 0.2, undefined, new Error('connection refused'));
  ev.reconciled('svc', outcome({ phases: { checkout: 0.02, mount: 0.001 } }), 'poll', 0.03);
  ev.reconciled('svc', outcome({ phases: { checkout: 0.04, mount: 0.002, unit: 3 }, job: { action: 'reload', result: 'done' } }), 'poll', 3.05);
  const s = await scrape(m);
  const bucket = (phase: string, le: string) => value(s, 'gitopper_sync_duration_seconds_bucket', { phase, le });
  assert.deepEqual([bucket('fetch', '0.005'), bucket('fetch', '0.1'), bucket('fetch', '0.25'), bucket('fetch', '+Inf')], [1, 1, 2, 2]);
  assert.equal(value(s, 'gitopper_sync_duration_seconds_count', { phase: 'fetch' }), 2);
  assert.ok(Math.abs(value(s, 'gitopper_sync_duration_seconds_sum', { phase: 'fetch' })! - 0.203) < 1e-9);
  assert.deepEqual([bucket('checkout', '0.01'), bucket('checkout', '0.025'), bucket('checkout', '0.05')], [0, 1, 2]);
  assert.deepEqual([bucket('mount', '0.005'), value(s, 'gitopper_sync_duration_seconds_count', { phase: 'mount' })], [2, 2]);
  assert.deepEqual([bucket('unit', '2.5'), bucket('unit', '5'), value(s, 'gitopper_sync_duration_seconds_count', { phase: 'unit' })], [0, 1, 1], 'unit only when it ran');
  assert.deepEqual([value(s, 'gitopper_machine_git_ops_total'), value(s, 'gitopper_machine_git_errors_total')], [2, 1]);
});

test('upstream_ahead: 0 when deployed = tip, 1 when behind (a frozen service); unfreeze and rollback move it at once', async () => {
  const { m, ev } = rig();
  m.addService({ service: 'svc', branch: 'main', state: 'OK', since: T0, commit: C1 });
  const ahead = async () => value(await scrape(m), 'gitopper_service_upstream_ahead', { service: 'svc' });
  ev.upstream('svc', C1, C1);
  assert.equal(await ahead(), 0);
  ev.upstream('svc', C2, C1); // frozen: fetched, not deployed
  assert.equal(await ahead(), 1);
  ev.upstream('svc', C2, '');
  assert.equal(await ahead(), 1, 'nothing deployed yet is behind');
  ev.upstream('svc', C1, C1);
  // a normal pass to a newer commit: nothing moves until the upstream event that follows it
  ev.status('svc', status({ commit: C2 }), status());
  assert.equal(await ahead(), 0);
  ev.upstream('svc', C2, C2);
  // rollback to C1 (frozen): behind the last tip at once
  ev.status('svc', status({ state: 'FREEZE', info: 'ROLLBACK: c1c1c1c1', commit: C1 }), status({ state: 'ROLLBACK', commit: C2 }));
  assert.equal(await ahead(), 1);
  // unfreeze deploys the tip: not behind at once
  ev.status('svc', status({ commit: C2 }), status({ state: 'FREEZE', commit: C1 }));
  assert.equal(await ahead(), 0);
});

test('a real Agent over fakes: series appear from addService, passes, freeze and unfreeze', async () => {
  const git = new FakeGit();
  git.push(C1, { 'grafana/etc/grafana.ini': 'v1' });
  const clock = new ManualClock();
  const m = new Metrics({ processMetrics: false });
  const agent = agentSetup([spec(), spec({ service: 'prometheus', dirs: [{ local: '/etc/prometheus', link: 'prometheus/etc', file: false }] })], {
    git, clock, random: () => 0.5, events: observer(silent(), m), hostname: 'host1',
  }).agent;
  m.syncServices(agent.services()); // cmd/gitopper.ts does the same at startup
  let s = await scrape(m);
  assert.deepEqual(find(s, 'gitopper_service_state').map((x) => [x.labels.service, x.value]), [['grafana-server', 0], ['prometheus', 0]]);
  agent.start();
  await agent.ready();
  s = await scrape(m);
  assert.deepEqual(find(s, 'gitopper_service_info').map((x) => [x.labels.service, x.labels.commit, x.labels.branch]), [['grafana-server', C1, 'main'], ['prometheus', C1, 'main']]);
  assert.equal(value(s, 'gitopper_service_upstream_ahead', { service: 'grafana-server' }), 0);
  assert.equal(value(s, 'gitopper_service_reloads_total', { service: 'grafana-server', result: 'done' }), 1, 'first setup started the unit and waited for it');
  assert.equal(value(s, 'gitopper_machine_git_ops_total'), 1, 'one fetch for both services');
  const changed = value(s, 'gitopper_service_change_time_seconds', { service: 'grafana-server' });

  await agent.freeze('grafana-server', { by: 'test' }, 'hold');
  git.push(C2, { 'grafana/etc/grafana.ini': 'v2' });
  clock.tick();
  await until(() => git.fetches.length >= 2 && clock.sleeps.length > 0, 'the second pass to finish');
  s = await scrape(m);
  assert.equal(value(s, 'gitopper_service_state', { service: 'grafana-server' }), 1);
  assert.equal(value(s, 'gitopper_service_upstream_ahead', { service: 'grafana-server' }), 1, 'frozen and behind');
  assert.equal(value(s, 'gitopper_service_info', { service: 'grafana-server', commit: C1 }), 1);
  assert.equal(value(s, 'gitopper_service_info', { service: 'prometheus', commit: C2 }), 1);
  assert.equal(find(s, 'gitopper_service_info').length, 2);
  assert.ok(value(s, 'gitopper_service_change_time_seconds', { service: 'grafana-server' })! >= changed!);

  await agent.unfreeze('grafana-server', { by: 'test' });
  s = await scrape(m);
  assert.equal(value(s, 'gitopper_service_state', { service: 'grafana-server' }), 0);
  assert.equal(value(s, 'gitopper_service_upstream_ahead', { service: 'grafana-server' }), 0, 'unfreeze caught up');
  assert.deepEqual(find(s, 'gitopper_service_info', { service: 'grafana-server' }).map((x) => x.labels.commit), [C2]);
  assert.equal(value(s, 'gitopper_service_reloads_total', { service: 'grafana-server', result: 'done' }), 2, 'the change was reloaded');

  // live config: prometheus removed, caddy added, grafana-server moves to another branch
  await agent.reconfigure([spec({ branch: 'canary' }), spec({ service: 'caddy', dirs: [{ local: '/etc/caddy', link: 'caddy', file: false }] })]);
  m.syncServices(agent.services()); // cmd/gitopper.ts does the same after each config change
  s = await scrape(m);
  assert.deepEqual([...new Set(s.filter((x) => x.labels.service !== undefined).map((x) => x.labels.service))].sort(), ['caddy', 'grafana-server']);
  assert.deepEqual(find(s, 'gitopper_service_info', { service: 'grafana-server' }).map((x) => x.labels.branch), ['canary']);
  assert.equal(value(s, 'gitopper_service_reloads_total', { service: 'grafana-server', result: 'done' }), 2, 'counters survive a config change');
  await agent.stop();
});

test('the metrics listener: /metrics from the registry, /healthz ok, anything else 404', async (t) => {
  const m = new Metrics({ version: '9.9.9', processMetrics: false });
  const server = metricsApp(m.registry).listen(0, '127.0.0.1');
  t.after(() => server.close());
  await new Promise((r) => server.once('listening', r));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const r = await fetch(`${base}/metrics`);
  assert.equal(r.status, 200);
  assert.match(r.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/);
  assert.match(await r.text(), /^gitopper_build_info\{version="9\.9\.9"\} 1$/m);
  const h = await fetch(`${base}/healthz`);
  assert.deepEqual([h.status, await h.text()], [200, 'ok']);
  assert.equal((await fetch(`${base}/nope`)).status, 404);
});

test('automatic rollbacks are counted by what failed', async () => {
  const { m, ev } = rig();
  m.addService({ service: 'web', branch: 'main', state: 'OK', since: T0, commit: C1 });
  ev.rolledBack?.('web', { kind: 'http', reason: 'answered 500' }, C1, C1);
  ev.rolledBack?.('web', { kind: 'http', reason: 'answered 500' }, C1, undefined);
  ev.rolledBack?.('web', { kind: 'unit', reason: 'failed' }, C1, C1);
  const text = await m.registry.metrics();
  assert.match(text, /gitopper_service_rollbacks_total\{service="web",reason="http"\} 2/);
  assert.match(text, /gitopper_service_rollbacks_total\{service="web",reason="unit"\} 1/);
});
