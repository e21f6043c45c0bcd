/**
 * gitopperctl with several keys in a real ssh-agent (issue 16): a read-only key first must not
 * block writes. Against the real API server (plain HTTP on loopback, `apiServerPerFile`), the
 * built `gitopperctl` and the client over ssh2's agent client try the agent's next key after a
 * 403 READ_ONLY_KEY or a 401 UNKNOWN_KEY, sign each attempt afresh, and name what each key got
 * when all are refused.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, execFileSync, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { Client, ClientError, fetchTransport, type HttpRequest } from '../src/ctl/client.js';
import { agentSigners } from '../src/ctl/signer.js';
import { FakeControl } from './fakes/control.js';
import { apiServerPerFile, recordingLog } from './fakes/api.js';
import { keyDir, keyFile, makeKey, type TestKey } from './fakes/keys.js';

const exec = promisify(execFile);
const bin = fileURLToPath(new URL('../cmd/gitopperctl.js', import.meta.url));
const dir = keyDir('gitopper-ctl-agent-');
const rw = makeKey(dir, 'rw', 'ed25519', { comment: 'miek@limos' });
const rwRsa = makeKey(dir, 'rwrsa', 'rsa', { bits: 2048, comment: 'miek-rsa@limos' });
const ro = makeKey(dir, 'ro', 'ed25519', { comment: 'ci@build' });
const stranger = makeKey(dir, 'stranger', 'ecdsa', { bits: 256, comment: 'who@where' });

const { lines: logs, log } = recordingLog();
const control = new FakeControl();
const api = apiServerPerFile(control, dir, [{ path: keyFile(dir, 'rw.pub', [rw, rwRsa]), ro: false }, { path: keyFile(dir, 'ro.pub', [ro]), ro: true }], log);

/** A real ssh-agent holding `keys` in this order (ssh-add appends); killed after the test. */
async function startAgent(t: { after: (fn: () => void) => void }, name: string, keys: readonly TestKey[]): Promise<string> {
  const sock = path.join(dir, `${name}.agent`);
  const child = spawn('ssh-agent', ['-D', '-a', sock], { stdio: 'ignore' });
  t.after(() => child.kill());
  for (let i = 0; i < 500 && !existsSync(sock); i++) await new Promise((r) => setTimeout(r, 10));
  for (const k of keys) execFileSync('ssh-add', ['-q', k.file], { env: { ...process.env, SSH_AUTH_SOCK: sock }, stdio: 'ignore' });
  const listed = execFileSync('ssh-add', ['-l', '-E', 'sha256'], { env: { ...process.env, SSH_AUTH_SOCK: sock }, encoding: 'utf8' });
  assert.deepEqual(listed.trim().split('\n').map((l) => l.split(' ')[1]), keys.map((k) => k.fingerprint), 'the agent holds the keys in the order added');
  return sock;
}

/** The built gitopperctl with only `SSH_AUTH_SOCK` for keys; never rejects. */
async function ctl(args: string[], sock: string): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await exec(process.execPath, [bin, ...args], { env: { PATH: process.env.PATH ?? '', HOME: dir, SSH_AUTH_SOCK: sock } });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

const reset = (name: string) => control.svc.set(name, { ...control.svc.get(name)!, state: 'OK', info: '', by: undefined });
const writesOf = (name: string) => control.calls.filter((c) => /^(freeze|unfreeze|rollback|pull) /.test(c) && c.includes(` ${name} `));

test('a read-only key first in ssh-agent: the write is retried with the next key and done once, recorded as that key', async (t) => {
  const sock = await startAgent(t, 'ro-rw', [ro, rw]);
  reset('grafana-server');
  const refusedBefore = logs.filter((l) => l.msg === 'write refused: read-only key').length;
  const r = await ctl(['do', 'freeze', `@${api.base}`, 'grafana-server', '--reason', 'db migration'], sock);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stderr, '');
  assert.match(r.stdout, /grafana-server\s+606eb576\s+FREEZE\s+db migration/);
  assert.equal(control.svc.get('grafana-server')!.by, rw.by, 'done as the read-write key');
  assert.deepEqual(writesOf('grafana-server'), [`freeze grafana-server ${rw.by}`], 'the write reached the agent once');
  const refused = logs.filter((l) => l.msg === 'write refused: read-only key').slice(refusedBefore);
  assert.deepEqual(refused.map((l) => l.fingerprint), [ro.fingerprint], 'the read-only key was tried first and refused');

  // reads are the read-only key's to make: it comes first and is allowed
  const list = await ctl(['list', 'service', `@${api.base}`, 'grafana-server'], sock);
  assert.equal(list.code, 0, list.stderr);
});

test('unknown, then read-only, then an RSA read-write key: every write route gets through with the third', async (t) => {
  const sock = await startAgent(t, 'three', [stranger, ro, rwRsa]);
  reset('prometheus');
  for (const args of [['do', 'freeze', `@${api.base}`, 'prometheus'], ['do', 'unfreeze', `@${api.base}`, 'prometheus'], ['do', 'rollback', `@${api.base}`, 'prometheus', '8df1b3db'], ['do', 'pull', `@${api.base}`, 'prometheus']]) {
    const r = await ctl(args, sock);
    assert.equal(r.code, 0, `${args.join(' ')}: ${r.stderr}`);
  }
  assert.equal(control.svc.get('prometheus')!.by, rwRsa.by);
  assert.equal(control.pulls.at(-1)!.by, rwRsa.by);
});

test('every key refused: exit 1, one message naming what each key got, nothing done', async (t) => {
  const sock = await startAgent(t, 'ro-stranger', [ro, stranger]);
  reset('node-exporter@eth0');
  const calls = control.calls.length;
  const r = await ctl(['do', 'freeze', `@${api.base}`, 'node-exporter@eth0'], sock);
  assert.equal(r.code, 1);
  assert.equal(r.stdout, '');
  assert.equal(
    r.stderr,
    'gitopperctl: each of the 2 keys was refused, in the order tried: ' +
      `${ro.fingerprint} (ci@build): HTTP 403 READ_ONLY_KEY, key ${ro.fingerprint} (ci@build) is read-only (ro = true in [global].keys): it may not POST /do/freeze/node-exporter%40eth0; ` +
      `${stranger.fingerprint} (who@where): HTTP 401 UNKNOWN_KEY, key ${stranger.fingerprint} is not in [global].keys of this agent\n`,
  );
  assert.deepEqual(control.calls.slice(calls).filter((c) => c.startsWith('freeze')), [], 'no write reached the agent');
  assert.equal(control.svc.get('node-exporter@eth0')!.state, 'OK');
});

test('the client signs each attempt afresh (another nonce, its own keyid) and stops at the first key that works', async (t) => {
  const sock = await startAgent(t, 'client', [stranger, ro, rw, rwRsa]);
  reset('grafana-server');
  const sent: HttpRequest[] = [];
  const real = fetchTransport();
  const client = new Client(api.base, { signers: await agentSigners(sock), transport: (req, signal) => (sent.push(req), real(req, signal)) });
  const answer = await client.freeze('grafana-server', 'fresh');
  assert.equal(answer.services[0]!.state, 'FREEZE');
  const params = sent.map((r) => /keyid="([^"]+)".*nonce="([^"]+)"/.exec(r.headers['signature-input'] ?? '')!.slice(1));
  assert.deepEqual(params.map(([keyid]) => keyid), [stranger, ro, rw].map((k) => k.fingerprint), 'three attempts, the fourth key never used');
  assert.equal(new Set(params.map(([, nonce]) => nonce)).size, 3, 'a new nonce for each attempt');
  assert.equal(new Set(sent.map((r) => r.headers.signature)).size, 3);

  // with every key refused the error carries each answer
  const refusing = new Client(api.base, { signers: (await agentSigners(sock)).slice(0, 2) });
  const err = await refusing.pull().then(() => undefined, (e: unknown) => e);
  assert.ok(err instanceof ClientError);
  assert.equal(err.status, 403, 'the read-only refusal is the one reported as status');
  assert.equal(err.code, 'READ_ONLY_KEY');
  assert.deepEqual(err.refusals!.map((x) => [x.keyid, x.status, x.code]), [[stranger.fingerprint, 401, 'UNKNOWN_KEY'], [ro.fingerprint, 403, 'READ_ONLY_KEY']]);
});

test('another refusal (404 for an unknown service) is not a reason to try the next key', async (t) => {
  const sock = await startAgent(t, 'notfound', [rw, rwRsa]);
  const sent: HttpRequest[] = [];
  const real = fetchTransport();
  const client = new Client(api.base, { signers: await agentSigners(sock), transport: (req, signal) => (sent.push(req), real(req, signal)) });
  const err = await client.freeze('no-such-service').then(() => undefined, (e: unknown) => e);
  assert.ok(err instanceof ClientError);
  assert.equal(err.status, 404);
  assert.equal(sent.length, 1);
});
