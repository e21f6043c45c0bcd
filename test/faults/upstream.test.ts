/**
 * Fault scenario 2 of issue 11 (upstream faults), on the real rig: the real daemon, the gitopper-config
 * history served by git-http-backend on loopback behind a switchable fault proxy
 * (`lib/fault-proxy.ts`), a systemd user manager, real bind mounts. Each test has an upstream of its
 * own, so the two long scenarios (flapping, a silent upstream) run side by side.
 *
 * What the agent must do in every case: the service goes DIFF with a reason naming the upstream
 * failure, the deployed files stay as they are, the daemon keeps running, and once the upstream
 * behaves again the next pass (no restart) brings it OK at the tip with exactly the tip's files.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { reloadMarkerUnit } from '../rig/systemd.js';
import { isPass, isState, World, worldPerFile } from '../e2e/world.js';
import type { Daemon, LogLine } from '../e2e/daemon.js';
import { grafanaTargets, ownUpstream, type OwnUpstream } from './lib/rig.js';
import { differing, filesAt, filesUnder } from './lib/trees.js';

let w: World;
const { skip } = worldPerFile('gitopper-faults-upstream', (x) => (w = x));
const SVC = 'grafana-server';

/** Write the marker unit and start a daemon on `u`'s config (plus `args`); stopped with `stopWith` after the test, then the proxy closed. */
async function start(t: { after: (fn: () => unknown) => void }, name: string, u: OwnUpstream, stopWith: NodeJS.Signals = 'SIGTERM', args: string[] = []): Promise<Daemon> {
  await w.um.writeUnit(`${SVC}.service`, reloadMarkerUnit(SVC, path.join(w.dir, `${name}.reloads`)));
  const d = await w.daemon(name, u.config(), args);
  t.after(async () => {
    await d.stop(stopWith);
    await u.proxy.close();
  });
  return d;
}

/** The mount targets show exactly the files of `commit` under both links. */
async function assertDeployed(name: string, u: OwnUpstream, commit: string, what: string): Promise<void> {
  const { etc, dashboards } = grafanaTargets(w, name);
  assert.deepEqual(differing(filesUnder(etc), await filesAt(u.work, commit, 'grafana/etc')), [], `${what}: ${etc} equals grafana/etc at ${commit.slice(0, 8)}`);
  assert.deepEqual(differing(filesUnder(dashboards), await filesAt(u.work, commit, 'grafana/dashboards')), [], `${what}: ${dashboards} equals grafana/dashboards at ${commit.slice(0, 8)}`);
}

/** Wait for OK at `commit` (a state line to OK after `from`, or already OK, and a pass at `commit`). */
async function okAt(d: Daemon, commit: string, from: number, ms = 20_000): Promise<void> {
  await d.waitLog(isPass(SVC, commit), `a pass at ${commit.slice(0, 8)}`, ms, from);
  const last = d.lines.filter((l) => l.msg === 'state' && l.service === SVC).at(-1);
  if (last?.state !== 'OK') await d.waitLog(isState(SVC, 'OK'), 'OK', ms, from);
}

/** Push a commit changing grafana.ini and adding a dashboard; resolves with its sha. */
async function pushChange(u: OwnUpstream, tag: string): Promise<string> {
  await u.work.write('grafana/etc/grafana.ini', `[server]\nhttp_port = 3000\n; ${tag}\n`);
  await u.work.write(`grafana/dashboards/${tag}.json`, `{"title": "${tag}"}\n`);
  const c = await u.work.commit(`fault test: ${tag}`);
  await u.work.push();
  return c;
}

describe('upstream faults, three at a time (the two long ones first)', { concurrency: 3 }, () => {
  it('flapping every few seconds for a minute, with pushes in between: ends OK at the tip, the tracker still passes, the daemon never exits', { skip, timeout: 150_000 }, async (t) => {
    const u = await ownUpstream(w, 'flap');
    const d = await start(t, 'flap', u);
    await d.waitLog(isState(SVC, 'OK'), 'first OK');
    const t0 = performance.now();
    let pushed = '';
    for (let i = 0; i < 30 && performance.now() - t0 < 60_000; i++) {
      await u.proxy.set(i % 2 === 0 ? 'down' : 'pass');
      if (i % 6 === 3) pushed = await pushChange(u, `flap${i}`);
      await sleep(1500 + (i % 3) * 700); // 1.5–2.9 s: never in phase with the 1–1.5 s polls
    }
    const from = d.lines.length;
    await u.proxy.set('pass');
    const tip = await u.work.head();
    assert.equal(tip, pushed);
    await okAt(d, tip, 0, 30_000);
    await assertDeployed('flap', u, tip, 'after the flapping');
    const diffs = d.lines.filter((l: LogLine) => l.msg === 'state' && l.service === SVC && l.state === 'DIFF').length;
    assert.ok(diffs >= 2, `the flapping was seen (${diffs} DIFF transitions)`);
    // no stuck tracker: passes go on after the upstream settled
    const after = d.lines.length;
    await d.waitLog(isPass(SVC), 'a pass after recovery', 10_000, Math.max(after, from));
    await d.waitLog(isPass(SVC), 'another pass', 10_000, d.lines.length);
    assert.equal(await Promise.race([d.exited(), sleep(10, 'running')]), 'running', 'the daemon is still running');
  });

  it('an upstream that accepts TCP and never answers: the fetch gives up after the inactivity timeout (--fetch-timeout 5s), DIFF says so, the API still answers, then OK at the tip', { skip, timeout: 150_000 }, async (t) => {
    const u = await ownUpstream(w, 'hang');
    const d = await start(t, 'hang', u, 'SIGTERM', ['--fetch-timeout', '5s']);
    await d.waitLog(isState(SVC, 'OK'), 'first OK');
    const api = await d.apiUrl();
    const c1 = await pushChange(u, 'after-hang');
    const from = d.lines.length;
    await u.proxy.set('hang');
    await sleep(3_000);
    // the tracker waits on the upstream, the API does not
    const listed = (await (await w.fetch(`${api}/list/service/${SVC}`)).json()) as { services: { state: string }[] };
    assert.equal(listed.services[0]?.state, 'OK', 'the API answers while a fetch hangs');
    const diff = await d.waitLog(isState(SVC, 'DIFF'), 'DIFF from the inactivity timeout', 30_000, from);
    assert.match(String(diff.info), /no answer for 5 s \(GET \/hang\.git\/info\/refs\?service=git-upload-pack\); gave up/);
    await assertDeployed('hang', u, (await u.work.git('rev-parse', 'HEAD~1')).trim(), 'during the hang');
    const back = d.lines.length;
    await u.proxy.set('pass');
    await okAt(d, c1, back);
    await assertDeployed('hang', u, c1, 'after the upstream answered again');

  });

  it('upstream refusing connections at start, then up: DIFF naming the refused connection, then OK at the tip without a restart', { skip, timeout: 90_000 }, async (t) => {
    const u = await ownUpstream(w, 'downstart');
    await u.proxy.set('down');
    const d = await start(t, 'downstart', u);
    const diff = await d.waitLog(isState(SVC, 'DIFF'), 'DIFF while the upstream is down');
    assert.match(String(diff.info), new RegExp(`^fetching main from ${u.url.replace(/[./]/g, '\\$&')}: .*ECONNREFUSED`), 'stateinfo names the branch, the upstream and the refused connection');
    const { etc } = grafanaTargets(w, 'downstart');
    assert.equal(existsSync(path.join(etc, 'grafana.ini')), false, 'nothing deployed while nothing was fetched');
    await d.waitLog((l) => l.msg === 'ready', 'ready although the first fetch failed');

    const from = d.lines.length;
    await u.proxy.set('pass');
    const tip = await u.work.head();
    await okAt(d, tip, from);
    await assertDeployed('downstart', u, tip, 'after the upstream came up');
    assert.equal((await w.um.systemctl('is-active', `${SVC}.service`)).trim(), 'active');
  });

  it('upstream killed in the middle of a request and restarted: DIFF, old files stay, then OK at the new tip without a restart', { skip, timeout: 90_000 }, async (t) => {
    const u = await ownUpstream(w, 'killed');
    const d = await start(t, 'killed', u);
    await d.waitLog(isState(SVC, 'OK'), 'first OK');
    const first = await u.work.head();
    await assertDeployed('killed', u, first, 'first setup');

    // hold the next request, then kill the server under it (connections destroyed, port closed)
    const c1 = await pushChange(u, 'killed');
    const seen = u.proxy.requests.length;
    await u.proxy.set('hang');
    const from = d.lines.length;
    const wait = performance.now();
    while (u.proxy.requests.length === seen && performance.now() - wait < 15_000) await sleep(20);
    assert.ok(u.proxy.requests.length > seen, 'the daemon sent a request into the hang');
    await u.proxy.set('down');
    const diff = await d.waitLog(isState(SVC, 'DIFF'), 'DIFF after the kill', 20_000, from);
    assert.match(String(diff.info), /^fetching main from /);
    await assertDeployed('killed', u, first, 'while the upstream is dead');

    const back = d.lines.length;
    await u.proxy.set('pass');
    await okAt(d, c1, back);
    await assertDeployed('killed', u, c1, 'after the restart');
  });

  it('HTTP 500, 404 and garbage on info/refs, and a truncated pack: DIFF with the reason each time, files untouched, OK at the tip once the upstream is sane', { skip, timeout: 120_000 }, async (t) => {
    const u = await ownUpstream(w, 'http');
    const d = await start(t, 'http', u);
    await d.waitLog(isState(SVC, 'OK'), 'first OK');
    const first = await u.work.head();

    const expect: [mode: '500' | '404' | 'garbage', info: RegExp][] = [
      ['500', /500/],
      ['404', /404/],
      ['garbage', /^fetching main from \S+: \S/],
    ];
    for (const [mode, info] of expect) {
      const from = d.lines.length;
      await u.proxy.set(mode);
      const diff = await d.waitLog(isState(SVC, 'DIFF'), `DIFF on ${mode}`, 20_000, from);
      t.diagnostic(`${mode}: ${String(diff.info)}`);
      assert.match(String(diff.info), info, `stateinfo for ${mode}`);
      await assertDeployed('http', u, first, `during ${mode}`);
      const back = d.lines.length;
      await u.proxy.set('pass');
      await d.waitLog(isState(SVC, 'OK'), `OK after ${mode}`, 20_000, back);
    }

    // a pack cut short (a clean end of the body after half its bytes): nothing half-applied, no store left broken
    const c1 = await pushChange(u, 'truncated');
    const from = d.lines.length;
    await u.proxy.set('truncate-pack');
    const diff = await d.waitLog(isState(SVC, 'DIFF'), 'DIFF on a truncated pack', 20_000, from);
    t.diagnostic(`truncate-pack: ${String(diff.info)}`);
    assert.ok(u.proxy.requests.some((r) => r.mode === 'truncate-pack' && r.method === 'POST'), 'a pack was actually cut');
    await assertDeployed('http', u, first, 'after a truncated pack');
    const back = d.lines.length;
    await u.proxy.set('pass');
    await okAt(d, c1, back);
    await assertDeployed('http', u, c1, 'after the truncated pack was fetched again');
    assert.equal(d.lines.some((l) => /^\(not json\)/.test(String(l.msg))), false, 'nothing but log lines on stdout');
  });

  it('force-push to an older commit and to an unrelated history: the agent follows the tip, the targets hold exactly its files', { skip, timeout: 90_000 }, async (t) => {
    const u = await ownUpstream(w, 'force');
    const d = await start(t, 'force', u);
    await d.waitLog(isState(SVC, 'OK'), 'first OK');
    const c1 = await pushChange(u, 'ahead');
    await okAt(d, c1, 0);
    await assertDeployed('force', u, c1, 'before the force-push');

    // back two commits: the dashboard added by c1 must go, grafana.ini returns to the old bytes
    await u.work.git('reset', '--hard', 'HEAD~2');
    const older = await u.work.head();
    let from = d.lines.length;
    await u.work.push(undefined, { force: true });
    await okAt(d, older, from);
    await assertDeployed('force', u, older, 'after the force-push to an older commit');
    assert.equal(existsSync(path.join(grafanaTargets(w, 'force').dashboards, 'ahead.json')), false, 'no leftover of the abandoned commit');

    // an unrelated history: other files under the same links, nothing shared
    await u.work.git('checkout', '--quiet', '--orphan', 'unrelated');
    await u.work.git('rm', '-r', '--quiet', '-f', '.');
    await u.work.write('grafana/etc/grafana.ini', '[server]\nhttp_port = 9999\n');
    await u.work.write('grafana/etc/provisioning/new.yaml', 'apiVersion: 1\n');
    await u.work.write('grafana/dashboards/other.json', '{"title": "other history"}\n');
    const orphan = await u.work.commit('an unrelated history');
    from = d.lines.length;
    await u.work.push('main', { force: true });
    await okAt(d, orphan, from);
    await assertDeployed('force', u, orphan, 'after the force-push to an unrelated history');
    const { etc, dashboards } = grafanaTargets(w, 'force');
    assert.deepEqual([...filesUnder(etc).keys()], ['grafana.ini', 'provisioning/new.yaml']);
    assert.deepEqual([...filesUnder(dashboards).keys()], ['other.json']);
  });

  it('SIGTERM while a fetch hangs on a silent upstream: exit 0 at once, not after the inactivity timeout', {
    skip,
    timeout: 90_000,
  }, async (t) => {
    const u = await ownUpstream(w, 'sigterm');
    const d = await start(t, 'sigterm', u, 'SIGKILL'); // when this fails, do not wait for the timeout after it
    await d.waitLog(isState(SVC, 'OK'), 'first OK');
    const seen = u.proxy.requests.length;
    await u.proxy.set('hang');
    const wait = performance.now();
    while (u.proxy.requests.length === seen && performance.now() - wait < 10_000) await sleep(20);
    assert.ok(u.proxy.requests.length > seen, 'a request hangs');
    await sleep(500);
    const code = await Promise.race([d.stop('SIGTERM'), sleep(15_000, 'still running after 15 s')]);
    assert.equal(code, 0, 'SIGTERM during a hung fetch exits 0 within 15 s');
  });
});
