/**
 * `gitopperctl status @HOST...`, the fleet overview (docs/gitopperctl.md "Fleet status"): against
 * TWO real agents of the e2e world (one with a BROKEN service, one OK, later frozen) and a port
 * nothing listens on: one table, problems first (not-OK services, then the unreachable host, then
 * OK), `-m` as JSON in the same order, exit 1 unless every service of every host is OK; BEHIND from
 * the agents' `tip` (a frozen service falls behind when upstream moves). The rules for agents that
 * send no `tip` are checked over the real API app with a FakeControl (a real agent rarely holds a commit
 * it failed to reach long enough to look at).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import path from 'node:path';
import { run } from '../cmd/gitopperctl.js';
import { behindOf } from '../src/ctl/fleet.js';
import { createApiApp } from '../src/http/app.js';
import { reloadMarkerUnit } from './rig/systemd.js';
import { isPass, isState, World, worldPerFile } from './e2e/world.js';
import { COMMITS, FakeControl } from './fakes/control.js';
import { keyDir, keyFile, makeKey, testAuth } from './fakes/keys.js';
import { freePort } from './rig/ports.js';

let w: World;
const { skip } = worldPerFile('gitopper-ctl-fleet', (x) => (w = x));

/** The built gitopperctl in the world: exit code, stdout, stderr (a non-zero exit is no rejection). */
async function ctl(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    return { code: 0, stdout: await w.ctl(...args), stderr: '' };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

const rows = (stdout: string) => stdout.trimEnd().split('\n').map((l) => l.split(/\s{2,}/));

test('status over two real agents and a dead port: BROKEN first, then the unreachable host, then OK; exit 1, then 0 when all are OK', { skip, timeout: 120_000 }, async (t) => {
  await w.um.writeUnit('grafana-server.service', reloadMarkerUnit('grafana-server', path.join(w.dir, 'fleet.reloads')));
  const good = await w.daemon('good', w.config('good', w.grafana('good')));
  t.after(() => good.stop());
  const bad = await w.daemon('bad', w.config('bad', w.grafana('bad').replace('user = "nobody"', 'user = "no-such-user-here"')));
  t.after(() => bad.stop());
  await good.waitLog(isPass('grafana-server'), 'a pass of grafana-server on the good agent', 60_000);
  await bad.waitLog(isState('grafana-server', 'BROKEN'), 'grafana-server BROKEN on the bad agent', 60_000);
  const [g, b] = [(await good.apiUrl()), (await bad.apiUrl())];
  const dead = `http://127.0.0.1:${await freePort()}`;
  const tip = (await w.work.git('rev-parse', 'HEAD')).trim();

  const r = await ctl('status', `@${g}`, `@${b}`, `@${dead}`);
  t.diagnostic(r.stdout);
  assert.equal(r.code, 1, r.stderr);
  const table = rows(r.stdout);
  assert.deepEqual(table[0], ['HOST', 'SERVICE', 'STATE', 'COMMIT', 'AGE', 'BEHIND', 'INFO']);
  assert.deepEqual(table.slice(1).map((row) => [row[0], row[1], row[2]]), [
    [b, 'grafana-server', 'BROKEN'],
    [dead, '-', 'UNREACHABLE'],
    [g, 'grafana-server', 'OK'],
  ], r.stdout);
  assert.match(r.stdout.split('\n')[1]!, /user "no-such-user-here" does not exist on this host/, 'the BROKEN row says why');
  assert.match(r.stdout.split('\n')[2]!, /ECONNREFUSED/, 'the unreachable row says why');
  assert.deepEqual([table[3]![3], table[3]![5]], [tip.slice(0, 8), 'no'], 'the OK row: short commit of the tip, not behind');
  assert.match(table[3]![4]!, /^\d+(s|m\d+s)$/, 'AGE in human units');
  assert.equal(r.stderr, '');

  // -m: the same rows as JSON, in the same order
  const m = await ctl('-m', 'status', `@${b}`, `@${dead}`, `@${g}`);
  assert.equal(m.code, 1);
  const json = JSON.parse(m.stdout) as { host: string; state?: string; commit?: string; behind?: boolean | null; error?: { status: number; code: string } }[];
  assert.deepEqual(json.map((j) => [j.host, j.state ?? j.error?.code]), [[b, 'BROKEN'], [dead, 'CONNECTION'], [g, 'OK']]);
  assert.deepEqual([json[2]!.commit, json[2]!.behind], [tip, false]);
  assert.equal(json[0]!.behind, true, 'the bad agent fetched the tip (`tip` on the wire) and deployed nothing: behind');

  // the good agent alone: every service OK, exit 0
  const ok = await ctl('status', `@${g}`);
  assert.equal(ok.code, 0, ok.stderr);
  assert.deepEqual(rows(ok.stdout).slice(1).map((row) => [row[0], row[2]]), [[g, 'OK']]);

  // frozen is not OK: it comes first and the exit is 1
  assert.equal((await ctl('do', 'freeze', `@${g}`, 'grafana-server', '--reason', 'db migration')).code, 0);
  const frozen = await ctl('status', `@${g}`);
  assert.equal(frozen.code, 1);
  assert.deepEqual(rows(frozen.stdout).slice(1).map((row) => [row[2], row[5], row[6]]), [['FREEZE', 'no', 'db migration']], 'frozen at the tip: not behind');

  // upstream moves on while frozen: the agent fetches the new tip and keeps the old commit: behind
  await w.work.write('grafana/etc/grafana.ini', '[server]\nhttp_port = 4100\n');
  const next = await w.work.commit('grafana: port 4100');
  await w.work.push();
  assert.equal((await ctl('do', 'pull', `@${g}`)).code, 0);
  let listed: { tip?: string; commit?: string } | undefined;
  for (let i = 0; i < 100 && listed?.tip !== next; i++) {
    if (i > 0) await new Promise((r) => setTimeout(r, 100));
    listed = (JSON.parse((await ctl('-m', 'list', 'service', `@${g}`, 'grafana-server')).stdout) as { services: { tip?: string; commit?: string }[] }).services[0];
  }
  assert.deepEqual([listed?.tip, listed?.commit], [next, tip], '/list/service: the new tip, the frozen commit');
  const behind = await ctl('status', `@${g}`);
  assert.deepEqual(rows(behind.stdout).slice(1).map((row) => [row[2], row[3], row[5]]), [['FREEZE', tip.slice(0, 8), 'yes']]);
});

test('BEHIND: yes when the newest pass aimed past the deployed commit, no when OK, ? when the wire cannot tell', async (t) => {
  const dir = keyDir('gitopper-ctl-fleet-');
  const operator = makeKey(dir, 'operator', 'ed25519');
  const control = new FakeControl();
  const server: Server = await new Promise((resolve) => {
    const s = createApiApp(control, { auth: testAuth(keyFile(dir, 'authorized_keys', [operator])) }).listen(0, '127.0.0.1', () => resolve(s));
  });
  t.after(() => new Promise<void>((resolve) => server.close(() => resolve())));
  const host = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  // the fake's newest history row aimed at COMMITS[0]
  control.svc.set('prometheus', { ...control.svc.get('prometheus')!, state: 'BROKEN', info: 'pre hook refused', commit: COMMITS[1]! });
  control.svc.set('node-exporter@eth0', { ...control.svc.get('node-exporter@eth0')!, state: 'DIFF', info: 'fetch failed' });
  let stdout = '';
  const code = await run(['-i', operator.file, 'status', `@${host}`], { stdout: { write: (s: string) => (stdout += s) }, stderr: { write: () => {} }, env: {}, now: () => new Date('2022-11-18T11:17:52Z') });
  assert.equal(code, 1);
  assert.deepEqual(rows(stdout).slice(1).map((row) => [row[1], row[2], row[3], row[4], row[5]]), [
    ['prometheus', 'BROKEN', '8df1b3db', '2h3m', 'yes'],
    ['node-exporter@eth0', 'DIFF', '606eb576', '2h3m', '?'],
    ['grafana-server', 'OK', '606eb576', '2h3m', 'no'],
  ]);
  assert.equal(behindOf({ service: 's', hash: '8df1b3db', state: 'FREEZE', stateinfo: 'ROLLBACK: 8df1b3db', change: '', commit: COMMITS[1]! }, { commit: COMMITS[0]!, trigger: 'rollback' }), undefined, 'a rollback row says nothing about the tip');
  assert.equal(behindOf({ service: 's', hash: '', state: 'BROKEN', stateinfo: '', change: '', commit: '' }, undefined), undefined);
});
