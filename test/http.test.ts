import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import { readFileSync } from 'node:fs';
import { createApiApp } from '../src/http/app.js';
import type { ApiLogEntry } from '../src/http/errors.js';
import { ROUTES } from '../src/http/routes.js';
import { formatChange, parseChange } from '../src/api/wire.js';
import { COMMITS, FakeControl } from './fakes/control.js';
import { keyDir, keyFile, makeKey, signedFetch, signerOf, testAuth } from './fakes/keys.js';

// every request of these tests is signed with one ed25519 key listed read-write
const dir = keyDir();
const operator = makeKey(dir, 'operator', 'ed25519', { comment: 'miek@limos' });
const authorized = keyFile(dir, 'authorized_keys', [operator]);
const fetch = signedFetch(signerOf(operator));

/** Starts the API over a fresh FakeControl on 127.0.0.1:0; `t.after` closes it. */
async function serve(t: { after: (fn: () => Promise<void>) => void }, control = new FakeControl()) {
  const logs: ApiLogEntry[] = [];
  const app = createApiApp(control, { log: (e) => logs.push(e), auth: testAuth(authorized) });
  const server: Server = await new Promise((resolve) => {
    const s = app.listen(0, '127.0.0.1', () => resolve(s));
  });
  t.after(() => new Promise<void>((resolve) => server.close(() => resolve())));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const call = async (method: string, path: string, init: { body?: string; json?: unknown; type?: string } = {}) => {
    const body = init.json !== undefined ? JSON.stringify(init.json) : init.body;
    const headers: Record<string, string> = {};
    if (body !== undefined) headers['content-type'] = init.type ?? 'application/json';
    const res = await fetch(`${base}${path}`, { method, headers, ...(body === undefined ? {} : { body }) });
    const text = await res.text();
    return { status: res.status, headers: res.headers, text, json: text === '' ? undefined : (JSON.parse(text) as any) };
  };
  return { control, logs, call, base };
}

const RFC1123_UTC = /^(Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d{2} (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) \d{4} \d{2}:\d{2}:\d{2} UTC$/;

function assertError(r: { status: number; json: any; headers: Headers }, status: number, code: string, message?: RegExp) {
  assert.equal(r.status, status, JSON.stringify(r.json));
  assert.match(r.headers.get('content-type') ?? '', /^application\/json/);
  assert.deepEqual(Object.keys(r.json), ['error']);
  assert.deepEqual(Object.keys(r.json.error).sort(), ['code', 'message']);
  assert.equal(r.json.error.code, code);
  if (message) assert.match(r.json.error.message, message);
}

test('change is RFC 1123 in UTC, as gitopper writes it, and parses back', () => {
  const d = new Date('2022-11-18T09:14:52Z');
  assert.equal(formatChange(d), 'Fri, 18 Nov 2022 09:14:52 UTC');
  assert.equal(parseChange('Fri, 18 Nov 2022 09:14:52 UTC')?.getTime(), d.getTime());
  assert.equal(parseChange('2022-11-18T09:14:52Z'), undefined);
});

test('GET /list/machine: gitopper machines shape, one row per machine name, actual = hostname', async (t) => {
  const { call } = await serve(t);
  const r = await call('GET', '/list/machine');
  assert.equal(r.status, 200);
  assert.deepEqual(r.json, {
    machines: [
      { machine: 'grafana.example.org', actual: 'limos' },
      { machine: 'prom.example.org', actual: 'limos' },
    ],
  });
});

test('GET /list/service: gitopper field names, 8-hex hash, RFC 1123 change, added fields beside', async (t) => {
  const { call } = await serve(t);
  const r = await call('GET', '/list/service');
  assert.equal(r.status, 200);
  assert.deepEqual(Object.keys(r.json), ['services']);
  assert.deepEqual(r.json.services.map((s: any) => s.service), ['grafana-server', 'prometheus', 'node-exporter@eth0']);
  const s = r.json.services[0];
  for (const key of ['service', 'hash', 'state', 'stateinfo', 'change']) assert.ok(key in s, `gitopper field ${key}`);
  assert.equal(s.hash, '606eb576');
  assert.equal(s.commit, COMMITS[0]);
  assert.equal(s.state, 'OK');
  assert.equal(s.stateinfo, '');
  assert.equal(s.change, 'Fri, 18 Nov 2022 09:14:52 UTC');
  assert.match(s.change, RFC1123_UTC);
  assert.equal(s.upstream, 'https://example.org/cfg');
  assert.equal(s.branch, 'main');
  assert.equal('by' in s, false, 'no by while not frozen');
});

test('GET /list/service/:service: one service; template names decode; unknown 404; bad names 400 before the agent', async (t) => {
  const { call, control } = await serve(t);
  const one = await call('GET', '/list/service/grafana-server');
  assert.equal(one.status, 200);
  assert.equal(one.json.services.length, 1);
  assert.equal(one.json.services[0].service, 'grafana-server');
  const tpl = await call('GET', `/list/service/${encodeURIComponent('node-exporter@eth0')}`);
  assert.equal(tpl.json.services[0].service, 'node-exporter@eth0');
  assertError(await call('GET', '/list/service/nope'), 404, 'UNKNOWN_SERVICE', /"nope" is not managed/);
  const before = control.calls.length;
  assertError(await call('GET', '/list/service/a%20b'), 400, 'BAD_REQUEST', /invalid service name "a b"/);
  assertError(await call('GET', '/list/service/..%2Fetc'), 400, 'BAD_REQUEST');
  assertError(await call('GET', `/list/service/${'a'.repeat(256)}`), 400, 'BAD_REQUEST');
  assertError(await call('GET', '/list/service/%E0%A4%A'), 400, 'BAD_REQUEST');
  assert.equal(control.calls.length, before, 'the agent was not asked about bad names');
});

test('POST /do/freeze: 200 in the services shape with the reason; again 409; by is the actor', async (t) => {
  const { call, control } = await serve(t);
  const r = await call('POST', '/do/freeze/grafana-server', { json: { reason: 'maintenance window' } });
  assert.equal(r.status, 200);
  assert.deepEqual(Object.keys(r.json), ['services']);
  assert.equal(r.json.services[0].state, 'FREEZE');
  assert.equal(r.json.services[0].stateinfo, 'maintenance window');
  assert.equal(r.json.services[0].by, `${operator.fingerprint} miek@limos`, 'by is the signing key: fingerprint and comment');
  assert.equal(r.json.services[0].change, 'Fri, 18 Nov 2022 11:17:52 UTC');
  assert.equal(control.svc.get('grafana-server')?.state, 'FREEZE');
  assertError(await call('POST', '/do/freeze/grafana-server'), 409, 'CONFLICT', /already frozen/);
  const bare = await call('POST', '/do/freeze/prometheus');
  assert.equal(bare.status, 200, 'no body is fine');
  assert.equal(bare.json.services[0].stateinfo, '');
  assertError(await call('POST', '/do/freeze/nope'), 404, 'UNKNOWN_SERVICE');
});

test('freeze body: malformed JSON, non-objects, bad reason, unknown fields → 400; other media → 415; huge → 413', async (t) => {
  const { call, control, logs } = await serve(t);
  const path = '/do/freeze/grafana-server';
  assertError(await call('POST', path, { body: '{"reason": ' }), 400, 'BAD_REQUEST', /malformed JSON/);
  assertError(await call('POST', path, { body: '"just a string"' }), 400, 'BAD_REQUEST');
  assertError(await call('POST', path, { json: ['reason'] }), 400, 'BAD_REQUEST', /JSON object/);
  assertError(await call('POST', path, { json: { reason: 42 } }), 400, 'BAD_REQUEST', /"reason" must be a string/);
  assertError(await call('POST', path, { json: { reason: 'x'.repeat(1025) } }), 400, 'BAD_REQUEST', /at most 1024/);
  assertError(await call('POST', path, { json: { reson: 'typo' } }), 400, 'BAD_REQUEST', /unknown body field "reson"/);
  assertError(await call('POST', path, { body: 'reason=x', type: 'application/x-www-form-urlencoded' }), 415, 'UNSUPPORTED_MEDIA_TYPE');
  assertError(await call('POST', path, { json: { reason: 'x'.repeat(20_000) } }), 413, 'PAYLOAD_TOO_LARGE');
  assert.equal(control.svc.get('grafana-server')?.state, 'OK', 'nothing was frozen by bad requests');
  assert.equal(logs.length, 0, 'client errors are not logged as server failures');
  const max = await call('POST', path, { json: { reason: 'x'.repeat(1024) } });
  assert.equal(max.status, 200, '1024 characters is allowed');
});

test('POST /do/unfreeze: 409 when not frozen, 200 back to OK after a freeze', async (t) => {
  const { call } = await serve(t);
  assertError(await call('POST', '/do/unfreeze/grafana-server'), 409, 'CONFLICT', /not frozen/);
  await call('POST', '/do/freeze/grafana-server');
  const r = await call('POST', '/do/unfreeze/grafana-server');
  assert.equal(r.status, 200);
  assert.equal(r.json.services[0].state, 'OK');
  assert.equal('by' in r.json.services[0], false);
});

test('POST /do/rollback: hash syntax 400 with the reason, unknown commit 409, good hash 200 frozen there', async (t) => {
  const { call, control } = await serve(t);
  const before = control.calls.length;
  assertError(await call('POST', '/do/rollback/grafana-server/xyz1'), 400, 'BAD_REQUEST', /4–40 hexadecimal/);
  assertError(await call('POST', '/do/rollback/grafana-server/abc'), 400, 'BAD_REQUEST', /"abc"/);
  assertError(await call('POST', `/do/rollback/grafana-server/${'a'.repeat(41)}`), 400, 'BAD_REQUEST');
  assert.equal(control.calls.length, before, 'bad hashes never reach the agent');
  assertError(await call('POST', '/do/rollback/grafana-server/deadbeef'), 409, 'CONFLICT', /not in the history/);
  assertError(await call('POST', '/do/rollback/nope/8df1b3db'), 404, 'UNKNOWN_SERVICE');
  const r = await call('POST', '/do/rollback/grafana-server/8DF1B3DB');
  assert.equal(r.status, 200);
  const s = r.json.services[0];
  assert.equal(s.state, 'FREEZE');
  assert.equal(s.stateinfo, 'ROLLBACK: 8DF1B3DB');
  assert.equal(s.hash, '8df1b3db');
  assert.equal(s.commit, COMMITS[1]);
});

test('POST /do/pull: 202 at once for all or one service; unknown 404', async (t) => {
  const { call, control } = await serve(t);
  const all = await call('POST', '/do/pull');
  assert.equal(all.status, 202);
  assert.deepEqual(all.json, { accepted: true });
  const one = await call('POST', '/do/pull/prometheus');
  assert.equal(one.status, 202);
  assert.deepEqual(one.json, { accepted: true, service: 'prometheus' });
  assert.deepEqual(control.pulls, [
    { name: undefined, by: operator.by },
    { name: 'prometheus', by: operator.by },
  ]);
  assertError(await call('POST', '/do/pull/nope'), 404, 'UNKNOWN_SERVICE');
});

test('GET /list/history/:service: newest first, RFC 3339 times, hash beside the full commit', async (t) => {
  const { call } = await serve(t);
  const r = await call('GET', '/list/history/grafana-server');
  assert.equal(r.status, 200);
  assert.deepEqual(r.json.history[0], {
    commit: COMMITS[0],
    hash: '606eb576',
    time: '2022-11-18T09:14:52.250Z',
    trigger: 'pull',
    state: 'OK',
    stateinfo: '',
    seconds: 1.25,
    by: 'local',
  });
  assert.equal('by' in r.json.history[1], false, 'timer passes have no by');
  assertError(await call('GET', '/list/history/nope'), 404, 'UNKNOWN_SERVICE');
});

test('unknown route 404 JSON; wrong method 405 with Allow; OPTIONS lists the methods', async (t) => {
  const { call } = await serve(t);
  assertError(await call('GET', '/nope'), 404, 'NOT_FOUND', /GET \/nope/);
  assertError(await call('GET', '/list/service/a/b'), 404, 'NOT_FOUND');
  const get = await call('GET', '/do/freeze/grafana-server');
  assertError(get, 405, 'METHOD_NOT_ALLOWED');
  assert.equal(get.headers.get('allow'), 'POST');
  const post = await call('POST', '/list/machine');
  assertError(post, 405, 'METHOD_NOT_ALLOWED');
  assert.equal(post.headers.get('allow'), 'GET, HEAD');
  const opt = await call('OPTIONS', '/do/pull');
  assert.equal(opt.status, 204);
  assert.equal(opt.headers.get('allow'), 'POST');
});

test('an unexpected failure answers 500 with a generic message and is logged once', async (t) => {
  const { call, control, logs } = await serve(t);
  control.boom = new Error('EACCES /var/lib/secret');
  const r = await call('POST', '/do/freeze/grafana-server');
  assertError(r, 500, 'INTERNAL');
  assert.doesNotMatch(r.json.error.message, /secret/);
  assert.equal(logs.length, 1);
  assert.equal(logs[0]!.method, 'POST');
  assert.equal(logs[0]!.path, '/do/freeze/grafana-server');
  assert.equal((logs[0]!.err as Error).message, 'EACCES /var/lib/secret');
  assert.equal((await call('GET', '/list/service')).status, 200, 'the next request is fine');
  assert.equal(logs.length, 1);
});

test('route table: every write row is a POST and every POST writes; each row is served; docs list each', async (t) => {
  const { call } = await serve(t);
  const docs = readFileSync(new URL('../../docs/api.md', import.meta.url), 'utf8');
  const seen = new Set<string>();
  for (const row of ROUTES) {
    assert.equal(row.write, row.method === 'POST', `${row.method} ${row.path}`);
    const key = `${row.method} ${row.path}`;
    assert.equal(seen.has(key), false, `duplicate ${key}`);
    seen.add(key);
    const path = row.path.replace(':service', 'grafana-server').replace(':hash', COMMITS[2]!.slice(0, 8));
    const r = await call(row.method, path);
    assert.ok(r.status >= 200 && r.status < 300, `${row.method} ${path} → ${r.status} ${r.text}`);
    const documented = row.path.replace(/:(\w+)/g, '<$1>');
    assert.ok(docs.includes(`### \`${row.method} ${documented}\`\n`), `docs/api.md has a section on ${row.method} ${documented}`);
  }
  assert.equal(ROUTES.length, 9);
});
