/**
 * config/grafana-dashboard.json: an exported-style dashboard (datasource as the input
 * ${DS_PROMETHEUS}), whose PromQL parses (promtool, as recording rules) and reads only series the
 * agent exports; the fleet-state query is evaluated by promtool on synthetic series.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { missingPackage } from '../rig/system-packages.js';
import { exportedSeries, seriesOf } from './exported-series.js';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const FILE = path.join(repo, 'config', 'grafana-dashboard.json');
const noPromtool = missingPackage('prometheus', 'promtool');

interface Target { expr: string; datasource: { type: string; uid: string } }
interface Panel { type: string; title: string; datasource: { type: string; uid: string }; targets: Target[] }
interface Dashboard {
  __inputs: { name: string; type: string; pluginId: string }[];
  __requires: { type: string; id: string }[];
  panels: Panel[];
  templating: { list: { name: string; definition: string; datasource: { uid: string } }[] };
  uid: string;
  title: string;
}

const dash = (): Dashboard => JSON.parse(readFileSync(FILE, 'utf8')) as Dashboard;
const exprs = (d: Dashboard) => d.panels.flatMap((p) => p.targets.map((t) => ({ panel: p.title, expr: t.expr })));

/** The expression with Grafana's variables replaced by what Grafana would put there. */
const concrete = (expr: string) => expr.replaceAll('$__rate_interval', '5m').replaceAll('$instance', '.+');

function promtool(...args: string[]): { status: number | null; output: string } {
  const r = spawnSync('promtool', args, { encoding: 'utf8', timeout: 30_000 });
  return { status: r.status, output: `${r.stdout}${r.stderr}` };
}

test('the dashboard is importable as is: JSON, a Prometheus input, every panel on it', () => {
  const d = dash();
  assert.deepEqual(d.__inputs.map((i) => [i.name, i.type, i.pluginId]), [['DS_PROMETHEUS', 'datasource', 'prometheus']]);
  assert.ok(d.__requires.some((r) => r.type === 'datasource' && r.id === 'prometheus'));
  const required = new Set(d.__requires.filter((r) => r.type === 'panel').map((r) => r.id));
  for (const p of d.panels) {
    assert.ok(required.has(p.type), `${p.title}: panel type ${p.type} is in __requires`);
    assert.deepEqual(p.datasource, { type: 'prometheus', uid: '${DS_PROMETHEUS}' }, p.title);
    assert.ok(p.targets.length > 0, `${p.title} has a query`);
    for (const t of p.targets) assert.equal(t.datasource.uid, '${DS_PROMETHEUS}', p.title);
  }
  for (const v of d.templating.list) assert.equal(v.datasource.uid, '${DS_PROMETHEUS}', v.name);
  const titles = d.panels.map((p) => p.title);
  for (const want of ['Fleet state: services by state per host', 'Services not OK', 'Behind upstream', 'Deploys over time', 'Fetch errors']) assert.ok(titles.includes(want), want);
  const ids = d.panels.map((p) => (p as unknown as { id: number }).id);
  assert.equal(new Set(ids).size, ids.length, 'panel ids are unique');
});

test('every series the dashboard reads is exported by the agent', async () => {
  const exported = await exportedSeries();
  const d = dash();
  for (const { panel, expr } of exprs(d)) {
    const used = seriesOf(expr);
    assert.ok(used.length > 0, `${panel}: ${expr}`);
    for (const s of used) assert.ok(exported.has(s), `${panel}: ${s} is not exported by the agent`);
  }
  for (const v of d.templating.list) {
    const m = /^label_values\((\w+),\s*(\w+)\)$/.exec(v.definition);
    assert.ok(m, `variable ${v.name}: ${v.definition}`);
    assert.ok(exported.has(m[1]!), `variable ${v.name}: ${m[1]} is not exported by the agent`);
  }
});

test('every query parses (promtool check rules, as recording rules)', { skip: noPromtool }, () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'gitopper-dash-'));
  try {
    const file = path.join(dir, 'rules.yml');
    const rules = (list: string[]) => `groups:\n  - name: dashboard\n    rules:\n${list.map((e, i) => `      - record: dashboard:q${i}\n        expr: ${JSON.stringify(e)}\n`).join('')}`;
    const all = exprs(dash()).map((x) => concrete(x.expr));
    writeFileSync(file, rules(all));
    const r = promtool('check', 'rules', file);
    assert.equal(r.status, 0, r.output);
    assert.match(r.output, new RegExp(`SUCCESS: ${all.length} rules found`));
    writeFileSync(file, rules(['sum by (instance) (rate(gitopper_machine_git_errors_total[5m])']));
    assert.notEqual(promtool('check', 'rules', file).status, 0, 'the check bites on a missing parenthesis');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('fleet state counts each host\'s services by state (promtool test rules)', { skip: noPromtool }, () => {
  const fleet = dash().panels.find((p) => p.title.startsWith('Fleet state'))!.targets[0]!.expr;
  const dir = mkdtempSync(path.join(os.tmpdir(), 'gitopper-dash-'));
  try {
    const file = path.join(dir, 'test.yml');
    const series = [['h1', 'a', 0], ['h1', 'b', 0], ['h1', 'c', 3], ['h2', 'a', 1], ['h2', 'b', 4]] as const;
    writeFileSync(file, `rule_files: []
tests:
  - interval: 1m
    input_series:
${series.map(([h, s, v]) => `      - series: 'gitopper_service_state{instance="${h}",service="${s}"}'\n        values: '${v}x5'\n`).join('')}    promql_expr_test:
      - expr: ${JSON.stringify(concrete(fleet))}
        eval_time: 2m
        exp_samples:
          - { labels: '{instance="h1",state="OK"}', value: 2 }
          - { labels: '{instance="h1",state="BROKEN"}', value: 1 }
          - { labels: '{instance="h2",state="FREEZE"}', value: 1 }
          - { labels: '{instance="h2",state="DIFF"}', value: 1 }
`);
    const r = promtool('test', 'rules', file);
    assert.equal(r.status, 0, r.output);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
