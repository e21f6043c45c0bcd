/**
 * Fleet rollout and deployment windows on real parts: two real daemons (a canary and a wave-2
 * host) of one upstream, scraped by a real Prometheus; wave 2's rollout gate asks that Prometheus
 * whether the canary failed the commit's health check. And a deployment window on the real clock.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { World, worldPerFile } from './e2e/world.js';
import { startPrometheus } from './rig/prometheus.js';
import { missingPackage } from './rig/system-packages.js';
import { freePort } from './rig/ports.js';
import type { Daemon, LogLine } from './e2e/daemon.js';

let w: World;
const { skip: noSandbox } = worldPerFile('gitopper-e2e-rollout', (x) => (w = x));
const skip = noSandbox || missingPackage('prometheus', 'prometheus');

async function push(content: string, msg: string): Promise<string> {
  await w.work.write('grafana/etc/grafana.ini', content);
  const sha = await w.work.commit(msg, { allowEmpty: true });
  await w.work.push();
  return sha;
}

async function metricsAddr(d: Daemon): Promise<string> {
  const l = await d.waitLog((x) => x.msg === 'listening' && x.what === 'metrics', 'the metrics endpoint to listen');
  return `127.0.0.1:${(l.addr as { port: number }).port}`;
}

const ini = (name: string) => readFileSync(path.join(w.dir, name, 'etc', 'grafana.ini'), 'utf8');
/** The service as `GET /list/service/<service>` shows it. */
const deployedOf = async (d: Daemon, service: string) => {
  const res = await w.fetch(`${await d.apiUrl()}/list/service/${service}`);
  const s = ((await res.json()) as { services: { commit: string; state: string; stateinfo: string }[] }).services[0]!;
  return { commit: s.commit, state: s.state, info: s.stateinfo };
};

test('a commit that fails its health check on the canary never reaches wave 2; a good one does', { skip, timeout: 180_000 }, async (t) => {
  const good = await push('ok\n', 'good');
  const promPort = await freePort();
  const canary = await w.daemon('canary', w.config('canary', w.etcService('canary', 'app', '', `auto_rollback = "retry-next-commit"
health = { exec = ["/bin/sh", "-c", "grep -qx ok ${w.dir}/canary/etc/grafana.ini"], timeout = "2s", retries = 1, grace = "1s" }
rollout = { bake = "0s" }`)));
  const gate = `gitopper_service_failed_commit_info{job="canary",service="$service",commit="$commit"}`;
  const wave2 = await w.daemon('wave2', w.config('wave2', w.etcService('wave2', 'app', '', `rollout = { bake = "6s", gate = { prometheus = "http://127.0.0.1:${promPort}", query = '${gate}', for = "2s" } }`)));
  const prom = await startPrometheus(path.join(w.dir, 'prometheus'), { canary: [await metricsAddr(canary)], wave2: [await metricsAddr(wave2)] }, promPort);
  try {
    await canary.waitLog((l) => l.msg === 'ready', 'canary ready');
    await wave2.waitLog((l) => l.msg === 'ready', 'wave 2 ready');
    assert.equal((await deployedOf(wave2, 'app')).commit, good, 'first setup is not held');

    const bad = await push('bad\n', 'bad');
    const failed = await canary.waitLog((l) => l.msg === 'health check failed: rolling back' && l.from === bad, 'the canary to fail the bad commit', 30_000);
    const baking = await wave2.waitLog((l) => l.msg === 'commit held' && l.commit === bad && l.hold === 'bake', 'wave 2 to bake the bad commit', 30_000);
    const held = await wave2.waitLog((l) => l.msg === 'commit held' && l.commit === bad && l.hold === 'gate', 'wave 2 held by the gate', 30_000);
    assert.match(String(held.reason), new RegExp(`^${bad.slice(0, 8)} held by the rollout gate: query returned 1 series: \\{.*commit="${bad}".*job="canary".*\\} 1$`));
    t.diagnostic(`canary's failed health check → wave 2 held by the gate: ${(((held.time as number) - (failed.time as number)) / 1000).toFixed(3)} s (bake 6 s from the first sighting at ${(((baking.time as number) - (failed.time as number)) / 1000).toFixed(3)} s; Prometheus scrapes every 1 s)`);
    // three more polls: still held, files untouched
    const mark = wave2.lines.length;
    await wave2.waitLog((l) => l.msg === 'fetched' || l.msg === 'pass done' || l.msg === 'pass skipped', 'more polls', 10_000, mark).catch(() => undefined);
    await new Promise((r) => setTimeout(r, 3000));
    const s = await deployedOf(wave2, 'app');
    assert.equal(s.commit, good);
    assert.equal(s.state, 'OK');
    assert.match(s.info, new RegExp(`^HELD: ${bad.slice(0, 8)} held by the rollout gate`));
    assert.equal(ini('wave2'), 'ok\n');
    assert.equal(wave2.lines.some((l: LogLine) => l.msg === 'pass applied' && l.commit === bad), false, 'the bad commit never reached wave 2');
    const metrics = await (await fetch(`http://${await metricsAddr(wave2)}/metrics`)).text();
    assert.match(metrics, /gitopper_service_held\{service="app",reason="gate"\} 1/);

    const next = await push('ok\n# v2\n', 'good again');
    await canary.waitLog((l) => l.msg === 'pass applied' && l.commit === next, 'the canary to apply the good commit', 30_000);
    await wave2.waitLog((l) => l.msg === 'pass applied' && l.commit === next, 'wave 2 to apply it after bake and gate', 40_000);
    assert.equal(ini('wave2'), 'ok\n# v2\n');
    assert.equal((await deployedOf(wave2, 'app')).info, '');
  } finally {
    await prom.stop();
    await canary.stop();
    await wave2.stop();
  }
});

test('a deployment window on the real clock holds new commits with the opening time; an operator pull is not held; an open window applies', { skip: noSandbox, timeout: 120_000 }, async () => {
  const day = (offset: number) => ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'][(new Date().getUTCDay() + offset) % 7]!;
  // closed for at least the next day: the window is on the day after tomorrow only
  const closed = `window = "${day(2)} 00:00-24:00 UTC"`;
  const toml = (win: string) => w.config('window', w.etcService('window', 'app', '', win));
  const d = await w.daemon('window', toml(closed), ['-r']);
  try {
    await d.waitLog((l) => l.msg === 'ready', 'ready');
    const first = await push('ok\n# window 1\n', 'window 1');
    const held = await d.waitLog((l) => l.msg === 'commit held' && l.commit === first && l.hold === 'window', 'the window to hold the commit', 20_000);
    assert.match(String(held.until), /T00:00:00\.000Z$/, 'the opening time is given');
    const s = await deployedOf(d, 'app');
    assert.equal(s.state, 'OK');
    assert.match(s.info, new RegExp(`^HELD: ${first.slice(0, 8)} waits for the deployment window \\(opens ${String(held.until).replace(/\./g, '\\.')}\\)$`));
    assert.notEqual(s.commit, first);
    await w.ctl('do', 'pull', `@${await d.apiUrl()}`, 'app');
    await d.waitLog((l) => l.msg === 'pass applied' && l.commit === first, 'the operator pull to apply', 20_000);
    assert.equal(ini('window'), 'ok\n# window 1\n');

    const second = await push('ok\n# window 2\n', 'window 2');
    await d.waitLog((l) => l.msg === 'commit held' && l.commit === second, 'the next commit to wait', 20_000);
    await writeFile(path.join(w.dir, 'window.toml'), toml(`window = ["${day(0)} 00:00-24:00 UTC", "${day(1)} 00:00-24:00 UTC"]`));
    await d.waitLog((l) => l.msg === 'pass applied' && l.commit === second, 'the open window (after a config reload) to apply', 30_000);
  } finally {
    await d.stop();
  }
});
