/**
 * Metrics end to end: the real daemon (World harness: loopback git server, systemd user manager,
 * bind mounts) scraped by a REAL Prometheus every second. Prometheus must see the service OK (0),
 * then FREEZE (1) after a freeze through the REST API, then upstream_ahead 1 once the upstream
 * moves past the frozen commit. The daemon's live /metrics must pass `promtool check metrics`.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { canRunSandbox, reloadMarkerUnit } from './rig/systemd.js';
import { World } from './e2e/world.js';
import { missingPackage } from './rig/system-packages.js';
import { freePort } from './rig/ports.js';

const sandbox = canRunSandbox();
const skip = !sandbox.ok ? sandbox.why : missingPackage('prometheus', 'prometheus', 'promtool');
let w: World;

before(async () => {
  if (!skip) w = await World.create('gitopper-e2e-metrics');
});
after(async () => {
  await w?.close();
});

/** A running Prometheus; `stop()` ends it (SIGTERM, then SIGKILL after 5 s). */
interface Prometheus {
  readonly url: string;
  output(): string;
  stop(): Promise<void>;
}

/** Start Prometheus scraping `target` (host:port) every second, data in `dir`. */
async function startPrometheus(dir: string, target: string): Promise<Prometheus> {
  await mkdir(dir, { recursive: true });
  const config = path.join(dir, 'prometheus.yml');
  await writeFile(config, `global:
  scrape_interval: 1s
  scrape_timeout: 1s
  evaluation_interval: 1s
scrape_configs:
  - job_name: gitopper
    static_configs:
      - targets: ['${target}']
`);
  const port = await freePort();
  const child: ChildProcess = spawn('prometheus', [`--config.file=${config}`, `--storage.tsdb.path=${path.join(dir, 'data')}`, `--web.listen-address=127.0.0.1:${port}`, '--log.level=warn'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout!.setEncoding('utf8').on('data', (c: string) => (out += c));
  child.stderr!.setEncoding('utf8').on('data', (c: string) => (out += c));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  return {
    url: `http://127.0.0.1:${port}`,
    output: () => out,
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
      await exited;
      clearTimeout(timer);
    },
  };
}

/** One instant-vector result of Prometheus' HTTP API. */
interface Result {
  metric: Record<string, string>;
  value: [number, string];
}

/** Run an instant query; [] while Prometheus is not up yet. */
async function query(prom: Prometheus, q: string): Promise<Result[]> {
  try {
    const r = await fetch(`${prom.url}/api/v1/query?query=${encodeURIComponent(q)}`, { signal: AbortSignal.timeout(2_000) });
    if (!r.ok) return [];
    const body = (await r.json()) as { status: string; data: { result: Result[] } };
    return body.status === 'success' ? body.data.result : [];
  } catch {
    return [];
  }
}

/** Poll `q` every 200 ms until `pred` holds for its results; resolves with them and the seconds waited. */
async function waitQuery(prom: Prometheus, q: string, pred: (r: Result[]) => boolean, what: string, ms: number): Promise<{ results: Result[]; seconds: number }> {
  const t0 = performance.now();
  let last: Result[] = [];
  while (performance.now() - t0 < ms) {
    last = await query(prom, q);
    if (pred(last)) return { results: last, seconds: (performance.now() - t0) / 1000 };
    await new Promise((r) => setTimeout(r, 200));
  }
  const targets = await fetch(`${prom.url}/api/v1/targets`).then((r) => r.text()).catch((e: Error) => e.message);
  throw new Error(`timed out after ${ms} ms waiting for ${what}; last ${q} = ${JSON.stringify(last)}\ntargets: ${targets}\nprometheus: ${prom.output().slice(-2000)}`);
}

const valueIs = (v: string) => (r: Result[]) => r.length === 1 && r[0]!.value[1] === v;

test('a real Prometheus scrapes the daemon: OK 0, freeze → 1, frozen and behind → upstream_ahead 1; live /metrics passes promtool', { skip, timeout: 120_000 }, async (t) => {
  await w.um.writeUnit('grafana-server.service', reloadMarkerUnit('grafana-server', path.join(w.dir, 'grafana.reloads')));
  const d = await w.daemon('metrics', w.config('metrics', w.grafana('metrics')));
  t.after(() => d.stop());
  const listening = await d.waitLog((l) => l.msg === 'listening' && l.what === 'metrics', 'the metrics listener');
  const target = `127.0.0.1:${(listening.addr as AddressInfo).port}`;
  await d.waitLog((l) => l.msg === 'ready', 'first pass');
  const api = await d.apiUrl();
  const tip = (await w.work.git('rev-parse', 'HEAD')).trim();

  // the live exposition: promtool-clean, liveness
  const text = await (await fetch(`http://${target}/metrics`)).text();
  const check = spawnSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8', timeout: 10_000 });
  const problems = `${check.stdout}${check.stderr}`.trim();
  assert.equal(check.status, 0, `promtool check metrics on the live /metrics:\n${problems}`);
  assert.equal(problems, '', `promtool reported problems:\n${problems}`);
  t.diagnostic(`promtool check metrics on live /metrics: exit ${check.status}, ${text.split('\n').filter((l) => l !== '' && !l.startsWith('#')).length} samples, no problems`);
  assert.match(text, /^gitopper_service_state\{service="grafana-server"\} 0$/m);
  assert.match(text, new RegExp(`^gitopper_service_info\\{service="grafana-server",hash="${tip.slice(0, 8)}",commit="${tip}",branch="main"\\} 1$`, 'm'));
  assert.match(text, /^gitopper_service_reloads_total\{service="grafana-server",result="done"\} 1$/m, 'first setup started the unit');
  assert.match(text, /^gitopper_sync_duration_seconds_count\{phase="fetch"\} [1-9]/m);
  assert.match(text, /^process_resident_memory_bytes \d+/m);
  assert.match(text, /^gitopper_service_drift\{service="grafana-server"\} 0$/m);
  assert.match(text, /^gitopper_config_last_reload_successful 1$/m);
  assert.match(text, /^gitopper_build_info\{version="\d+\.\d+\.\d+[^"]*"\} 1$/m);
  const health = await fetch(`http://${target}/healthz`);
  assert.deepEqual([health.status, await health.text()], [200, 'ok']);

  const prom = await startPrometheus(path.join(w.dir, 'prometheus'), target);
  t.after(() => prom.stop());
  const first = await waitQuery(prom, 'gitopper_service_state{service="grafana-server"}', valueIs('0'), 'Prometheus to see grafana-server OK', 30_000);
  t.diagnostic(`first scrape seen by Prometheus after ${first.seconds.toFixed(1)} s`);
  assert.equal(first.results[0]!.metric.job, 'gitopper');
  const info = await query(prom, 'gitopper_service_info{service="grafana-server"}');
  assert.deepEqual(info.map((r) => [r.metric.hash, r.metric.branch, r.value[1]]), [[tip.slice(0, 8), 'main', '1']]);

  const frozen = await w.fetch(`${api}/do/freeze/grafana-server`, { method: 'POST' });
  assert.equal(frozen.status, 200, await frozen.text());
  const seen = await waitQuery(prom, 'gitopper_service_state{service="grafana-server"}', valueIs('1'), 'Prometheus to see FREEZE (1)', 15_000);
  t.diagnostic(`freeze → Prometheus shows 1 after ${seen.seconds.toFixed(1)} s`);
  assert.equal((await query(prom, 'gitopper_service_upstream_ahead{service="grafana-server"}'))[0]?.value[1], '0', 'not behind yet');

  // upstream moves on; the frozen service stays and shows it is behind
  await w.work.write('grafana/etc/grafana.ini', '[server]\nhttp_port = 3009\n');
  await w.work.commit('grafana: port 3009');
  await w.work.push();
  await waitQuery(prom, 'gitopper_service_upstream_ahead{service="grafana-server"}', valueIs('1'), 'upstream_ahead 1 for the frozen service', 15_000);
  const still = await query(prom, 'gitopper_service_info{service="grafana-server"}');
  assert.deepEqual(still.map((r) => r.metric.hash), [tip.slice(0, 8)], 'the frozen service still deploys the old commit');
  assert.equal((await query(prom, 'up{job="gitopper"}'))[0]?.value[1], '1');
});
