/**
 * config/alerts.yml: promtool accepts it, its alerts fire on the states they name (promtool test
 * rules, with synthetic series), and every series an expression reads is one the agent exports.
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
const RULES = path.join(repo, 'config', 'alerts.yml');
const noPromtool = missingPackage('prometheus', 'promtool');

function promtool(...args: string[]): { status: number | null; output: string } {
  const r = spawnSync('promtool', args, { encoding: 'utf8', timeout: 30_000 });
  return { status: r.status, output: `${r.stdout}${r.stderr}` };
}

/** The alerts of the file: name and expression (each `expr:` is one line). */
function alerts(): { alert: string; expr: string }[] {
  const text = readFileSync(RULES, 'utf8');
  const names = [...text.matchAll(/^\s*- alert:\s*(\S+)\s*$/gm)].map((m) => m[1]!);
  const exprs = [...text.matchAll(/^\s*expr:\s*(.+?)\s*$/gm)].map((m) => m[1]!);
  assert.equal(exprs.length, names.length, 'one single-line expr per alert');
  return names.map((alert, i) => ({ alert, expr: exprs[i]! }));
}

test('promtool check rules accepts config/alerts.yml', { skip: noPromtool }, () => {
  const r = promtool('check', 'rules', RULES);
  assert.equal(r.status, 0, r.output);
  assert.match(r.output, new RegExp(`SUCCESS: ${alerts().length} rules found`));
});

test('the alerts docs/metrics.md describes are all in the file', () => {
  const doc = readFileSync(path.join(repo, 'docs', 'metrics.md'), 'utf8');
  const names = alerts().map((a) => a.alert);
  assert.deepEqual(names, ['GitopperServiceBroken', 'GitopperServiceDiff', 'GitopperFrozenBehind', 'GitopperNotCatchingUp', 'GitopperReloadsFailing', 'GitopperDrift', 'GitopperConfigRefused', 'GitopperFetchErrors', 'GitopperCommitRefused', 'GitopperRolloutHeld']);
  for (const n of names) assert.ok(doc.includes(n), `docs/metrics.md names ${n}`);
  assert.ok(doc.includes('config/alerts.yml'), 'docs/metrics.md points at the file');
});

test('every series the rules read is exported by the agent', async () => {
  const exported = await exportedSeries();
  assert.ok(exported.has('gitopper_service_state') && exported.has('gitopper_sync_duration_seconds_bucket'), 'the registry is read');
  for (const { alert, expr } of alerts()) {
    const used = seriesOf(expr);
    assert.ok(used.length > 0, `${alert} reads a series`);
    for (const s of used) assert.ok(exported.has(s), `${alert}: ${s} is not exported by the agent`);
  }
});

test('the series check bites: a misspelt name is found, functions and labels are not names', async () => {
  assert.deepEqual(seriesOf('sum by (le, phase) (rate(gitopper_sync_duration_seconds_bucket{phase="fetch"}[5m])) > 0.5'), ['gitopper_sync_duration_seconds_bucket']);
  assert.deepEqual(seriesOf('a == 1 and on (instance, service) b != 1 offset 5m'), ['a', 'b']);
  const exported = await exportedSeries();
  assert.equal(exported.has(seriesOf('gitopper_service_states == 3')[0]!), false);
});

/** promtool unit tests of the rules: which alerts fire on which series. */
const UNIT_TESTS = `
rule_files: [RULES]
evaluation_interval: 1m
tests:
  - interval: 1m
    input_series:
      - series: 'gitopper_service_state{instance="h1:9222",service="web"}'
        values: '3x20'
      - series: 'gitopper_service_state{instance="h1:9222",service="db"}'
        values: '0x20'
      - series: 'gitopper_service_state{instance="h2:9222",service="web"}'
        values: '1x60'
      - series: 'gitopper_service_upstream_ahead{instance="h2:9222",service="web"}'
        values: '1x60'
      - series: 'gitopper_service_state{instance="h3:9222",service="web"}'
        values: '0x60'
      - series: 'gitopper_service_upstream_ahead{instance="h3:9222",service="web"}'
        values: '1x60'
    alert_rule_test:
      - eval_time: 3m
        alertname: GitopperServiceBroken
        exp_alerts: []
      - eval_time: 10m
        alertname: GitopperServiceBroken
        exp_alerts:
          - exp_labels: { severity: critical, instance: 'h1:9222', service: web }
            exp_annotations:
              summary: 'web on h1:9222 is BROKEN (gitopperctl list service @host shows why)'
      - eval_time: 40m
        alertname: GitopperNotCatchingUp
        exp_alerts:
          - exp_labels: { severity: warning, instance: 'h3:9222', service: web }
            exp_annotations:
              summary: 'web on h3:9222 is not at its upstream tip for 30 minutes'
      - eval_time: 40m
        alertname: GitopperFrozenBehind
        exp_alerts: []
  - interval: 1m
    input_series:
      - series: 'gitopper_machine_git_ops_total{instance="h1:9222"}'
        values: '0+1x40'
      - series: 'gitopper_machine_git_errors_total{instance="h1:9222"}'
        values: '0+1x40'
      - series: 'gitopper_machine_git_ops_total{instance="h2:9222"}'
        values: '0+4x40'
      - series: 'gitopper_machine_git_errors_total{instance="h2:9222"}'
        values: '0+1x40'
    alert_rule_test:
      - eval_time: 35m
        alertname: GitopperFetchErrors
        exp_alerts:
          - exp_labels: { severity: warning, instance: 'h1:9222' }
            exp_annotations:
              summary: 'gitopper on h1:9222: more than half of its fetches fail'
  - interval: 1m
    input_series:
      - series: 'gitopper_service_refused_commits_total{instance="h1:9222",service="web",reason="signature"}'
        values: '0x10 1x50'
      - series: 'gitopper_service_refused_commits_total{instance="h2:9222",service="web",reason="signature"}'
        values: '0x60'
      - series: 'gitopper_service_held{instance="h2:9222",service="web",reason="gate"}'
        values: '1x90'
    alert_rule_test:
      - eval_time: 20m
        alertname: GitopperCommitRefused
        exp_alerts:
          - exp_labels: { severity: critical, instance: 'h1:9222', service: web, reason: signature }
            exp_annotations:
              summary: 'web on h1:9222 refused a commit (signature): someone pushed what this host does not trust'
      - eval_time: 30m
        alertname: GitopperRolloutHeld
        exp_alerts: []
      - eval_time: 70m
        alertname: GitopperRolloutHeld
        exp_alerts:
          - exp_labels: { severity: warning, instance: 'h2:9222', service: web, reason: gate }
            exp_annotations:
              summary: 'web on h2:9222: a new commit has been held by its rollout gate for an hour (gitopperctl list service @host shows why)'
`;

test('promtool test rules: the alerts fire on what they name, after their for:', { skip: noPromtool }, () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'gitopper-alerts-'));
  try {
    const file = path.join(dir, 'test.yml');
    writeFileSync(file, UNIT_TESTS.replace('[RULES]', JSON.stringify([RULES])));
    const ok = promtool('test', 'rules', file);
    assert.equal(ok.status, 0, ok.output);
    // and the unit test bites: a service frozen behind does not count as not catching up
    writeFileSync(file, UNIT_TESTS.replace('[RULES]', JSON.stringify([RULES])).replace("instance: 'h3:9222', service: web }", "instance: 'h2:9222', service: web }"));
    assert.notEqual(promtool('test', 'rules', file).status, 0);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
