/**
 * Request size limits of the API listener (`startApiServer`), for every route of the table and
 * the push webhook: the request target (414 past MAX_URL_BYTES), the request line and headers
 * (431 past MAX_HEADER_BYTES), and bodies (POST routes 16 KiB → 413; GET routes none → 400;
 * `/hook` 5 MiB → 413). Every refusal has the API's JSON error body; none needs a signature
 * first, and no body is read before the request is authenticated.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { webhookRouter } from '../src/http/webhook/app.js';
import { fixedKeys } from '../src/http/keyring.js';
import { ROUTES } from '../src/http/routes.js';
import { MAX_HEADER_BYTES, MAX_URL_BYTES, startApiServer } from '../src/http/server.js';
import { signRequest } from '../src/ctl/signer.js';
import { FakeControl } from './fakes/control.js';
import { keyDir, keyFile, makeKey, signerOf } from './fakes/keys.js';
import { errorCode, exchange, rawRequest, type RawAnswer } from './fakes/raw-http.js';

const dir = keyDir('gitopper-limits-');
const op = makeKey(dir, 'op', 'ed25519');
const control = new FakeControl();
const logged: string[] = [];
const log = { info: () => {}, warn: () => {}, error: (_d: Record<string, unknown>, msg: string) => void logged.push(msg) };
let server: Server;
let port = 0;
let from = 0;

before(async () => {
  const hook = webhookRouter({ pullPushed: () => [], secret: async () => 'webhook secret', log: () => {} });
  server = await startApiServer(control, {
    addr: '127.0.0.1:0',
    insecureHttp: true,
    stateDir: path.join(dir, 'state'),
    hosts: ['limos'],
    keys: fixedKeys([{ path: keyFile(dir, 'rw.pub', [op]), ro: false }]),
    log,
    open: [hook],
  });
  port = (server.address() as AddressInfo).port;
});
after(() => new Promise<void>((resolve) => server.close(() => resolve())));

/** Every route of the table with its parameters filled in, and the webhook. */
const TARGETS: readonly { method: string; path: string }[] = [
  ...ROUTES.map((r) => ({ method: r.method, path: r.path.replace(':service', 'grafana-server').replace(':hash', '8df1b3db') })),
  { method: 'POST', path: '/hook' },
];

/**
 * Sends a request (signed by `op` unless `unsigned`), each from its own loopback address so the
 * failure limit stays out of the way.
 */
async function send(method: string, target: string, opts: { headers?: Record<string, string>; body?: string; unsigned?: boolean; chunked?: boolean } = {}): Promise<RawAnswer> {
  const host = `127.0.0.1:${port}`;
  const body = opts.body;
  const base: Record<string, string> = { host, ...(body === undefined ? {} : { 'content-type': 'application/json' }), ...opts.headers };
  const sig = opts.unsigned ? {} : await signRequest(signerOf(op), { method, url: `http://${host}${target}`, headers: base, ...(body === undefined ? {} : { body }) });
  const localAddress = `127.0.6.${(from++ % 250) + 1}`;
  if (opts.chunked && body !== undefined) {
    const head = `${method} ${target} HTTP/1.1\r\n${Object.entries({ ...base, ...sig, 'transfer-encoding': 'chunked' }).map(([k, v]) => `${k}: ${v}\r\n`).join('')}\r\n`;
    const payload = Buffer.from(body);
    return exchange(port, Buffer.concat([Buffer.from(head), Buffer.from(`${payload.length.toString(16)}\r\n`), payload, Buffer.from('\r\n0\r\n\r\n')]), { localAddress });
  }
  return exchange(port, rawRequest(method, target, { ...base, ...sig }, body), { localAddress });
}

function refused(a: RawAnswer, status: number, code: string, what: string): void {
  assert.equal(a.status, status, `${what}: ${a.body.toString().slice(0, 200)}`);
  assert.match(a.headers.get('content-type') ?? '', /^application\/json/, what);
  assert.equal(errorCode(a), code, what);
}

test(`URL: a request target longer than ${MAX_URL_BYTES} bytes answers 414 URI_TOO_LONG on every route, before authentication; ${MAX_URL_BYTES} is served`, async () => {
  for (const { method, path: p } of TARGETS) {
    const at = (n: number) => `${p}?q=${'a'.repeat(n - p.length - 3)}`;
    refused(await send(method, at(MAX_URL_BYTES + 1), { unsigned: true }), 414, 'URI_TOO_LONG', `${method} ${p} unsigned`);
    refused(await send(method, at(MAX_URL_BYTES + 1), { body: method === 'POST' ? '{}' : undefined }), 414, 'URI_TOO_LONG', `${method} ${p} signed`);
    const ok = await send(method, at(MAX_URL_BYTES), { body: method === 'POST' ? '{}' : undefined });
    assert.ok(ok.status !== 414 && ok.status < 500, `${method} ${p} at the limit: ${ok.status} ${ok.body}`);
    if (p !== '/hook') assert.ok(ok.status < 300 || ok.status === 409, `${method} ${p} at the limit is served: ${ok.status} ${ok.body}`);
  }
  refused(await send('GET', `/list/service/${'a'.repeat(20_000)}`, { unsigned: true }), 431, 'HEADERS_TOO_LARGE', 'a target beyond the header limit');
});

test(`headers: a request line and headers over ${MAX_HEADER_BYTES} bytes answer 431 HEADERS_TOO_LARGE on every route; 12 KiB of headers is fine`, async () => {
  for (const { method, path: p } of TARGETS) {
    refused(await send(method, p, { headers: { 'x-long': 'a'.repeat(MAX_HEADER_BYTES) }, unsigned: true }), 431, 'HEADERS_TOO_LARGE', `${method} ${p}: one long header`);
    const many = Object.fromEntries(Array.from({ length: 400 }, (_, i) => [`x-h${i}`, 'a'.repeat(40)]));
    refused(await send(method, p, { headers: many }), 431, 'HEADERS_TOO_LARGE', `${method} ${p}: many headers`);
    const fine = await send(method, p, { headers: { 'x-long': 'a'.repeat(12 * 1024) }, body: method === 'POST' ? '{}' : undefined });
    assert.ok(fine.status !== 431 && fine.status < 500, `${method} ${p}: ${fine.status}`);
  }
});

test('bodies: POST routes take at most 16 KiB (413 PAYLOAD_TOO_LARGE, by Content-Length or chunked); GET routes none (400); /hook 5 MiB', async () => {
  const LIMIT = 16 * 1024;
  const sized = (n: number) => `{"reason":"x"}${' '.repeat(n - 14)}`;
  for (const { method, path: p } of TARGETS) {
    if (p === '/hook') continue;
    if (method === 'GET') {
      refused(await send(method, p, { body: '{}' }), 400, 'BAD_REQUEST', `${method} ${p} with a body`);
      refused(await send(method, p, { body: '{}', chunked: true }), 400, 'BAD_REQUEST', `${method} ${p} with a chunked body`);
      continue;
    }
    refused(await send(method, p, { body: sized(LIMIT + 1) }), 413, 'PAYLOAD_TOO_LARGE', `${method} ${p}: ${LIMIT + 1} bytes`);
    refused(await send(method, p, { body: sized(LIMIT + 1), chunked: true }), 413, 'PAYLOAD_TOO_LARGE', `${method} ${p}: ${LIMIT + 1} bytes chunked`);
    const fits = await send(method, p, { body: p.startsWith('/do/freeze') ? sized(LIMIT) : `{}${' '.repeat(LIMIT - 2)}` });
    assert.ok(fits.status !== 413 && fits.status < 500, `${method} ${p}: ${LIMIT} bytes: ${fits.status} ${fits.body}`);
  }
  const hook = (n: number) => send('POST', '/hook', { unsigned: true, headers: { 'x-github-event': 'push', 'x-hub-signature-256': 'sha256=00' }, body: 'a'.repeat(n) });
  refused(await hook(5 * 1024 * 1024 + 1), 413, 'PAYLOAD_TOO_LARGE', '/hook past 5 MiB');
  refused(await hook(1024), 401, 'UNAUTHORIZED', '/hook within the limit reaches the HMAC check');
  assert.deepEqual(logged, [], 'no internal error');
});

test('no body is read before authentication: an unsigned POST announcing 1 GB is answered 401 at once', async () => {
  for (const { path: p } of TARGETS.filter((t) => t.method === 'POST' && t.path !== '/hook')) {
    const head = `POST ${p} HTTP/1.1\r\nhost: 127.0.0.1:${port}\r\ncontent-type: application/json\r\ncontent-length: 1000000000\r\n\r\n{"reason":`;
    const started = Date.now();
    const a = await exchange(port, head, { localAddress: `127.0.7.${(from++ % 250) + 1}`, timeoutMs: 3000 });
    refused(a, 401, 'MISSING_SIGNATURE', p);
    assert.ok(Date.now() - started < 2000);
  }
});
