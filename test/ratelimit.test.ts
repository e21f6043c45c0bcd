/**
 * The per-address limit on failed authentications (`src/http/ratelimit.ts`, used by `auth.ts`):
 * the limiter on a clock the tests advance; the app's middleware on that clock (limited requests
 * are refused before the key ring is asked); and the daemon's listener over real HTTP with its
 * defaults, asked by the built gitopperctl and from other loopback addresses.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { createApiApp } from '../src/http/app.js';
import { addressKey, FAILURE_LIMIT, FailureLimiter, TooManyFailuresError } from '../src/http/ratelimit.js';
import { signRequest } from '../src/ctl/signer.js';
import { FakeControl } from './fakes/control.js';
import { apiServerPerFile, recordingLog } from './fakes/api.js';
import { keyDir, keyFile, makeKey, signedFetch, signerOf, testAuth } from './fakes/keys.js';
import { errorCode, exchange, rawRequest } from './fakes/raw-http.js';

const dir = keyDir('gitopper-ratelimit-');
const op = makeKey(dir, 'op', 'ed25519', { comment: 'op@limit' });
const stranger = makeKey(dir, 'stranger', 'ed25519');
const rwFile = keyFile(dir, 'rw.pub', [op]);

const LIMITED = 'too many failed authentications: address limited';

// ------------------------------------------------------------------ the limiter, on a test clock

test('defaults: 20 failures within 60 s limit an address for 60 s; at most 10 000 addresses are tracked', () => {
  assert.deepEqual(FAILURE_LIMIT, { max: 20, windowMs: 60_000, maxAddresses: 10_000 });
});

test('the 20th failure within the window limits the address for a full window; logged once; then it starts over', () => {
  const { lines, log } = recordingLog();
  const l = new FailureLimiter({}, log);
  let t = 1_000_000;
  for (let i = 1; i < 20; i++) {
    assert.equal(l.fail('192.0.2.1', (t += 100)), false);
    assert.equal(l.check('192.0.2.1', t), 0, `not limited after ${i} failures`);
  }
  assert.equal(l.fail('192.0.2.1', (t += 100)), true, 'the 20th failure limits');
  const limitedAt = t;
  assert.equal(l.check('192.0.2.1', t), 60_000);
  const err = l.refusal('192.0.2.1', t + 1500);
  assert.ok(err instanceof TooManyFailuresError);
  assert.deepEqual([err.status, err.code, err.retryAfter], [429, 'TOO_MANY_FAILURES', 59]);
  assert.match(err.message, /too many failed authentications from 192\.0\.2\.1: try again in 59 s/);
  assert.equal(l.refusal('192.0.2.1', limitedAt + 59_999)?.retryAfter, 1, 'Retry-After is at least 1');
  // requests that were already past the check when the limit began still fail: no second log line, no longer limit
  assert.equal(l.fail('192.0.2.1', t + 10), false);
  assert.deepEqual(lines, [{ remote: '192.0.2.1', failures: 20, windowSeconds: 60, retryAfter: 60, msg: LIMITED }]);
  assert.equal(l.check('192.0.2.1', limitedAt + 60_000), 0, 'the window has passed');
  assert.equal(l.refusal('192.0.2.1', limitedAt + 60_000), undefined);
  for (let i = 1; i < 20; i++) assert.equal(l.fail('192.0.2.1', limitedAt + 60_000 + i), false, 'counting starts over');
  assert.equal(l.fail('192.0.2.1', limitedAt + 60_100), true);
  assert.equal(lines.length, 2, 'one line per limited window');
});

test('the window slides: failures older than 60 s do not count', () => {
  const a = new FailureLimiter();
  for (let i = 0; i < 19; i++) a.fail('192.0.2.1', i);
  assert.equal(a.fail('192.0.2.1', 59_999), true, '20 within 60 s');
  const b = new FailureLimiter();
  for (let i = 0; i < 19; i++) b.fail('192.0.2.1', i);
  assert.equal(b.fail('192.0.2.1', 60_000), false, 'the first failure left the window: 19 in it');
  assert.equal(b.fail('192.0.2.1', 60_000), true, '20 in the last 60 s');
});

test('per address: others are not limited; an IPv4 address is the same client as its ::ffff: form', () => {
  const l = new FailureLimiter({ max: 3 });
  for (let i = 0; i < 3; i++) l.fail('::ffff:198.51.100.7', i);
  assert.ok(l.check('198.51.100.7', 10) > 0);
  assert.ok(l.check('::FFFF:198.51.100.7', 10) > 0);
  assert.equal(l.check('198.51.100.8', 10), 0);
  assert.equal(l.check('127.0.0.1', 10), 0, 'loopback is an address like any other');
  for (let i = 0; i < 3; i++) l.fail('127.0.0.1', i);
  assert.ok(l.check('127.0.0.1', 10) > 0, 'and is not exempt');
  assert.equal(addressKey('2001:DB8::1'), '2001:db8::1');
});

test('a success forgets the address\'s failures, but does not lift a limit in force', () => {
  const l = new FailureLimiter({ max: 3 });
  l.fail('192.0.2.9', 1);
  l.fail('192.0.2.9', 2);
  l.succeed('192.0.2.9', 3);
  assert.equal(l.size, 0);
  assert.equal(l.fail('192.0.2.9', 4), false);
  assert.equal(l.fail('192.0.2.9', 5), false);
  assert.equal(l.fail('192.0.2.9', 6), true);
  l.succeed('192.0.2.9', 7);
  assert.ok(l.check('192.0.2.9', 8) > 0, 'still limited');
});

test('bounded memory: at most maxAddresses entries, expired ones dropped first, then the least recently failed', () => {
  const l = new FailureLimiter({ max: 2, maxAddresses: 100 });
  for (let i = 0; i < 1000; i++) l.fail(`10.0.${i >> 8}.${i & 255}`, i);
  assert.equal(l.size, 100);
  assert.equal(l.check('10.0.3.231', 2000), 0);
  // 100 addresses failed recently; one of them is limited
  const m = new FailureLimiter({ max: 2, maxAddresses: 100 }, undefined);
  m.fail('10.9.9.9', 0);
  m.fail('10.9.9.9', 1);
  for (let i = 0; i < 99; i++) m.fail(`10.1.0.${i}`, 1000 + i);
  assert.ok(m.check('10.9.9.9', 2000) > 0);
  // all still within the window: the least recently failed (the limited one) makes room
  m.fail('10.2.0.1', 2000);
  assert.equal(m.size, 100);
  assert.equal(m.check('10.9.9.9', 2001), 0);
  // once the window has passed, a new address sweeps every expired entry
  m.fail('10.3.0.1', 200_000);
  assert.equal(m.size, 1);
});

// ------------------------------------------------------------------ the middleware, on a test clock

test('the app: after 20 failures from an address, 429 TOO_MANY_FAILURES with Retry-After, before the key ring is asked; served again after the window', async (t) => {
  let clock = Date.now();
  const { lines, log } = recordingLog();
  const auth = { ...testAuth(rwFile, undefined, log), now: () => clock };
  let lookups = 0;
  const lookup = auth.keys.lookup.bind(auth.keys);
  auth.keys.lookup = (fp: string) => {
    lookups++;
    return lookup(fp);
  };
  const control = new FakeControl();
  const app = createApiApp(control, { auth });
  const server: Server = await new Promise((resolve) => {
    const s = app.listen(0, '127.0.0.1', () => resolve(s));
  });
  t.after(() => new Promise<void>((resolve) => server.close(() => resolve())));
  const port = (server.address() as AddressInfo).port;
  const base = `http://127.0.0.1:${port}`;
  const strangerFetch = signedFetch(signerOf(stranger));
  for (let i = 0; i < 20; i++) {
    const res = i % 2 === 0 ? await fetch(`${base}/list/service`) : await strangerFetch(`${base}/list/service`);
    assert.equal(res.status, 401);
  }
  const before = lookups;
  const limited = await fetch(`${base}/list/service`);
  assert.equal(limited.status, 429);
  assert.equal(limited.headers.get('retry-after'), '60');
  assert.deepEqual(await limited.json(), { error: { code: 'TOO_MANY_FAILURES', message: 'too many failed authentications from 127.0.0.1: try again in 60 s' } });
  clock += 30_000;
  const signed = await signedFetch(signerOf(op), { created: new Date(clock) })(`${base}/do/pull`, { method: 'POST' });
  assert.equal(signed.status, 429, 'a valid signature is not even looked at');
  assert.equal(signed.headers.get('retry-after'), '30');
  assert.equal(lookups, before, 'no key lookup, no signature check while limited');
  assert.deepEqual(control.calls, [], 'nothing reached the agent');
  assert.equal(lines.filter((l) => l.msg === LIMITED).length, 1, 'logged once');
  assert.equal(lines.filter((l) => l.msg === 'authentication failed').length, 20, 'limited requests are not logged one by one');
  clock += 30_000;
  const again = await signedFetch(signerOf(op), { created: new Date(clock) })(`${base}/do/pull`, { method: 'POST' });
  assert.equal(again.status, 202, 'served once the window has passed');
  assert.deepEqual(control.pulls.map((p) => p.by), [op.by]);
});

// ------------------------------------------------------------------ the daemon's listener, real HTTP, defaults

const control = new FakeControl();
const daemon = recordingLog();
const api = apiServerPerFile(control, dir, [{ path: rwFile, ro: false }], daemon.log);
const ctlBin = fileURLToPath(new URL('../cmd/gitopperctl.js', import.meta.url));

/** A GET of `target` from `from`, signed by `key` (or not). */
async function get(target: string, from: string, key?: typeof op) {
  const url = `http://127.0.0.1:${api.port}${target}`;
  const sig = key === undefined ? {} : await signRequest(signerOf(key), { method: 'GET', url, headers: {} });
  return exchange(api.port, rawRequest('GET', target, { host: `127.0.0.1:${api.port}`, ...sig }), { localAddress: from });
}

test('the daemon (real HTTP, defaults): one address is limited after 20 failures, gitopperctl says so; other addresses, loopback too, are served', async () => {
  const attacker = '127.0.5.1';
  for (let i = 0; i < 20; i++) {
    const a = await get('/list/service', attacker, i % 3 === 0 ? undefined : stranger);
    assert.equal(a.status, 401, `failure ${i + 1}`);
  }
  const refused = await get('/list/service', attacker, op);
  assert.equal(refused.status, 429);
  assert.equal(errorCode(refused), 'TOO_MANY_FAILURES');
  assert.match(refused.headers.get('retry-after') ?? '', /^(59|60)$/);
  assert.equal((await get('/list/service', '127.0.5.2', op)).status, 200, 'another address is served');
  // gitopperctl from 127.0.0.1 is served; then 127.0.0.1 fails 20 times itself and gitopperctl is refused with the reason
  const exec = promisify(execFile);
  const ctl = (key: string) => exec(process.execPath, [ctlBin, '-i', key, 'list', 'service', `@http://127.0.0.1:${api.port}`], { env: { PATH: process.env.PATH ?? '', HOME: dir } }).then(
    (r) => ({ code: 0, stderr: r.stderr }),
    (e: { code: number; stderr: string }) => ({ code: e.code, stderr: e.stderr }),
  );
  assert.equal((await ctl(op.file)).code, 0);
  for (let i = 0; i < 20; i++) assert.equal((await get('/list/machine', '127.0.0.1')).status, 401);
  const limited = await ctl(op.file);
  assert.equal(limited.code, 1);
  assert.match(limited.stderr, /too many failed authentications from 127\.0\.0\.1: try again in (59|60) s \(HTTP 429 TOO_MANY_FAILURES\)/);
  assert.deepEqual(daemon.lines.filter((l) => l.msg === LIMITED).map((l) => l.remote), [attacker, '127.0.0.1']);
});
