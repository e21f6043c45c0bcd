/**
 * Notification delivery (src/adapters/notify/): the bounded queue (drop oldest, counted), the backoff
 * on a fake clock, a target's attempts with a fake POST (retries, final 4xx, never blocking, shutdown),
 * the Notifier's reload and drain; and the real POST (httpPost) to a real receiver on loopback that
 * verifies the signature.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { BACKOFF_CAP_MS, backoffMs } from '../src/adapters/notify/backoff.js';
import { Notifier } from '../src/adapters/notify/notifier.js';
import { DeliveryError, httpPost, splitCredentials, type Post, type PostRequest } from '../src/adapters/notify/post.js';
import { DropOldestQueue } from '../src/adapters/notify/queue.js';
import { readSecret } from '../src/adapters/notify/sign.js';
import { NotifyTarget, type DeliveryReport, type DropReason, type TargetDeps } from '../src/adapters/notify/target.js';
import type { NotifySpec } from '../src/config/config.js';
import type { NotifyEvent } from '../src/ports/notify.js';
import { Receiver } from './rig/receiver.js';

const SPEC: NotifySpec = { index: 0, url: 'http://127.0.0.1:1/hook', label: 'http://127.0.0.1:1', secretFile: '/s', format: 'json', timeoutSeconds: 5, retries: 3, queue: 1000 };
const ev = (n: number, over: Partial<NotifyEvent> = {}): NotifyEvent => ({ version: 1, id: `id-${n}`, event: 'applied', time: '2024-08-01T10:00:00.000Z', host: 'web1', service: 'grafana', state: 'OK', info: '', commit: 'c'.repeat(40), previous: 'p'.repeat(40), ...over });

/** A report that records every fate. */
function recorder() {
  const log: Array<[string, string, string | number]> = [];
  const report: DeliveryReport = {
    sent: (t, e, attempts) => log.push(['sent', e.id, attempts]),
    failed: (t, e, err, attempts) => log.push(['failed', e.id, attempts]),
    dropped: (t, e, why: DropReason) => log.push(['dropped', e.id, why]),
  };
  return { log, report };
}

/** Fake deps: `post` as given, a fake clock recording each wait (resolved at once), random fixed at 0.5. */
function fakeDeps(post: Post, report: DeliveryReport) {
  const waits: number[] = [];
  const deps: TargetDeps = { post, sleep: async (ms, signal) => { signal.throwIfAborted(); waits.push(ms); }, random: () => 0.5, readSecret: async () => 'k', report };
  return { deps, waits };
}

test('queue: FIFO, bounded; a push into a full queue drops and returns the oldest', () => {
  const q = new DropOldestQueue<number>(3);
  for (const n of [1, 2, 3]) assert.equal(q.push(n), undefined);
  assert.equal(q.push(4), 1);
  assert.equal(q.push(5), 2);
  assert.equal(q.size, 3);
  assert.deepEqual([q.shift(), q.shift(), q.shift(), q.shift()], [3, 4, 5, undefined]);
  q.push(6);
  assert.equal(q.clear(), 1);
  assert.throws(() => new DropOldestQueue(0), RangeError);
});

test('backoff: exponential from 1 s with jitter in [1, 2)×, capped at 60 s', () => {
  assert.deepEqual([1, 2, 3, 4].map((n) => backoffMs(n, () => 0)), [1000, 2000, 4000, 8000]);
  assert.deepEqual([1, 2, 3].map((n) => backoffMs(n, () => 0.999)), [1999, 3998, 7996]);
  assert.equal(backoffMs(20, () => 0.5), BACKOFF_CAP_MS);
});

test('a failing receiver: retries times more, waiting the backoff on the clock, then one failure', async () => {
  const { log, report } = recorder();
  let calls = 0;
  const { deps, waits } = fakeDeps(async () => { calls++; throw new DeliveryError('receiver answered HTTP 503', { status: 503, permanent: false }); }, report);
  const t = new NotifyTarget(SPEC, deps);
  t.enqueue(ev(1));
  await t.idle();
  assert.equal(calls, 4, 'the first attempt and 3 retries');
  assert.deepEqual(waits, [1500, 3000, 6000], 'exponential backoff with the jitter (random 0.5) between them, none after the last');
  assert.deepEqual(log, [['failed', 'id-1', 4]]);
});

test('a final 4xx is not retried; a later success is sent with its attempt count', async () => {
  const { log, report } = recorder();
  let calls = 0;
  const answers = [new DeliveryError('HTTP 401', { status: 401, permanent: true }), new DeliveryError('HTTP 500', { status: 500, permanent: false }), undefined];
  const { deps, waits } = fakeDeps(async () => { const a = answers[calls++]; if (a) throw a; }, report);
  const t = new NotifyTarget(SPEC, deps);
  t.enqueue(ev(1));
  t.enqueue(ev(2));
  await t.idle();
  assert.deepEqual(log, [['failed', 'id-1', 1], ['sent', 'id-2', 2]]);
  assert.deepEqual(waits, [1500]);
});

test('each attempt is signed with the secret read at send time and carries the event id', async () => {
  const seen: PostRequest[] = [];
  const { report } = recorder();
  let secret = 'one';
  const deps: TargetDeps = { post: async (r) => void seen.push(r), sleep: async () => {}, random: () => 0, readSecret: async () => secret, report };
  const t = new NotifyTarget(SPEC, deps);
  t.enqueue(ev(1));
  await t.idle();
  secret = 'two';
  t.enqueue(ev(2));
  await t.idle();
  assert.notEqual(seen[0]!.headers['X-Hub-Signature-256'], seen[1]!.headers['X-Hub-Signature-256']);
  assert.equal(seen[0]!.headers['X-Gitopper-Delivery'], 'id-1');
  assert.equal(seen[1]!.headers['X-Gitopper-Event'], 'applied');
  const noSecret = new NotifyTarget({ ...SPEC, format: 'slack', secretFile: undefined }, deps);
  noSecret.enqueue(ev(3));
  await noSecret.idle();
  assert.equal(seen[2]!.headers['X-Hub-Signature-256'], undefined, 'a target without secret_file sends no signature');
});

test('a hanging receiver: enqueue returns at once, the queue stays bounded (oldest dropped, counted), close drops the rest', async () => {
  const { log, report } = recorder();
  const { deps } = fakeDeps((r) => new Promise((_, reject) => r.signal.addEventListener('abort', () => reject(new DeliveryError('abandoned at shutdown', { permanent: false })))), report);
  const t = new NotifyTarget({ ...SPEC, queue: 2 }, deps);
  for (let n = 1; n <= 6; n++) t.enqueue(ev(n)); // synchronous: returns although nothing is ever answered
  assert.equal(t.pending, 2, 'id-1 in flight, the two newest waiting');
  assert.deepEqual(log, [['dropped', 'id-2', 'full'], ['dropped', 'id-3', 'full'], ['dropped', 'id-4', 'full']]);
  t.close('shutdown');
  await t.idle();
  t.enqueue(ev(7));
  assert.deepEqual(log.slice(3), [['dropped', 'id-5', 'shutdown'], ['dropped', 'id-6', 'shutdown'], ['dropped', 'id-1', 'shutdown'], ['dropped', 'id-7', 'shutdown']]);
});

test('Notifier: events and services filters; a reload keeps unchanged targets and their queues, drops removed ones', async () => {
  const { log, report } = recorder();
  const posted: string[] = [];
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  const { deps } = fakeDeps(async (r) => { await gate; posted.push(`${r.url} ${(JSON.parse(r.body) as NotifyEvent).id}`); }, report);
  const a: NotifySpec = { ...SPEC, url: 'http://a.example/', label: 'a', events: ['BROKEN'] };
  const b: NotifySpec = { ...SPEC, url: 'http://b.example/', label: 'b', services: ['caddy'] };
  const c: NotifySpec = { ...SPEC, url: 'http://c.example/', label: 'c' };
  const n = new Notifier([a, b, c], deps);
  n.publish(ev(1));
  n.publish(ev(2, { event: 'BROKEN' }));
  n.publish(ev(3, { service: 'caddy' }));
  n.set([{ ...a, index: 5 }, { ...c, retries: 1 }]); // a unchanged (other position), b removed, c changed
  assert.deepEqual(n.labels, ['a', 'c']);
  release();
  await n.idle();
  assert.deepEqual(posted, ['http://a.example/ id-2']);
  assert.deepEqual(log.filter((l) => l[0] === 'dropped').map((l) => l[1]).sort(), ['id-1', 'id-2', 'id-3', 'id-3'], 'b (id-3) and the old c (id-1 .. id-3, one in flight) dropped');
});

test('Notifier.close: waits for a drain, bounded by its grace', async () => {
  const { log, report } = recorder();
  const { deps } = fakeDeps((r) => new Promise((_, reject) => r.signal.addEventListener('abort', () => reject(new Error('aborted')))), report);
  const n = new Notifier([SPEC], deps);
  n.publish(ev(1));
  await n.close(50);
  assert.deepEqual(log, [['dropped', 'id-1', 'shutdown']]);
  const ok = recorder();
  const quick = new Notifier([SPEC], fakeDeps(async () => {}, ok.report).deps);
  quick.publish(ev(2));
  await quick.close(60_000); // returns once drained, not after the grace
  assert.deepEqual(ok.log, [['sent', 'id-2', 1]]);
});

const dirs: string[] = [];
after(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

test('httpPost to a real receiver: JSON, signed so the receiver verifies it; errors name no URL', async (t) => {
  const receiver = await Receiver.start('s3cret');
  t.after(() => receiver.close());
  const dir = await mkdtemp(path.join(os.tmpdir(), 'notify-'));
  dirs.push(dir);
  await writeFile(path.join(dir, 'secret'), 's3cret\n');
  const { log, report } = recorder();
  const deps: TargetDeps = { post: httpPost, sleep: async () => {}, random: () => 0, readSecret, report };
  const spec: NotifySpec = { ...SPEC, url: receiver.url('/hook/TOKEN?x=1'), secretFile: path.join(dir, 'secret'), retries: 0, link: 'https://g.example/$service' };
  const target = new NotifyTarget(spec, deps);
  target.enqueue(ev(1));
  await target.idle();
  assert.deepEqual(log, [['sent', 'id-1', 1]]);
  const got = receiver.received[0]!;
  assert.ok(got.verified, 'X-Hub-Signature-256 verifies with the shared secret (trailing newline of the file dropped)');
  assert.equal(got.headers['content-type'], 'application/json');
  assert.equal(got.headers['x-gitopper-delivery'], 'id-1');
  assert.deepEqual(got.json, { ...ev(1), link: 'https://g.example/grafana' });

  receiver.mode = 'fail';
  await assert.rejects(httpPost({ url: receiver.url('/hook/TOKEN'), headers: {}, body: '{}', timeoutSeconds: 5, signal: new AbortController().signal }), (err: DeliveryError) => err.data.status === 500 && !err.data.permanent && !err.message.includes('TOKEN'));
  receiver.mode = 'hang';
  await assert.rejects(httpPost({ url: receiver.url('/hook/TOKEN'), headers: {}, body: '{}', timeoutSeconds: 0.2, signal: new AbortController().signal }), /no answer within 0.2 s/);
  await receiver.down();
  await assert.rejects(httpPost({ url: receiver.url('/hook/TOKEN'), headers: {}, body: '{}', timeoutSeconds: 5, signal: new AbortController().signal }), (err: Error) => /cannot reach the receiver/.test(err.message) && !err.message.includes('TOKEN'));
});

test('credentials in the URL go as Basic auth (RFC 7617), not in the URL', () => {
  assert.deepEqual(splitCredentials('https://us%40er:p%3Ass@h.example/x'), { url: 'https://h.example/x', authorization: `Basic ${Buffer.from('us@er:p:ss').toString('base64')}` });
  assert.deepEqual(splitCredentials('https://h.example/x?t=1'), { url: 'https://h.example/x?t=1', authorization: undefined });
});
