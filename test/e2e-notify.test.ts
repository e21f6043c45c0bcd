/**
 * Notifications end to end, on the real daemon (test/e2e/world.ts) and a real receiver on loopback
 * (test/rig/receiver.ts) that verifies every request's X-Hub-Signature-256 with the shared secret:
 * the startup pass and a pushed commit send `applied`, an operator's freeze sends `freeze` with the
 * operator's key as `by`, an unfreeze sends `unfreeze` with `by` too. A receiver that is down (connection refused)
 * or hangs does not hold up the service's passes: the pass at the next commit is logged while its
 * notification is still being tried, the failure is counted in
 * `gitopper_notification_failures_total`, and delivery resumes when the receiver is back.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { isPass, World, worldPerFile } from './e2e/world.js';
import type { Daemon } from './e2e/daemon.js';
import { Receiver } from './rig/receiver.js';

let w: World;
const { skip } = worldPerFile('gitopper-e2e-notify', (x) => (w = x));
const SVC = 'notify-svc';
const SECRET = 'e2e-notify-secret';

/** The value of the counter `name{target="<target>"}` on the daemon's /metrics (0 when absent). */
async function counter(metricsUrl: string, name: string, target: string): Promise<number> {
  const text = await (await fetch(metricsUrl)).text();
  const line = text.split('\n').find((l) => l.startsWith(`${name}{target="${target}"}`));
  return line === undefined ? 0 : Number(line.split(' ').at(-1));
}

/** Poll until the counter reaches at least `min`. */
async function counterAtLeast(metricsUrl: string, name: string, target: string, min: number, ms = 30_000): Promise<number> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await counter(metricsUrl, name, target);
    if (v >= min) return v;
    if (Date.now() > deadline) throw new Error(`${name}{target="${target}"} stayed at ${v}, wanted ≥ ${min}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Push a commit changing the service's file; resolves with its sha. */
async function push(tag: string): Promise<string> {
  await w.work.write('grafana/etc/notify-e2e.ini', `; ${tag}\n`);
  const c = await w.work.commit(`notify e2e: ${tag}`);
  await w.work.push();
  return c;
}

/** POST a signed operator request to the daemon's API. */
async function operator(d: Daemon, route: string, body: object = {}): Promise<number> {
  const res = await w.fetch(`${await d.apiUrl()}${route}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  await res.arrayBuffer();
  return res.status;
}

test('applied and freeze reach a verifying receiver; a receiver down or hanging does not delay passes, failures are counted, delivery resumes', { skip, timeout: 180_000 }, async (t) => {
  const receiver = await Receiver.start(SECRET);
  t.after(() => receiver.close());
  await writeFile(path.join(w.dir, 'notify.secret'), `${SECRET}\n`, { mode: 0o600 });
  const target = `http://127.0.0.1:${receiver.port}`;
  const toml = `${w.config('nt', w.etcService('nt', SVC, ''))}
[[notify]]
url = "${receiver.url('/hook/PATHTOKEN?token=QUERYTOKEN')}"
secret_file = "notify.secret"
timeout = "1s"
retries = 1
link = "https://grafana.example/d/gitopper?var-host=$host&var-service=$service"
`;
  const d = await w.daemon('nt', toml);
  t.after(() => d.stop());
  await d.waitLog((l) => l.msg === 'ready', 'ready');
  const listening = await d.waitLog((l) => l.msg === 'listening' && l.what === 'metrics', 'the metrics listener');
  const metrics = `http://127.0.0.1:${(listening.addr as AddressInfo).port}/metrics`;
  const tip0 = await w.work.head();

  // the startup pass deployed the tip: `applied` from nothing
  await receiver.until('applied at startup', () => receiver.events('applied').length >= 1);
  const first = receiver.events('applied')[0]!;
  assert.equal(first.json.commit, tip0);
  assert.equal(first.json.previous, '');
  assert.equal(first.json.service, SVC);
  assert.equal(first.json.version, 1);
  assert.equal(first.json.link, `https://grafana.example/d/gitopper?var-host=${encodeURIComponent(String(first.json.host))}&var-service=${SVC}`);
  assert.equal(first.headers['x-gitopper-delivery'], first.json.id);
  assert.ok(receiver.received.every((r) => r.verified), 'every request carries a valid X-Hub-Signature-256');

  // a pushed commit: `applied` with previous → commit
  const c1 = await push('one');
  await receiver.until('applied c1', () => receiver.events('applied').some((r) => r.json.commit === c1));
  assert.equal(receiver.events('applied').find((r) => r.json.commit === c1)!.json.previous, tip0);

  // an operator's freeze: `freeze` with the operator's key as by; unfreeze
  assert.equal(await operator(d, `/do/freeze/${SVC}`, { reason: 'notify e2e' }), 200);
  await receiver.until('freeze', () => receiver.events('freeze').length === 1);
  const freeze = receiver.events('freeze')[0]!.json;
  assert.deepEqual([freeze.by, freeze.reason, freeze.state, freeze.commit], [w.operator.by, 'notify e2e', 'FREEZE', c1]);
  assert.equal(await operator(d, `/do/unfreeze/${SVC}`), 200);
  await receiver.until('unfreeze', () => receiver.events('unfreeze').length === 1);
  assert.equal(receiver.events('unfreeze')[0]!.json.by, w.operator.by, 'unfreeze names who unfroze');
  assert.equal(await counter(metrics, 'gitopper_notification_failures_total', target), 0);
  assert.ok((await counter(metrics, 'gitopper_notifications_sent_total', target)) >= 4);

  // receiver down (connection refused): the pass at c2 is not held up; the failure is counted after the retry
  await receiver.down();
  const from = d.lines.length;
  const c2 = await push('two');
  const pass = await d.waitLog(isPass(SVC, c2), 'the pass at c2 while the receiver is down', 20_000, from);
  assert.equal(pass.msg, 'pass applied');
  await counterAtLeast(metrics, 'gitopper_notification_failures_total', target, 1);
  const passAt = d.lines.indexOf(pass);
  const failedAt = d.lines.findIndex((l, i) => i >= from && l.msg === 'notification failed');
  assert.ok(passAt >= 0 && failedAt > passAt, 'the pass finished before its notification was given up (delivery never blocks a pass)');
  const failed = d.lines[failedAt]!;
  assert.deepEqual([failed.target, failed.event, failed.attempts], [target, 'applied', 2]);

  // back up: the next event is delivered
  await receiver.up();
  const c3 = await push('three');
  await receiver.until('applied c3 after the receiver came back', () => receiver.events('applied').some((r) => r.json.commit === c3));

  // hanging receiver: the request for c4 arrives and is never answered; the pass at c4 is done regardless
  receiver.mode = 'hang';
  const from4 = d.lines.length;
  const failures = await counter(metrics, 'gitopper_notification_failures_total', target);
  const c4 = await push('four');
  await receiver.until('the request for c4', () => receiver.received.some((r) => r.json.commit === c4));
  await d.waitLog(isPass(SVC, c4), 'the pass at c4 while the receiver hangs', 20_000, from4);
  await counterAtLeast(metrics, 'gitopper_notification_failures_total', target, failures + 1);
  receiver.mode = 'ok';
  const c5 = await push('five');
  await receiver.until('applied c5 after the hang', () => receiver.events('applied').some((r) => r.json.commit === c5));

  // neither the secret nor the URL's tokens appear in the log or the metrics
  const logText = JSON.stringify(d.lines) + d.stderr();
  const metricsText = await (await fetch(metrics)).text();
  for (const secret of [SECRET, 'PATHTOKEN', 'QUERYTOKEN']) {
    assert.ok(!logText.includes(secret), `${secret} is not in the log`);
    assert.ok(!metricsText.includes(secret), `${secret} is not in the metrics`);
  }
});
