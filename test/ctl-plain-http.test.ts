/**
 * `@host:port` (https) against a server that does not speak TLS (issue 16): against the real API
 * server run with `--insecure-http`, gitopperctl says `this agent speaks plain HTTP
 * (--insecure-http): use @http://host:port` instead of OpenSSL's "wrong version number"; against
 * a real SSH server (ssh2's, as miekg/gitopper's agent serves on :2222) it says so; anything
 * else keeps OpenSSL's message. No signed request reaches any of them.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createServer, type AddressInfo, type Server } from 'node:net';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import ssh2 from 'ssh2';
import { sniffPlain } from '../src/ctl/transport.js';
import { FakeControl } from './fakes/control.js';
import { apiServerPerFile, recordingLog } from './fakes/api.js';
import { keyDir, keyFile, makeKey } from './fakes/keys.js';

const exec = promisify(execFile);
const bin = fileURLToPath(new URL('../cmd/gitopperctl.js', import.meta.url));
const dir = keyDir('gitopper-ctl-plain-');
const op = makeKey(dir, 'op', 'ed25519', { comment: 'miek@limos' });
const { lines: logs, log } = recordingLog();
const control = new FakeControl();
const api = apiServerPerFile(control, dir, [{ path: keyFile(dir, 'rw.pub', [op]), ro: false }], log);

async function ctl(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await exec(process.execPath, [bin, '-i', op.file, ...args], { env: { PATH: process.env.PATH ?? '', HOME: dir } });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

async function listen(t: { after: (fn: () => void) => void }, server: Server | ssh2.Server): Promise<number> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  t.after(() => server.close());
  return (server.address() as AddressInfo).port;
}

test('@127.0.0.1:port of an --insecure-http agent: exit 1, "speaks plain HTTP … use @http://…", nothing signed sent, no pin', async () => {
  const calls = control.calls.length;
  const r = await ctl('do', 'freeze', `@127.0.0.1:${api.port}`, 'grafana-server');
  assert.equal(r.code, 1);
  assert.equal(r.stdout, '');
  assert.equal(r.stderr, `gitopperctl: this agent speaks plain HTTP (--insecure-http): use @http://127.0.0.1:${api.port}\n`);
  assert.doesNotMatch(r.stderr, /wrong version number/);
  assert.deepEqual(control.calls.slice(calls), [], 'nothing reached the agent');
  assert.equal(logs.some((l) => l.fingerprint === op.fingerprint || l.msg === 'write'), false, 'no request signed by the operator arrived');
  assert.throws(() => readFileSync(`${dir}/.config/gitopper/known_hosts`), /ENOENT/, 'nothing pinned');

  // what the message says to use works
  const ok = await ctl('do', 'freeze', `@http://127.0.0.1:${api.port}`, 'grafana-server');
  assert.equal(ok.code, 0, ok.stderr);
  assert.equal(control.svc.get('grafana-server')!.state, 'FREEZE');
});

test('several hosts: the plain-HTTP one is named with its hint, the other answers', async () => {
  const r = await ctl('ls', 'm', `@127.0.0.1:${api.port}`, `@http://127.0.0.1:${api.port}`);
  assert.equal(r.code, 1);
  assert.match(r.stdout, new RegExp(`^HOST +# +MACHINE +ACTUAL\\nhttp://127\\.0\\.0\\.1:${api.port} +0 +grafana\\.example\\.org +limos\\n`));
  assert.equal(r.stderr, `gitopperctl: 127.0.0.1:${api.port}: this agent speaks plain HTTP (--insecure-http): use @http://127.0.0.1:${api.port}\n`);
});

test('an SSH server on the port (miekg/gitopper\'s remote interface is SSH): said so, with its banner', async (t) => {
  const ssh = new ssh2.Server({ hostKeys: [readFileSync(op.file)], ident: 'gitopper-test' }, (client) => client.on('error', () => {}));
  const port = await listen(t, ssh);
  const r = await ctl('list', 'service', `@127.0.0.1:${port}`);
  assert.equal(r.code, 1);
  assert.match(r.stderr, new RegExp(`^gitopperctl: 127\\.0\\.0\\.1:${port} is an SSH server \\("SSH-2\\.0-gitopper-test"\\), not a gitopper REST API: .*ask it with gitopper's own gitopperctl`));
});

test('a server that speaks neither: OpenSSL\'s message is kept; sniffPlain says undefined', async (t) => {
  const junk = createServer((c) => c.end('\x00\x01garbage that is not a protocol\n'));
  const port = await listen(t, junk);
  const r = await ctl('list', 'service', `@127.0.0.1:${port}`);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /^gitopperctl: GET https:\/\/127\.0\.0\.1:\d+\/list\/service: .*(wrong version number|packet length too long|record layer failure)/);
  assert.equal((await sniffPlain('127.0.0.1', port)).protocol, undefined);
  assert.equal((await sniffPlain('127.0.0.1', api.port)).protocol, 'http');
});
