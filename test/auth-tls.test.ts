/**
 * Transport security of the API: the self-signed certificate made once and kept (key 0600), the
 * operator's certificate, gitopperctl's pinning on first use in known_hosts and its refusal of a
 * changed certificate, `--ca`, and plain HTTP only on loopback.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { generate } from 'selfsigned';
import { FlagError, parseDaemonFlags } from '../src/daemon/flags.js';
import { fixedKeys } from '../src/http/keyring.js';
import { ownNames, startApiServer } from '../src/http/server.js';
import { certFingerprint, selfSigned } from '../src/http/tls.js';
import { FakeControl } from './fakes/control.js';
import { keyDir, keyFile, makeKey } from './fakes/keys.js';

const exec = promisify(execFile);
const bin = fileURLToPath(new URL('../cmd/gitopperctl.js', import.meta.url));
const dir = keyDir('gitopper-tls-');
const key = makeKey(dir, 'op', 'ed25519');
const keys = fixedKeys([{ path: keyFile(dir, 'authorized_keys', [key]), ro: false }]);

type Line = Record<string, unknown> & { msg: string };

const open = new Set<Server>();
after(() => Promise.all([...open].map((s) => new Promise<void>((resolve) => s.close(() => resolve())))));

/** startApiServer over a FakeControl; its logs, port, and a close function (servers left open are closed after the tests). */
async function serve(opts: { stateDir: string; port?: number; tlsCert?: string; tlsKey?: string }) {
  const logs: Line[] = [];
  const push = (d: Record<string, unknown>, msg: string) => void logs.push({ ...d, msg });
  const server: Server = await startApiServer(new FakeControl(), {
    addr: `127.0.0.1:${opts.port ?? 0}`,
    insecureHttp: false,
    hosts: ['limos'],
    keys,
    log: { info: push, warn: push, error: push },
    ...opts,
  });
  open.add(server);
  const port = (server.address() as AddressInfo).port;
  const close = () => new Promise<void>((resolve) => server.close(() => resolve(void open.delete(server))));
  return { logs, port, close, cert: logs.find((l) => l.msg.startsWith('API TLS certificate'))! };
}

async function ctl(args: string[], home: string): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await exec(process.execPath, [bin, '-i', key.file, ...args], { env: { PATH: process.env.PATH ?? '', HOME: home } });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

test('HTTPS by default: a self-signed certificate made once under --state-dir (key 0600), kept across restarts, fingerprint logged', async () => {
  const stateDir = path.join(dir, 'state-a');
  const a = await serve({ stateDir });
  await a.close();
  assert.equal(a.cert.origin, 'created');
  const keyMode = statSync(path.join(stateDir, 'tls', 'api.key')).mode & 0o777;
  assert.equal(keyMode, 0o600);
  assert.equal(a.cert.fingerprint, certFingerprint(readFileSync(path.join(stateDir, 'tls', 'api.crt'), 'utf8')));
  assert.match(String(a.cert.fingerprint), /^([0-9A-F]{2}:){31}[0-9A-F]{2}$/);
  assert.deepEqual(a.logs.find((l) => l.msg === 'listening')?.scheme, 'https');
  const b = await serve({ stateDir });
  await b.close();
  assert.equal(b.cert.origin, 'kept');
  assert.equal(b.cert.fingerprint, a.cert.fingerprint, 'the same certificate after a restart');
});

test('gitopperctl pins on first use in ~/.config/gitopper/known_hosts, and refuses a changed certificate saying how to accept it', async () => {
  const home = path.join(dir, 'home-pin');
  const a = await serve({ stateDir: path.join(dir, 'state-pin-a') });
  const at = `@127.0.0.1:${a.port}`;
  const first = await ctl(['list', 'machines', at], home);
  assert.equal(first.code, 0, first.stderr);
  const known = path.join(home, '.config', 'gitopper', 'known_hosts');
  assert.equal(first.stderr, `gitopperctl: 127.0.0.1:${a.port}: first connection, certificate SHA-256 ${a.cert.fingerprint} pinned in ${known}\n`);
  assert.equal(readFileSync(known, 'utf8'), `127.0.0.1:${a.port} ${a.cert.fingerprint}\n`);
  assert.equal(statSync(known).mode & 0o777, 0o600);
  const again = await ctl(['list', 'machines', at], home);
  assert.deepEqual([again.code, again.stderr], [0, ''], 'pinned: no notice');
  await a.close();

  // another certificate on the same address: refused before the request is sent
  const b = await serve({ stateDir: path.join(dir, 'state-pin-b'), port: a.port });
  const changed = await ctl(['do', 'pull', at], home);
  assert.equal(changed.code, 1);
  assert.match(changed.stderr, new RegExp(`the TLS certificate of 127\\.0\\.0\\.1:${a.port} has changed: .* pins ${a.cert.fingerprint}, the agent now shows ${b.cert.fingerprint}`));
  assert.ok(changed.stderr.includes(`To accept the new one, run \`gitopperctl forget @127.0.0.1:${a.port}\` (it removes line 1 of ${known}) and run the command again.`), changed.stderr);
  assert.equal(b.logs.some((l) => l.msg === 'authentication failed' || l.msg === 'write'), false, 'nothing reached the agent');
  // the remedy the message names: forget, then the next connection pins the new certificate
  const forgot = await exec(process.execPath, [bin, 'forget', at], { env: { PATH: process.env.PATH ?? '', HOME: home } });
  assert.equal(forgot.stdout, `forgot 127.0.0.1:${a.port}: certificate SHA-256 ${a.cert.fingerprint} (line 1 of ${known})\n`);
  assert.equal(readFileSync(known, 'utf8'), '');
  const accepted = await ctl(['list', 'machines', at], home);
  assert.equal(accepted.code, 0, accepted.stderr);
  assert.match(accepted.stderr, new RegExp(`certificate SHA-256 ${b.cert.fingerprint} pinned in`));
  assert.equal(readFileSync(known, 'utf8'), `127.0.0.1:${a.port} ${b.cert.fingerprint}\n`);
  await b.close();
});

test('--tls-cert/--tls-key serve the operator\'s certificate; gitopperctl --ca verifies it (no pinning) and refuses another CA\'s', async () => {
  const ca = await generate([{ name: 'commonName', value: 'gitopper test CA' }], { keyType: 'ec', curve: 'P-256', extensions: [{ name: 'basicConstraints', cA: true, critical: true }, { name: 'keyUsage', keyCertSign: true, critical: true }] });
  const made = await selfSigned(['limos'], { key: ca.private, cert: ca.cert });
  const files = { cert: path.join(dir, 'op.crt'), key: path.join(dir, 'op.key'), ca: path.join(dir, 'ca.crt'), other: path.join(dir, 'other-ca.crt') };
  writeFileSync(files.cert, made.cert);
  writeFileSync(files.key, made.private, { mode: 0o600 });
  writeFileSync(files.ca, ca.cert);
  writeFileSync(files.other, (await generate([{ name: 'commonName', value: 'other CA' }], { keyType: 'ec', curve: 'P-256' })).cert);
  const s = await serve({ stateDir: path.join(dir, 'state-ca'), tlsCert: files.cert, tlsKey: files.key });
  assert.equal(s.cert.origin, 'files');
  const home = path.join(dir, 'home-ca');
  const ok = await ctl(['--ca', files.ca, 'list', 'machines', `@localhost:${s.port}`], home);
  assert.equal(ok.code, 0, ok.stderr);
  assert.equal(ok.stderr, '', 'no pin with --ca');
  const wrongCa = await ctl(['--ca', files.other, 'list', 'machines', `@localhost:${s.port}`], home);
  assert.equal(wrongCa.code, 1);
  assert.match(wrongCa.stderr, /certificate/i);
  await s.close();
  await assert.rejects(serve({ stateDir: path.join(dir, 'state-ca'), tlsCert: files.cert, tlsKey: path.join(dir, 'op') }), /key/);
});

test('--insecure-http: loopback -s only; not with --tls-cert; --tls-cert and --tls-key go together; the names a signed URL may name', async () => {
  assert.equal(parseDaemonFlags(['-c', 'x', '--insecure-http', '-s', '127.0.0.1:2222']).insecureHttp, true);
  assert.equal(parseDaemonFlags(['-c', 'x', '--insecure-http', '-s', '[::1]:2222']).insecureHttp, true);
  assert.equal(parseDaemonFlags(['-c', 'x']).insecureHttp, false);
  for (const args of [['--insecure-http'], ['--insecure-http', '-s', '0.0.0.0:2222'], ['--insecure-http', '-s', '192.0.2.1:2222']]) {
    assert.throws(() => parseDaemonFlags(['-c', 'x', ...args]), (e: unknown) => e instanceof FlagError && /allowed on loopback only/.test(e.message), args.join(' '));
  }
  assert.throws(() => parseDaemonFlags(['-c', 'x', '--tls-cert', 'a.crt']), /--tls-cert and --tls-key go together/);
  assert.throws(() => parseDaemonFlags(['-c', 'x', '--insecure-http', '-s', '127.0.0.1:1', '--tls-cert', 'a', '--tls-key', 'b']), /cannot go with --tls-cert/);
  const names = ownNames(['web1', 'grafana.atoom.net']);
  for (const ok of ['web1', 'web1.example.net', 'grafana.atoom.net', 'localhost', '127.0.0.1', '::1']) assert.equal(names(ok), true, ok);
  for (const bad of ['web2', 'grafana.atoom.net.evil.example', 'atoom.net', '', '192.0.2.1']) assert.equal(names(bad), false, bad);
  await assert.rejects(
    startApiServer(new FakeControl(), { addr: ':0', insecureHttp: true, stateDir: dir, hosts: [], keys, log: { info() {}, warn() {}, error() {} } }),
    /--insecure-http is allowed on a loopback address only/,
  );
});
