/**
 * Hostile input: the REST API fuzzed with fast-check, over real HTTP. The listener is the daemon's
 * own (`startApiServer`: `createApiApp` over a FakeControl that records every call, the key ring,
 * the size limits and the failure limit of `ratelimit.ts`), plain HTTP on 127.0.0.1. Requests are
 * raw bytes on a socket, so anything goes: random methods, request targets (encoded, traversal,
 * unicode, very long), headers, framings, bodies, and signatures (random ones, and valid ones
 * made with gitopperctl's signer, then mutated). Each comes from a loopback address of its own
 * kind (127.0.1.x for hostile requests, so the failure limit trips; a fresh 127.2.x.y for each
 * well-formed signed one).
 *
 * The property: every request gets an answer, 4xx with `{"error":{"code","message"}}` (or 2xx
 * for a validly signed request), never a 5xx, never a dropped connection; a 429 carries
 * Retry-After; the agent is called only for a request validly signed by a listed key, and asked to
 * change something only for one signed by a read-write key. Well-formed signed requests from a
 * listed key are never refused as unauthenticated. The server logs no internal error.
 *
 * Reproduce a failure: `FUZZ_SEED=<seed printed by the test> node test/run.mjs fuzz-api`.
 */
import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { webhookRouter } from '../src/http/webhook/app.js';
import { signRequest, type RequestSigner } from '../src/ctl/signer.js';
import { COMMITS, FakeControl } from './fakes/control.js';
import { apiServerPerFile, recordingLog } from './fakes/api.js';
import { keyDir, keyFile, makeKey, signerOf } from './fakes/keys.js';
import { exchange, type RawAnswer } from './fakes/raw-http.js';

/** The seed of every property of this file: `FUZZ_SEED`, else a fresh one (printed). */
const SEED = process.env.FUZZ_SEED === undefined ? Date.now() ^ (Math.random() * 0x7fffffff) : Number(process.env.FUZZ_SEED);
const RUNS = Number(process.env.FUZZ_RUNS ?? 1);
/** fast-check parameters: the seed, and `n` runs (times FUZZ_RUNS for a longer session). */
const params = (n: number) => ({ seed: SEED, numRuns: Math.round(n * RUNS), includeErrorInReport: true });
/** Longest wait for an answer: a request the server leaves hanging fails the property. */
const ANSWER_MS = 5000;

const dir = keyDir('gitopper-fuzz-api-');
const keys = {
  rw: makeKey(dir, 'rw', 'ed25519', { comment: 'op@fuzz' }),
  ec: makeKey(dir, 'ec', 'ecdsa', { bits: 256 }),
  ro: makeKey(dir, 'ro', 'ed25519'),
  stranger: makeKey(dir, 'stranger', 'ed25519'),
};
type Who = keyof typeof keys;
const signers: Record<Who, RequestSigner> = { rw: signerOf(keys.rw), ec: signerOf(keys.ec), ro: signerOf(keys.ro), stranger: signerOf(keys.stranger) };
const WRITERS: readonly Who[] = ['rw', 'ec'];
const KNOWN: readonly Who[] = ['rw', 'ec', 'ro'];

const { lines: logs, log } = recordingLog({ levels: true });
const control = new FakeControl();
const api = apiServerPerFile(control, dir, [{ path: keyFile(dir, 'rw.pub', [keys.rw, keys.ec]), ro: false }, { path: keyFile(dir, 'ro.pub', [keys.ro]), ro: true }], log, [
  // the push webhook, as the daemon mounts it: before the signature check, its own HMAC
  webhookRouter({ pullPushed: (urls, branch) => (control.calls.push(`hook ${urls.join(',')} ${branch}`), []), secret: async () => 'webhook secret', log: () => {} }),
]);
before(() => console.log(`fuzz-api: seed ${SEED} (reproduce with FUZZ_SEED=${SEED})`));

// ------------------------------------------------------------------ the wire

/** Sends `bytes` from `localAddress` and reads the first answer; a request left hanging fails the property. */
const send = (bytes: Buffer, localAddress: string, head: boolean): Promise<RawAnswer> => exchange(api.port, bytes, { localAddress, head, timeoutMs: ANSWER_MS });

// ------------------------------------------------------------------ requests

/** How the request's body is framed. */
type Framing = 'length' | 'chunked' | 'short-length' | 'unframed';

/** A request to build and send. */
interface Req {
  method: string;
  /** The request target as sent (any characters; written as UTF-8). */
  target: string;
  /** The Host header; null: none. */
  host: string | null;
  /** Extra header lines, in order (names and values as sent). */
  headers: [string, string][];
  body: string | undefined;
  framing: Framing;
  sig: Sig;
}

/** What signs a request: nothing, random header values, or a real signature (then maybe changed). */
type Sig =
  | { kind: 'none' }
  | { kind: 'random'; input: string; signature: string; digest: string | undefined }
  | { kind: 'signed'; who: Who; mutation: Mutation; neutral: Neutral[] };

/** A change to a request after signing that must break it. */
type Mutation =
  | 'none' | 'flip-signature' | 'truncate-signature' | 'keyid' | 'created' | 'nonce' | 'alg' | 'drop-target-uri' | 'drop-digest' | 'label'
  | 'method' | 'path' | 'host' | 'body' | 'digest' | 'content-type' | 'second-signature' | 'duplicate-signature-header';
const MUTATIONS: readonly Mutation[] = ['flip-signature', 'truncate-signature', 'keyid', 'created', 'nonce', 'alg', 'drop-target-uri', 'drop-digest', 'label',
  'method', 'path', 'host', 'body', 'digest', 'content-type', 'second-signature', 'duplicate-signature-header'];

/** A change that keeps a signed request valid. */
type Neutral = 'header-case' | 'extra-header' | 'header-space' | 'header-order';

const latin1 = (s: string) => Buffer.from(s, 'utf8').toString('latin1');
const fingerprints = Object.values(keys).map((k) => k.fingerprint);

/** The raw bytes of `r`, and whether it carries a valid signature (by whom), after the mutation. */
async function build(r: Req): Promise<{ bytes: Buffer; signedBy: Who | undefined }> {
  const headers: [string, string][] = [];
  if (r.host !== null) headers.push(['Host', r.host]);
  let method = r.method;
  let target = r.target;
  let body = r.body;
  let signedBy: Who | undefined;
  const sig = r.sig;
  if (sig.kind === 'random') {
    headers.push(['Signature-Input', sig.input], ['Signature', sig.signature]);
    if (sig.digest !== undefined) headers.push(['Content-Digest', sig.digest]);
  }
  let extra = [...r.headers];
  if (sig.kind === 'signed') {
    // the header values sign what the server will see: the target as node reads it (latin1)
    const ct = extra.find(([k]) => k.toLowerCase() === 'content-type')?.[1];
    const withBody = body !== undefined && body !== '';
    if (withBody && ct === undefined) extra.push(['Content-Type', 'application/json']);
    let signed: Record<string, string>;
    try {
      signed = await signRequest(signers[sig.who], {
        method,
        url: `http://${r.host ?? ''}${latin1(target)}`,
        headers: withBody ? { 'content-type': ct ?? 'application/json' } : {},
        ...(withBody ? { body } : {}),
      });
    } catch {
      // the signer refuses some requests (an empty method reads as a response): send it unsigned
      signed = { 'signature-input': 'sig=()', signature: 'sig=:AAAA:' };
      sig.mutation = 'flip-signature';
    }
    let input = signed['signature-input']!;
    let signature = signed['signature']!;
    let digest = signed['content-digest'];
    switch (sig.mutation) {
      case 'flip-signature': {
        const i = signature.indexOf(':') + 5;
        signature = signature.slice(0, i) + (signature[i] === 'A' ? 'B' : 'A') + signature.slice(i + 1);
        break;
      }
      case 'truncate-signature': signature = `${signature.slice(0, signature.length - 12)}:`; break;
      case 'keyid': input = input.replace(/keyid="[^"]*"/, `keyid="${fingerprints.find((f) => f !== signers[sig.who].keyid)}"`); break;
      case 'created': input = input.replace(/created=(\d+)/, (_m, c: string) => `created=${Number(c) - 1}`); break;
      case 'nonce': input = input.replace(/nonce="[^"]*"/, 'nonce="AAAAAAAAAAAAAAAAAAAAAA"'); break;
      case 'alg': input = input.replace(/alg="[^"]*"/, sig.who === 'ec' ? 'alg="ed25519"' : 'alg="ecdsa-p256-sha256"'); break;
      case 'drop-target-uri': input = input.replace(' "@target-uri"', '').replace('"@target-uri"', ''); break;
      case 'drop-digest': input = input.replace(' "content-digest"', ''); break;
      case 'label': input = input.replace(/^sig=/, 'other='); break;
      case 'method': method = method === 'POST' ? 'GET' : 'POST'; break;
      case 'path': target = target.endsWith('x') ? `${target}y` : `${target}x`; break;
      case 'host': {
        const other = r.host === `127.0.0.1:${api.port}` ? `localhost:${api.port}` : `127.0.0.1:${api.port}`;
        if (r.host === null) headers.unshift(['Host', other]);
        else headers[0] = ['Host', other];
        break;
      }
      case 'body': body = body === undefined || body === '' ? '{}' : `${body} `; break;
      case 'digest': digest = 'sha-256=:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=:'; break;
      case 'content-type': extra = extra.map(([k, v]) => (k.toLowerCase() === 'content-type' ? [k, `${v};x=1`] : [k, v])); break;
      case 'second-signature': input = `${input}, b=("@method");keyid="x";created=1;nonce="AAAAAAAAAAAAAAAAAAAAAA"`; signature = `${signature}, b=:AAAA:`; break;
      case 'duplicate-signature-header': break; // below, after the neutral changes: the last member of a dictionary wins
      case 'none': break;
    }
    // without a body, content-digest and content-type are not covered: changing them changes nothing
    const inert = !withBody && (sig.mutation === 'digest' || sig.mutation === 'drop-digest' || sig.mutation === 'content-type');
    if (sig.mutation === 'none' || inert) signedBy = sig.who;
    for (const n of sig.neutral) {
      if (n === 'extra-header') extra.push(['X-Fuzz', 'neutral']);
      if (n === 'header-space') input = ` ${input} `;
    }
    headers.push(['Signature-Input', input], ['Signature', signature]);
    if (digest !== undefined) headers.push(['Content-Digest', digest]);
    if (sig.neutral.includes('header-case')) for (const h of headers) h[0] = h[0].toUpperCase();
    if (sig.neutral.includes('header-order')) headers.reverse();
    if (sig.mutation === 'duplicate-signature-header') headers.push(['Signature', 'sig=:AAAA:']);
  }
  // a Transfer-Encoding of our own choosing only with a chunked body we terminate: else the server rightly waits for the rest
  if (!(r.framing === 'chunked' && body !== undefined)) extra = extra.filter(([k]) => k.toLowerCase() !== 'transfer-encoding');
  headers.push(...extra);
  const payload = body === undefined ? Buffer.alloc(0) : Buffer.from(body, 'utf8');
  if (body !== undefined) {
    if (r.framing === 'length') headers.push(['Content-Length', String(payload.length)]);
    if (r.framing === 'short-length') headers.push(['Content-Length', String(Math.max(0, payload.length - 3))]);
    if (r.framing === 'chunked') headers.push(['Transfer-Encoding', 'chunked']);
  }
  const framed = r.framing === 'chunked' && body !== undefined
    ? Buffer.concat([Buffer.from(`${payload.length.toString(16)}\r\n`), payload, Buffer.from(payload.length > 0 ? '\r\n0\r\n\r\n' : '\r\n')])
    : payload;
  const head = `${method} ${target} HTTP/1.1\r\n${headers.map(([k, v]) => `${k}: ${v}\r\n`).join('')}\r\n`;
  return { bytes: Buffer.concat([Buffer.from(head, 'utf8'), framed]), signedBy };
}

const ROUTE_CALL = /^(hostname|machines|services|service|history|freeze|unfreeze|rollback|pull)\b/;
const WRITE_CALL = /^(freeze|unfreeze|rollback|pull)\b/;

/** Sends `r` from `from`, checks the property, and returns the answer and what it did. */
async function judge(r: Req, from: string): Promise<{ answer: RawAnswer; signedBy: Who | undefined; calls: string[]; bytes: Buffer }> {
  const { bytes, signedBy } = await build(r);
  const before = control.calls.length;
  const pullsBefore = control.pulls.length;
  const logsBefore = logs.length;
  const answer = await send(bytes, from, r.method === 'HEAD');
  // give a pull started by the answer (202 first, work after) no time to matter: calls are recorded synchronously
  const calls = control.calls.slice(before);
  const what = `${answer.status} ${answer.body.toString('utf8').slice(0, 300)}`;

  assert.ok(answer.status < 500, `a server error: ${what}`);
  // 304: `If-None-Match: *` on a GET is false for an existing resource (RFC 9110 §13.1.2); express answers so
  const notModified = answer.status === 304 && /^(GET|HEAD)$/.test(r.method) && r.headers.some(([k]) => /^if-/i.test(k));
  assert.ok(answer.status >= 400 || (answer.status >= 200 && answer.status < 300) || notModified, `unexpected status: ${what}`);
  if (answer.status < 400) assert.ok(signedBy !== undefined && KNOWN.includes(signedBy), `accepted without a valid signature of a listed key: ${what}`);
  if (r.method !== 'HEAD' && answer.status !== 204 && answer.status !== 304) {
    assert.match(answer.headers.get('content-type') ?? '', /^application\/json/, `not JSON: ${what}`);
    const json = JSON.parse(answer.body.toString('utf8')) as unknown;
    if (answer.status >= 400) {
      const e = json as { error?: { code?: unknown; message?: unknown } };
      assert.deepEqual(Object.keys(json as object), ['error'], what);
      assert.ok(typeof e.error?.code === 'string' && /^[A-Z_]+$/.test(e.error.code) && typeof e.error.message === 'string', what);
    }
  }
  if (answer.status === 429) {
    assert.match(answer.headers.get('retry-after') ?? '', /^[1-9]\d*$/, 'Retry-After on a 429');
    if (r.method !== 'HEAD') assert.equal(JSON.parse(answer.body.toString('utf8')).error.code, 'TOO_MANY_FAILURES');
  }
  if (calls.length > 0) assert.ok(signedBy !== undefined && KNOWN.includes(signedBy), `the agent was called (${calls.join('; ')}) for a request not validly signed by a listed key: ${what}`);
  assert.ok(calls.every((c) => ROUTE_CALL.test(c)), `unexpected calls ${calls.join('; ')}`);
  if (calls.some((c) => WRITE_CALL.test(c)) || control.pulls.length > pullsBefore) {
    assert.ok(signedBy !== undefined && WRITERS.includes(signedBy), `a write (${calls.join('; ')}) for a request not signed by a read-write key (${signedBy ?? 'unsigned or mutated'}): ${what}`);
  }
  const internal = logs.slice(logsBefore).filter((l) => l.level === 'error');
  assert.deepEqual(internal, [], `the server logged an error for ${what}`);
  return { answer, signedBy, calls, bytes };
}

// ------------------------------------------------------------------ generators

const SERVICES = ['grafana-server', 'prometheus', 'node-exporter@eth0'];
const SERVICE = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom(...SERVICES, 'nope') },
  { weight: 2, arbitrary: fc.stringMatching(/^[A-Za-z0-9:_.@-]{1,20}$/) },
  { weight: 3, arbitrary: fc.constantFrom('..', '.', '%2e%2e', '..%2f..%2fetc%2fpasswd', '%2e%2e%2f', '%00', '%', '%zz', '%ff%fe', '😀', '%F0%9F%98%80', 'a%2Fb', 'é', '%C3%A9',
    'x'.repeat(256), '%20', 'a;b', '\\', '%5c', '..\\..', '*', '$', '{', '%7b', '%25', '%252e') },
  { weight: 1, arbitrary: fc.string({ unit: 'binary', maxLength: 12 }) },
);
const HASH = fc.oneof(fc.constantFrom(COMMITS[1]!.slice(0, 8), COMMITS[2]!, 'zzzz', 'abc', '0'.repeat(41), 'ABCD'), fc.stringMatching(/^[0-9a-f]{4,40}$/));

/** A path of the route table filled with random parameters, or a path that is not one. */
const ROUTE_PATH = fc.oneof(
  fc.constantFrom('/list/machine', '/list/service', '/do/pull', '/', '/list', '/do', '/do/freeze', '/hook', '/hook', '/hook', '/metrics', '/healthz', '*', '/../../etc/passwd', '/list/machine/extra'),
  SERVICE.map((s) => `/list/service/${s}`),
  SERVICE.map((s) => `/list/history/${s}`),
  fc.tuple(fc.constantFrom('freeze', 'unfreeze', 'pull'), SERVICE).map(([op, s]) => `/do/${op}/${s}`),
  fc.tuple(SERVICE, HASH).map(([s, h]) => `/do/rollback/${s}/${h}`),
);
/** Request targets: route paths dressed up (case, slashes, dot segments, queries, fragments), absolute form, very long, anything. */
const TARGET = fc.oneof(
  { weight: 6, arbitrary: fc.tuple(ROUTE_PATH, fc.constantFrom('', '', '', '/', '?', '?x=1&y', '?%zz', '#frag', '//', '/.', '/..', '%2F', ';x'), fc.constantFrom('', '', '', '/', '//', '/./', '/%2e/'), fc.boolean())
    .map(([p, suffix, prefix, upper]) => `${prefix === '' || !p.startsWith('/') ? p : prefix + p.slice(1)}${suffix}`.replace(/^\/list/, upper ? '/LIST' : '/list')) },
  { weight: 1, arbitrary: ROUTE_PATH.map((p) => `http://127.0.0.1:${api.port}${p}`) },
  { weight: 1, arbitrary: fc.constantFrom(300, 4000, 5000, 20_000).map((n) => `/list/service/${'a'.repeat(n)}`) },
  { weight: 1, arbitrary: fc.string({ unit: 'binary', maxLength: 40 }) },
);
const METHOD = fc.oneof(
  { weight: 8, arbitrary: fc.constantFrom('GET', 'POST', 'HEAD', 'OPTIONS') },
  { weight: 2, arbitrary: fc.constantFrom('PUT', 'DELETE', 'PATCH', 'TRACE', 'CONNECT', 'PROPFIND', 'SEARCH', 'QUERY', 'get', 'Post', 'FOO', '', 'GET POST', 'G\tET') },
  { weight: 1, arbitrary: fc.stringMatching(/^[A-Z-]{1,10}$/) },
);
const HOST = fc.oneof({ weight: 6, arbitrary: fc.constant('OURS') }, { weight: 1, arbitrary: fc.constantFrom(null, '', 'limos', 'evil.example', 'localhost', `[::1]:1`, 'a b', '127.0.0.1:1:2', '😀') });
const HEADER = fc.oneof(
  { weight: 6, arbitrary: fc.constantFrom<[string, string]>(
    ['Content-Type', 'application/json'], ['Content-Type', 'text/plain'], ['Content-Type', 'application/json; charset=utf-16'], ['Content-Type', 'application/json; charset=koi8-r'],
    ['Content-Type', 'application/x-www-form-urlencoded'], ['Content-Type', ''], ['Content-Encoding', 'gzip'], ['Content-Encoding', 'deflate'], ['Content-Encoding', 'br'],
    ['Content-Encoding', 'x-unknown'], ['Expect', '100-continue'], ['Expect', 'foo'], ['Connection', 'keep-alive'], ['Connection', 'upgrade'], ['Upgrade', 'websocket'],
    ['Transfer-Encoding', 'chunked'], ['Transfer-Encoding', 'gzip, chunked'], ['Transfer-Encoding', 'identity'], ['Content-Length', '-1'], ['Content-Length', 'abc'],
    ['Content-Length', '0'], ['Content-Length', '99999999999999999999'], ['X-Forwarded-For', '10.0.0.1'], ['Host', 'evil.example'], ['Signature', 'sig=:AAAA:'],
    ['Signature-Input', 'sig=();created=1'], ['Content-Digest', 'sha-256=:AAAA:'], ['Accept', '*/*'], ['Authorization', 'Bearer x'], ['X-Hub-Signature-256', 'sha256=00'],
    ['X-GitHub-Event', 'push'], ['Cookie', 'a=b'], ['Range', 'bytes=0-1'], ['If-None-Match', '*']) },
  { weight: 2, arbitrary: fc.tuple(fc.stringMatching(/^[A-Za-z0-9!#$%&'*+.^_`|~-]{1,20}$/), fc.string({ unit: 'grapheme-ascii', maxLength: 40 })) },
  { weight: 1, arbitrary: fc.tuple(fc.string({ unit: 'binary', maxLength: 10 }), fc.string({ unit: 'binary', maxLength: 20 })) },
  { weight: 1, arbitrary: fc.constantFrom(1000, 10_000, 20_000).map((n): [string, string] => ['X-Long', 'a'.repeat(n)]) },
  { weight: 1, arbitrary: fc.tuple(fc.constantFrom('Signature', 'Signature-Input', 'Content-Digest', 'Content-Type', 'Host'), fc.string({ unit: 'grapheme-ascii', maxLength: 60 })) },
);
const BODY = fc.oneof(
  { weight: 4, arbitrary: fc.constant(undefined) },
  { weight: 3, arbitrary: fc.constantFrom('', '{}', '{"reason":"fuzz"}', '{"reason": 42}', '{"reason":"x","y":1}', '[1,2]', '"s"', 'null', '{"reason": ', '\u0000', '{"__proto__":{"x":1}}', '{"constructor":{}}') },
  { weight: 2, arbitrary: fc.json({ maxDepth: 3 }) },
  { weight: 1, arbitrary: fc.string({ unit: 'binary', maxLength: 100 }) },
  { weight: 1, arbitrary: fc.constantFrom(16_000, 17_000, 100_000).map((n) => JSON.stringify({ reason: 'x'.repeat(n) })) },
);
const FRAMING = fc.oneof({ weight: 12, arbitrary: fc.constant<Framing>('length') }, { weight: 3, arbitrary: fc.constant<Framing>('chunked') }, { weight: 1, arbitrary: fc.constantFrom<Framing>('short-length', 'unframed') });
const NUMBERISH = fc.oneof(fc.constant(Math.floor(Date.now() / 1000)), fc.integer(), fc.constantFrom('1.5', '-0', '99999999999999999999', '"1"', '?1', ''));
const RANDOM_SIG = fc.oneof(
  fc.record({ kind: fc.constant('random' as const), input: fc.string({ maxLength: 80 }), signature: fc.string({ maxLength: 80 }), digest: fc.option(fc.string({ maxLength: 40 }), { nil: undefined }) }),
  fc.record({
    kind: fc.constant('random' as const),
    input: fc.tuple(fc.constantFrom('sig', 'a', '1', 'SIG'), fc.subarray(['"@method"', '"@target-uri"', '"content-digest"', '"@authority"', '"x"', '"@method";req'], { maxLength: 4 }),
      fc.oneof(fc.constantFrom(...fingerprints), fc.string({ maxLength: 50 })), NUMBERISH, fc.oneof(fc.constant('AAAAAAAAAAAAAAAAAAAAAA'), fc.string({ maxLength: 140 })),
      fc.constantFrom('ed25519', 'rsa-v1_5-sha256', 'hmac-sha256', 'none', ''))
      .map(([label, comps, kid, created, nonce, alg]) => `${label}=(${comps.join(' ')});keyid="${kid}";created=${String(created)};nonce="${nonce}";alg="${alg}"`),
    signature: fc.tuple(fc.constantFrom('sig', 'a', 'SIG'), fc.base64String({ maxLength: 100 })).map(([l, b]) => `${l}=:${b}:`),
    digest: fc.option(fc.base64String({ maxLength: 60 }).map((b) => `sha-256=:${b}:`), { nil: undefined }),
  }),
);
const NEUTRAL = fc.subarray<Neutral>(['header-case', 'extra-header', 'header-space', 'header-order']);
const SIG: fc.Arbitrary<Sig> = fc.oneof(
  { weight: 2, arbitrary: fc.constant({ kind: 'none' as const }) },
  { weight: 3, arbitrary: RANDOM_SIG },
  { weight: 5, arbitrary: fc.record({ kind: fc.constant('signed' as const), who: fc.constantFrom<Who>('rw', 'ec', 'ro', 'stranger'), mutation: fc.oneof({ weight: 1, arbitrary: fc.constant<Mutation>('none') }, { weight: 3, arbitrary: fc.constantFrom(...MUTATIONS) }), neutral: NEUTRAL }) },
);
/** Any request; a signed one has its body framed (else what the server reads is not what was signed, and "valid" is moot). */
const HOSTILE: fc.Arbitrary<Req> = fc
  .record({ method: METHOD, target: TARGET, host: HOST, headers: fc.array(HEADER, { maxLength: 4 }), body: BODY, framing: FRAMING, sig: SIG })
  .map((r) => (r.sig.kind === 'signed' && (r.framing === 'short-length' || r.framing === 'unframed') ? { ...r, framing: 'length' as const } : r));

/**
 * Hostile requests come from 127.0.1.x, a new x every 100 requests, so the failure limit trips now
 * and then; those signed by a listed key and left unchanged (whose success would clear their
 * address's failures), and the well-formed signed ones, each from a fresh address.
 */
let hostile = 0;
const pooledAddress = () => `127.0.1.${(Math.floor(hostile++ / 100) % 250) + 1}`;
let fresh = 0;
const freshAddress = () => `127.2.${Math.floor(++fresh / 250)}.${(fresh % 250) + 1}`;
const ours = (r: Req): Req => (r.host === 'OURS' ? { ...r, host: `127.0.0.1:${api.port}` } : r);

// ------------------------------------------------------------------ tests

test('fuzz: hostile requests answer 4xx JSON (2xx only when validly signed), never 5xx; the agent acts only for listed keys', async () => {
  const statuses = new Map<number, number>();
  await fc.assert(
    fc.asyncProperty(HOSTILE, async (r) => {
      const valid = r.sig.kind === 'signed' && r.sig.mutation === 'none' && KNOWN.includes(r.sig.who);
      const { answer } = await judge(ours(r), valid ? freshAddress() : pooledAddress());
      statuses.set(answer.status, (statuses.get(answer.status) ?? 0) + 1);
    }),
    params(1200),
  );
  console.log(`fuzz-api: hostile requests by status: ${JSON.stringify(Object.fromEntries([...statuses].sort((a, b) => a[0] - b[0])))}`);
  assert.ok((statuses.get(429) ?? 0) > 0, 'the failure limit tripped for some pool address');
  assert.ok((statuses.get(401) ?? 0) > 0);
});

/** A well-formed request of the route table, validly signed (changed only in ways that keep it valid). */
const CLEAN: fc.Arbitrary<{ r: Req; write: boolean; named: boolean; service: string }> = fc
  .tuple(
    fc.constantFrom('machine', 'services', 'service', 'history', 'freeze', 'unfreeze', 'rollback', 'pull', 'pull-one'),
    fc.constantFrom(...SERVICES, 'nope'),
    fc.constantFrom(COMMITS[1]!.slice(0, 8), COMMITS[2]!, 'abcd'),
    fc.constantFrom<Who>('rw', 'ec', 'ro'),
    NEUTRAL,
    fc.oneof(fc.constant(undefined), fc.constantFrom('{}', '{"reason":"fuzz"}', '{"reason":"ü 😀"}')),
  )
  .map(([op, service, hash, who, neutral, body]) => {
    const route: Record<string, [string, string]> = {
      machine: ['GET', '/list/machine'], services: ['GET', '/list/service'], service: ['GET', `/list/service/${service}`], history: ['GET', `/list/history/${service}`],
      freeze: ['POST', `/do/freeze/${service}`], unfreeze: ['POST', `/do/unfreeze/${service}`], rollback: ['POST', `/do/rollback/${service}/${hash}`], pull: ['POST', '/do/pull'],
      'pull-one': ['POST', `/do/pull/${service}`],
    };
    const [method, target] = route[op]!;
    const r: Req = { method, target, host: 'OURS', headers: [], body: method === 'POST' ? body : undefined, framing: 'length', sig: { kind: 'signed', who, mutation: 'none', neutral } };
    return { r, write: method === 'POST', named: target.includes(`/${service}`), service };
  });

test('fuzz: well-formed requests validly signed by a listed key are served (never 401/429/5xx); writes only for read-write keys', async () => {
  const statuses = new Map<number, number>();
  await fc.assert(
    fc.asyncProperty(CLEAN, fc.boolean(), async ({ r: raw, write, named, service }, replay) => {
      const r = ours(raw);
      const who = (r.sig as { who: Who }).who;
      const from = freshAddress();
      const { answer, calls, bytes } = await judge(r, from);
      statuses.set(answer.status, (statuses.get(answer.status) ?? 0) + 1);
      const code = answer.status >= 400 ? (JSON.parse(answer.body.toString('utf8')) as { error: { code: string } }).error.code : '';
      assert.ok(![401, 429].includes(answer.status), `a valid signature refused: ${answer.status} ${code}`);
      if (write && who === 'ro') assert.deepEqual([answer.status, code, calls], [403, 'READ_ONLY_KEY', []]);
      else if (named && service === 'nope') assert.equal(answer.status, 404, code);
      else assert.ok([200, 202, 409].includes(answer.status), `${answer.status} ${code}`);
      if (replay) {
        // the same bytes again: a replay, refused before the agent hears of it
        const before = control.calls.length;
        const again = await send(bytes, from, false);
        assert.deepEqual([again.status, JSON.parse(again.body.toString('utf8')).error.code], [401, 'REPLAYED_NONCE']);
        assert.equal(control.calls.length, before);
      }
    }),
    params(400),
  );
  console.log(`fuzz-api: well-formed signed requests by status: ${JSON.stringify(Object.fromEntries(statuses))}`);
});

test('after the fuzz: the server still serves, logged no internal error, and said once per address when it limited one', async () => {
  const { answer } = await judge({ method: 'GET', target: '/list/service', host: `127.0.0.1:${api.port}`, headers: [], body: undefined, framing: 'length', sig: { kind: 'signed', who: 'ro', mutation: 'none', neutral: [] } }, freshAddress());
  assert.equal(answer.status, 200);
  assert.deepEqual(logs.filter((l) => l.level === 'error'), []);
  const limited = logs.filter((l) => l.msg === 'too many failed authentications: address limited').map((l) => l.remote);
  assert.equal(new Set(limited).size, limited.length, `one line per address per window: ${limited.join(', ')}`);
  assert.ok(limited.every((a) => String(a).startsWith('127.0.1.')), 'only addresses of hostile requests got limited');
});

test('found by fuzzing: a body that does not decode as its Content-Encoding is 400, not 500 (webhook: without any key); OPTIONS /hook is 401', async () => {
  const host = `127.0.0.1:${api.port}`;
  const undecodable = await judge({ method: 'POST', target: '/do/pull', host, headers: [['Content-Encoding', 'deflate']], body: '\u0000', framing: 'length', sig: { kind: 'signed', who: 'rw', mutation: 'none', neutral: [] } }, freshAddress());
  assert.equal(undecodable.answer.status, 400);
  assert.match(undecodable.answer.body.toString(), /"code":"BAD_REQUEST","message":"the body does not decode as its Content-Encoding says: /);
  assert.deepEqual(undecodable.calls, []);
  for (const encoding of ['gzip', 'deflate', 'br']) {
    const hook = await judge({ method: 'POST', target: '/hook', host, headers: [['Content-Encoding', encoding], ['X-GitHub-Event', 'push']], body: '{"ref":"refs/heads/main"}', framing: 'length', sig: { kind: 'none' } }, freshAddress());
    assert.equal(hook.answer.status, 400, encoding);
  }
  const options = await judge({ method: 'OPTIONS', target: '/hook', host, headers: [], body: undefined, framing: 'length', sig: { kind: 'none' } }, freshAddress());
  assert.equal(options.answer.status, 401);
});
