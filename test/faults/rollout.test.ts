/**
 * Fault scenarios of admission and rollout (docs/reliability.md), on the real rig: the real daemon,
 * git-http-backend on loopback, a systemd user manager, real bind mounts, a real Prometheus.
 *
 * - An upstream that lies about its history (the branch force-pushed back to older, unrelated
 *   commits): the agent refuses the new tip, keeps the deployed files, and says why; the operator's
 *   explicit rollback accepts it.
 * - The rollout gate's Prometheus is down: the gate fails closed (the new commit is held, the reason
 *   names the failed query); once Prometheus answers, the commit is applied without a restart.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { World, worldPerFile } from '../e2e/world.js';
import { startPrometheus } from '../rig/prometheus.js';
import { freePort } from '../rig/ports.js';
import { missingPackage } from '../rig/system-packages.js';

let w: World;
const { skip } = worldPerFile('gitopper-faults-rollout', (x) => (w = x));

async function push(content: string, msg: string): Promise<string> {
  await w.work.write('grafana/etc/grafana.ini', content);
  const sha = await w.work.commit(msg, { allowEmpty: true });
  await w.work.push();
  return sha;
}

const ini = (name: string) => readFileSync(path.join(w.dir, name, 'etc', 'grafana.ini'), 'utf8');

test('a force-push to older history is refused (anti-rollback): files kept, DIFF REFUSED with the reason, counted; an explicit rollback accepts it', { skip, timeout: 120_000 }, async () => {
  const base = await push('base\n', 'base');
  const d = await w.daemon('rewrite', w.config('rewrite', w.etcService('rewrite', 'app', '', 'anti_rollback = true')));
  try {
    await d.waitLog((l) => l.msg === 'ready', 'ready');
    const ahead = await push('ahead\n', 'ahead');
    await d.waitLog((l) => l.msg === 'pass applied' && l.commit === ahead, 'the new commit applied', 20_000);
    // the upstream "forgets" `ahead`: main is reset to base and a different commit pushed over it
    await w.work.git('reset', '--quiet', '--hard', base);
    await w.work.write('grafana/etc/grafana.ini', 'rewritten\n');
    const rewritten = await w.work.commit('rewritten history');
    await w.work.push(undefined, { force: true });
    const refused = await d.waitLog((l) => l.msg === 'commit refused' && l.commit === rewritten, 'the rewritten tip refused', 20_000);
    assert.equal(refused.refusal, 'not-descendant');
    assert.match(String(refused.reason), new RegExp(`^not a descendant of the deployed ${ahead.slice(0, 8)}`));
    assert.equal(ini('rewrite'), 'ahead\n', 'the deployed files stay');
    const api = await d.apiUrl();
    const s = ((await (await w.fetch(`${api}/list/service/app`)).json()) as { services: { state: string; stateinfo: string; commit: string }[] }).services[0]!;
    assert.equal(s.state, 'DIFF');
    assert.equal(s.commit, ahead);
    assert.match(s.stateinfo, new RegExp(`^REFUSED ${rewritten.slice(0, 8)}: not a descendant`));
    const metricsLine = await d.waitLog((x) => x.msg === 'listening' && x.what === 'metrics', 'metrics');
    const text = await (await fetch(`http://127.0.0.1:${(metricsLine.addr as { port: number }).port}/metrics`)).text();
    assert.match(text, /gitopper_service_refused_commits_total\{service="app",reason="not-descendant"\} 1/);
    await w.ctl('do', 'rollback', `@${api}`, 'app', rewritten.slice(0, 8));
    await d.waitLog((l) => l.msg === 'pass applied' && l.commit === rewritten, 'the explicit rollback applied', 20_000);
    assert.equal(ini('rewrite'), 'rewritten\n');
  } finally {
    await d.stop();
  }
});

test('the rollout gate fails closed while Prometheus is down, and opens once it answers (no restart)', { skip: skip || missingPackage('prometheus', 'prometheus'), timeout: 120_000 }, async () => {
  await push('gate 0\n', 'gate 0');
  const port = await freePort();
  const d = await w.daemon('gate', w.config('gate', w.etcService('gate', 'app', '', `rollout = { gate = { prometheus = "http://127.0.0.1:${port}", query = 'gitopper_service_failed_commit_info{commit="$commit"}' } }`)));
  let prom: { stop(): Promise<void> } | undefined;
  try {
    await d.waitLog((l) => l.msg === 'ready', 'ready');
    const next = await push('gate 1\n', 'gate 1');
    const held = await d.waitLog((l) => l.msg === 'commit held' && l.commit === next, 'the commit held', 20_000);
    assert.equal(held.hold, 'gate');
    assert.match(String(held.reason), /held by the rollout gate: query failed \(.*\)$/);
    assert.equal(ini('gate'), 'gate 0\n');
    prom = await startPrometheus(path.join(w.dir, 'prom-gate'), {}, port);
    await d.waitLog((l) => l.msg === 'pass applied' && l.commit === next, 'applied once Prometheus answers', 30_000);
    assert.equal(ini('gate'), 'gate 1\n');
  } finally {
    await prom?.stop();
    await d.stop();
  }
});
