/**
 * Only the right keys get in: the API server (`startApiServer`, plain HTTP on loopback here;
 * TLS in auth-tls.test.ts) over a FakeControl, asked by the built `gitopperctl` with ed25519,
 * ECDSA and RSA key files, a passphrase-protected key, and a real ssh-agent. Attacks replay,
 * tamper with or forge what the real client sent (captured on the wire) or sign with gitopperctl's
 * own signing code and one part left out or changed.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { connect, createServer, type AddressInfo } from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import hms from 'http-message-signatures';
import { ROUTES } from '../src/http/routes.js';
import { FakeControl } from './fakes/control.js';
import { apiServerPerFile, recordingLog } from './fakes/api.js';
import { keyDir, keyFile, makeKey, signedFetch, signerOf, type TestKey } from './fakes/keys.js';

const exec = promisify(execFile);
const bin = fileURLToPath(new URL('../cmd/gitopperctl.js', import.meta.url));
const dir = keyDir('gitopper-auth-');
const ed = makeKey(dir, 'ed', 'ed25519', { comment: 'miek@limos' });
const ec = makeKey(dir, 'ec', 'ecdsa', { bits: 256 });
const rsa = makeKey(dir, 'rsa', 'rsa', { bits: 2048 });
const locked = makeKey(dir, 'locked', 'ed25519', { passphrase: 'correct horse' });
const ro = makeKey(dir, 'ro', 'ed25519', { comment: 'ci@build' });
const stranger = makeKey(dir, 'stranger', 'ed25519');
const short = makeKey(dir, 'short', 'rsa', { bits: 1024 });
// several keys in one file, comments and blank lines; one short RSA key that is refused at load
const rwFile = keyFile(dir, 'operators.pub', [ed, ec, rsa, locked, short]);
writeFileSync(rwFile, `# operators\n\n${readFileSync(rwFile, 'utf8')}`);
const roFile = keyFile(dir, 'ci.pub', [ro]);

const { lines: logs, log } = recordingLog();
const control = new FakeControl();
const api = apiServerPerFile(control, dir, [{ path: rwFile, ro: false }, { path: roFile, ro: true }], log);

/** The built gitopperctl with `env` (no ssh-agent, no passphrase unless given); never rejects. */
async function ctl(args: string[], env: Record<string, string> = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await exec(process.execPath, [bin, ...args], { env: { PATH: process.env.PATH ?? '', HOME: dir, ...env } });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

const reset = (name: string) => control.svc.set(name, { ...control.svc.get(name)!, state: 'OK', info: '', by: undefined });
const failures = (code: string) => logs.filter((l) => l.msg === 'authentication failed' && l.code === code);

test('the key ring: several keys per file, comments skipped, a short RSA key refused with a reason', () => {
  const loaded = logs.find((l) => l.msg === 'keys loaded')!.keys as { fingerprint: string; ro: boolean }[];
  assert.deepEqual(loaded.map((k) => [k.fingerprint, k.ro]), [ed, ec, rsa, locked, ro].map((k) => [k.fingerprint, k === ro]));
  assert.ok(logs.some((l) => l.msg === 'key refused' && l.file === rwFile && /RSA key of 1024 bits is too short/.test(String(l.problem))));
});

for (const [name, key] of [['ed25519', ed], ['ECDSA P-256', ec], ['RSA 2048', rsa]] as const) {
  test(`-i with an ${name} key file: reads and writes pass, the write is recorded as "<fingerprint> <comment>"`, async () => {
    reset('grafana-server');
    const list = await ctl(['-i', key.file, 'list', 'machines', `@${api.base}`]);
    assert.equal(list.code, 0, list.stderr);
    assert.match(list.stdout, /grafana\.example\.org\s+limos/);
    const frozen = await ctl(['-i', key.file, 'do', 'freeze', `@${api.base}`, 'grafana-server', '--reason', `by ${name}`]);
    assert.equal(frozen.code, 0, frozen.stderr);
    assert.equal(control.svc.get('grafana-server')!.by, key.by);
    assert.ok(logs.some((l) => l.msg === 'write' && l.by === key.by && l.path === '/do/freeze/grafana-server' && l.status === 200), 'the write is logged with who');
  });
}

test('RSA with rsa-pss-sha512 passes too (gitopperctl\'s signer, 64-byte salt)', async () => {
  const res = await signedFetch(signerOf(rsa, 'rsa-pss-sha512'))(`${api.base}/list/service`);
  assert.equal(res.status, 200, await res.text());
});

test('a passphrase-protected key: GITOPPER_KEY_PASSPHRASE opens it; none or a wrong one exits 1 and sends nothing', async () => {
  const ok = await ctl(['-i', locked.file, 'list', 'machines', `@${api.base}`], { GITOPPER_KEY_PASSPHRASE: 'correct horse' });
  assert.equal(ok.code, 0, ok.stderr);
  const before = control.calls.length;
  const none = await ctl(['-i', locked.file, 'list', 'machines', `@${api.base}`]);
  assert.equal(none.code, 1);
  assert.match(none.stderr, /is protected by a passphrase: run on a terminal to be asked, set GITOPPER_KEY_PASSPHRASE, or add the key to ssh-agent/);
  const wrong = await ctl(['-i', locked.file, 'list', 'machines', `@${api.base}`], { GITOPPER_KEY_PASSPHRASE: 'wrong' });
  assert.equal(wrong.code, 1);
  assert.match(wrong.stderr, /wrong passphrase/);
  assert.equal(control.calls.length, before);
});

/** A real ssh-agent holding `keys` (in order); stopped by the returned function. */
async function startAgent(name: string, keys: readonly TestKey[]): Promise<{ sock: string; stop: () => void }> {
  const sock = path.join(dir, `${name}.agent`);
  const child: ChildProcess = spawn('ssh-agent', ['-D', '-a', sock], { stdio: 'ignore' });
  for (let i = 0; i < 200 && !existsSync(sock); i++) await new Promise((r) => setTimeout(r, 10));
  for (const k of keys) execFileSync('ssh-add', ['-q', k.file], { env: { ...process.env, SSH_AUTH_SOCK: sock }, stdio: 'ignore' });
  return { sock, stop: () => child.kill() };
}

test('without -i, gitopperctl signs through ssh-agent: ed25519, ECDSA and RSA identities; an unknown first identity is skipped', async (t) => {
  for (const [name, keys, who] of [['ed', [stranger, ed], ed], ['ec', [ec], ec], ['rsa', [rsa], rsa]] as const) {
    const agent = await startAgent(name, keys);
    t.after(agent.stop);
    reset('prometheus');
    const r = await ctl(['do', 'freeze', `@${api.base}`, 'prometheus'], { SSH_AUTH_SOCK: agent.sock });
    assert.equal(r.code, 0, `${name}: ${r.stderr}`);
    assert.equal(control.svc.get('prometheus')!.by, who.by, `${name}: recorded as the agent's key`);
  }
  const empty = await startAgent('empty', []);
  t.after(empty.stop);
  const none = await ctl(['list', 'machines', `@${api.base}`], { SSH_AUTH_SOCK: empty.sock });
  assert.equal(none.code, 1);
  assert.match(none.stderr, /ssh-agent holds no ed25519, ecdsa .* key: add one with ssh-add/);
});

test('an unknown key: 401 UNKNOWN_KEY with a reason, logged with its fingerprint and the remote address, never the signature', async () => {
  const r = await ctl(['-i', stranger.file, 'list', 'service', `@${api.base}`]);
  assert.equal(r.code, 1);
  assert.equal(r.stderr, `gitopperctl: key ${stranger.fingerprint} is not in [global].keys of this agent (HTTP 401 UNKNOWN_KEY)\n`);
  const line = failures('UNKNOWN_KEY').at(-1)!;
  assert.equal(line.fingerprint, stranger.fingerprint);
  assert.equal(line.remote, '127.0.0.1');
  assert.ok(!JSON.stringify(logs).includes('sig=:'), 'no signature in any log line');
});

test('read-only keys: reads pass; every write route of the table answers 403 and changes nothing', async () => {
  const list = await ctl(['-i', ro.file, 'list', 'service', `@${api.base}`]);
  assert.equal(list.code, 0, list.stderr);
  const byCtl = await ctl(['-i', ro.file, 'do', 'freeze', `@${api.base}`, 'grafana-server']);
  assert.equal(byCtl.code, 1);
  assert.match(byCtl.stderr, /is read-only \(ro = true in \[global\]\.keys\).*\(HTTP 403 READ_ONLY_KEY\)/);
  const calls = control.calls.length;
  const fetchRo = signedFetch(signerOf(ro));
  const writes = ROUTES.filter((r) => r.write);
  assert.equal(writes.length, 5);
  for (const row of writes) {
    const p = row.path.replace(':service', 'grafana-server').replace(':hash', '8df1b3db');
    const res = await fetchRo(`${api.base}${p}`, { method: row.method, headers: { 'content-type': 'application/json' }, body: '{}' });
    assert.equal(res.status, 403, `${row.method} ${row.path}`);
    assert.equal(((await res.json()) as { error: { code: string } }).error.code, 'READ_ONLY_KEY');
  }
  for (const row of ROUTES.filter((r) => !r.write)) {
    const res = await fetchRo(`${api.base}${row.path.replace(':service', 'grafana-server')}`);
    assert.equal(res.status, 200, `${row.method} ${row.path}`);
  }
  assert.deepEqual(control.calls.slice(calls).filter((c) => /^(freeze|unfreeze|rollback|pull)/.test(c)), [], 'no write reached the agent');
});

/** A TCP relay to the API that records each request's bytes; with `forward` false it answers 502 itself. */
async function wiretap(forward: boolean) {
  const captured: Buffer[] = [];
  const tap = createServer((client) => {
    const chunks: Buffer[] = [];
    if (forward) {
      const upstream = connect(api.port, '127.0.0.1');
      client.on('data', (c) => chunks.push(c)).pipe(upstream).pipe(client);
      client.on('end', () => captured.push(Buffer.concat(chunks)));
      client.on('close', () => upstream.destroy());
    } else {
      client.on('data', (c) => {
        chunks.push(c);
        const all = Buffer.concat(chunks);
        const head = all.indexOf('\r\n\r\n');
        const len = Number(/content-length: (\d+)/i.exec(all.toString('latin1'))?.[1] ?? 0);
        if (head >= 0 && all.length >= head + 4 + len) {
          captured.push(all);
          client.end('HTTP/1.1 502 Bad Gateway\r\ncontent-length: 0\r\nconnection: close\r\n\r\n');
        }
      });
    }
  });
  await new Promise<void>((resolve) => tap.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${(tap.address() as AddressInfo).port}`, captured, close: () => tap.close() };
}

/** Sends raw request bytes to the API; resolves with the status and the error code. */
function sendRaw(bytes: Buffer): Promise<{ status: number; code: string | undefined }> {
  return new Promise((resolve, reject) => {
    const s = connect(api.port, '127.0.0.1', () => s.write(bytes));
    const chunks: Buffer[] = [];
    s.on('data', (c) => {
      chunks.push(c);
      const text = Buffer.concat(chunks).toString('utf8');
      const head = text.indexOf('\r\n\r\n');
      const len = Number(/content-length: (\d+)/i.exec(text)?.[1] ?? -1);
      if (head >= 0 && len >= 0 && Buffer.byteLength(text) >= head + 4 + len) {
        s.destroy();
        const status = Number(text.split(' ')[1]);
        const body = text.slice(head + 4);
        resolve({ status, code: body ? (JSON.parse(body) as { error?: { code: string } }).error?.code : undefined });
      }
    });
    s.on('error', reject);
  });
}

const edit = (b: Buffer, from: string, to: string) => Buffer.from(b.toString('latin1').replace(from, to), 'latin1');

test('attacks on a captured request of the real client: replay, other path, other host, changed signature, body, missing signature', async () => {
  // a request that went through: replaying its bytes within the window is refused
  const relay = await wiretap(true);
  reset('grafana-server');
  const ok = await ctl(['-i', ed.file, 'do', 'freeze', `@${relay.url}`, 'grafana-server', '--reason', 'maintenance']);
  assert.equal(ok.code, 0, ok.stderr);
  relay.close();
  const sent = relay.captured[0]!;
  reset('grafana-server');
  assert.deepEqual(await sendRaw(sent), { status: 401, code: 'REPLAYED_NONCE' });
  assert.equal(control.svc.get('grafana-server')!.state, 'OK', 'the replay changed nothing');

  // held back by a man in the middle (never delivered): changed on the way
  const mitm = await wiretap(false);
  const held = await ctl(['-i', ed.file, 'do', 'freeze', `@${mitm.url}`, 'grafana-server', '--reason', 'maintenance']);
  assert.equal(held.code, 1, 'the intercepting relay answered 502');
  mitm.close();
  const [req] = mitm.captured as [Buffer];
  assert.deepEqual(await sendRaw(edit(req, '/do/freeze/grafana-server', '/do/freeze/prometheus')), { status: 401, code: 'BAD_SIGNATURE' }, 'another path');
  assert.deepEqual(await sendRaw(edit(req, `host: 127.0.0.1:${new URL(mitm.url).port}`, 'host: web2.example.org:2222')), { status: 401, code: 'WRONG_HOST' }, 'relayed to another agent');
  assert.deepEqual(await sendRaw(edit(req, 'sig=:', 'sig=:AAAA')), { status: 401, code: 'BAD_SIGNATURE' }, 'changed signature');
  assert.deepEqual(await sendRaw(edit(req, 'signature: ', 'x-signature: ')), { status: 401, code: 'MISSING_SIGNATURE' }, 'signature removed');
  assert.deepEqual(await sendRaw(edit(req, '"reason":"maintenance"', '"reason":"maintenanXe"')), { status: 401, code: 'BAD_DIGEST' }, 'body changed, digest kept');
  assert.deepEqual(await sendRaw(req), { status: 401, code: 'REPLAYED_NONCE' }, 'the nonce was used by the changed-body attempt');
  assert.equal(control.svc.get('grafana-server')!.state, 'OK', 'no attack froze anything');
});

test('signatures made by gitopperctl\'s signer with a part left out or changed are refused, each with its code', async () => {
  const now = Date.now();
  const cases: [string, ReturnType<typeof signedFetch>, string][] = [
    ['created 2 minutes ago', signedFetch(signerOf(ed), { created: new Date(now - 120_000) }), 'STALE_SIGNATURE'],
    ['created 2 minutes ahead', signedFetch(signerOf(ed), { created: new Date(now + 120_000) }), 'STALE_SIGNATURE'],
    ['no @target-uri', signedFetch(signerOf(ed), { components: ['@method'] }), 'MISSING_COMPONENT'],
    ['a body without content-digest', signedFetch(signerOf(ed), { components: ['@method', '@target-uri'] }), 'MISSING_COMPONENT'],
    ['a short nonce', signedFetch(signerOf(ed), { nonce: 'abc' }), 'MALFORMED_SIGNATURE'],
    ['alg of another key type', signedFetch({ ...signerOf(ed), alg: 'rsa-pss-sha512' }), 'UNSUPPORTED_ALGORITHM'],
    ['signed by another key under this keyid', signedFetch({ ...signerOf(stranger), keyid: ed.fingerprint }), 'BAD_SIGNATURE'],
  ];
  for (const [what, f, code] of cases) {
    const res = await f(`${api.base}/do/freeze/grafana-server`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"reason":"x"}' });
    const body = (await res.json()) as { error: { code: string; message: string } };
    assert.equal(res.status, 401, what);
    assert.equal(body.error.code, code, `${what}: ${body.error.message}`);
  }
  // a signature without a nonce (made with the library directly)
  const signer = signerOf(ed);
  const url = `${api.base}/list/service`;
  const signed = await hms.httpbis.signMessage({ key: { id: signer.keyid, alg: signer.alg, sign: signer.sign }, fields: ['@method', '@target-uri'], params: ['keyid', 'alg', 'created'] }, { method: 'GET', url, headers: {} });
  const res = await fetch(url, { headers: signed.headers as Record<string, string> });
  assert.equal(res.status, 401);
  assert.equal(((await res.json()) as { error: { code: string } }).error.code, 'MISSING_PARAMETER');
  const unsigned = await fetch(url);
  assert.equal(unsigned.status, 401);
  assert.equal(failures('STALE_SIGNATURE').length >= 2, true, 'refusals are logged');
});
