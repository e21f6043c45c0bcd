/**
 * gitopperctl's exit code after a write (issue 16): a `do rollback` (or unfreeze, freeze) whose
 * answer shows the service BROKEN or DIFF prints the table and exits 1, with one stderr line
 * naming the service, its state and why; FREEZE and OK exit 0. The real API app on loopback
 * over a FakeControl whose rollback and unfreeze end in a chosen state (the daemon's write routes
 * answer 200 with the service as it ended, `src/http/routes.ts`).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { run } from '../cmd/gitopperctl.js';
import type { Actor, ServiceInfo } from '../src/core/control.js';
import { createApiApp } from '../src/http/app.js';
import { COMMITS, FakeControl } from './fakes/control.js';
import { keyDir, keyFile, makeKey, testAuth } from './fakes/keys.js';

const dir = keyDir('gitopper-ctl-state-');
const operator = makeKey(dir, 'operator', 'ed25519', { comment: 'miek@limos' });
const authorized = keyFile(dir, 'authorized_keys', [operator]);

/** A FakeControl whose rollback and unfreeze end in `ends` (when set), as a failed deploy would. */
class EndingControl extends FakeControl {
  ends: Pick<ServiceInfo, 'state' | 'info'> | undefined;

  private end(s: ServiceInfo): ServiceInfo {
    if (this.ends === undefined) return s;
    const next = { ...s, ...this.ends };
    this.svc.set(s.service, next);
    return next;
  }
  override async rollback(name: string, hash: string, actor: Actor): Promise<ServiceInfo> {
    return this.end(await super.rollback(name, hash, actor));
  }
  override async unfreeze(name: string, actor: Actor): Promise<ServiceInfo> {
    return this.end(await super.unfreeze(name, actor));
  }
}

async function host(t: { after: (fn: () => Promise<void>) => void }, control: FakeControl): Promise<string> {
  const server: Server = await new Promise((resolve) => {
    const s = createApiApp(control, { auth: testAuth(authorized) }).listen(0, '127.0.0.1', () => resolve(s));
  });
  t.after(() => new Promise<void>((resolve) => server.close(() => resolve())));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

async function ctl(...args: string[]) {
  let stdout = '';
  let stderr = '';
  const now = () => new Date('2022-11-18T11:17:52Z');
  const code = await run(['-i', operator.file, ...args], { stdout: { write: (s: string) => (stdout += s) }, stderr: { write: (s: string) => (stderr += s) }, now, env: {} });
  return { code, stdout, stderr, lines: stdout.trimEnd().split('\n') };
}

const cells = (line: string) => line.trim().split(/\s+/);

test('do rollback that ends BROKEN: the table on stdout, the reason on stderr, exit 1; one that ends FREEZE exits 0', async (t) => {
  const control = new EndingControl();
  const at = `@${await host(t, control)}`;
  const ok = await ctl('do', 'rollback', at, 'prometheus', '8df1b3db');
  assert.equal(ok.code, 0, ok.stderr);
  assert.equal(ok.stderr, '');

  control.ends = { state: 'BROKEN', info: 'link "prometheus" does not exist in the checkout' };
  await ctl('do', 'unfreeze', at, 'prometheus');
  const r = await ctl('do', 'rollback', at, 'prometheus', '8df1b3db');
  assert.equal(r.code, 1);
  assert.deepEqual(r.lines.map(cells)[0], ['#', 'SERVICE', 'HASH', 'STATE', 'INFO', 'SINCE']);
  assert.match(r.lines[1]!, /^0 {2}prometheus {2}8df1b3db {2}BROKEN {2}link "prometheus" does not exist in the checkout {2}0s$/);
  assert.equal(r.stderr, 'gitopperctl: prometheus is BROKEN after do rollback: link "prometheus" does not exist in the checkout\n');

  // -m: the server's JSON as is, the same exit code and line
  const m = await ctl('-m', 'd', 'r', at, 'prometheus', COMMITS[1]!.slice(0, 8));
  assert.equal(m.code, 1);
  assert.equal(JSON.parse(m.stdout).services[0].state, 'BROKEN');
  assert.match(m.stderr, /^gitopperctl: prometheus is BROKEN after do rollback: /);
});

test('do unfreeze that ends DIFF exits 1; reads of a BROKEN service and do pull stay 0', async (t) => {
  const control = new EndingControl();
  const at = `@${await host(t, control)}`;
  assert.equal((await ctl('do', 'freeze', at, 'grafana-server')).code, 0);
  control.ends = { state: 'DIFF', info: 'fetch failed: 503' };
  const u = await ctl('do', 'unfreeze', at, 'grafana-server');
  assert.equal(u.code, 1);
  assert.match(u.lines[1]!, /grafana-server\s+606eb576\s+DIFF\s+fetch failed: 503/);
  assert.equal(u.stderr, 'gitopperctl: grafana-server is DIFF after do unfreeze: fetch failed: 503\n');

  // a list shows the state; only writes turn it into an exit code
  const list = await ctl('list', 'service', at, 'grafana-server');
  assert.equal(list.code, 0, list.stderr);
  assert.match(list.lines[1]!, /DIFF/);
  assert.equal((await ctl('do', 'pull', at, 'grafana-server')).code, 0);
});

test('several @HOSTs: the one that ends BROKEN is named on stderr, the other rows print, exit 1', async (t) => {
  const good = new EndingControl();
  const bad = new EndingControl();
  const [a, b] = [await host(t, good), await host(t, bad)];
  bad.ends = { state: 'BROKEN', info: 'reload failed' };
  const r = await ctl('do', 'rollback', `@${a}`, `@${b}`, 'grafana-server', '8df1b3db');
  assert.equal(r.code, 1);
  assert.deepEqual(r.lines.slice(1).map((l) => [cells(l)[0], cells(l)[4]]), [[a, 'FREEZE'], [b, 'BROKEN']]);
  assert.equal(r.stderr, `gitopperctl: ${b}: grafana-server is BROKEN after do rollback: reload failed\n`);
});
