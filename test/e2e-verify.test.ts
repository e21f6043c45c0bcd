/**
 * Signed commits on the real daemon: `verify = { allowed_signers = … }`, commits signed by git with an
 * SSH key (`gpg.format=ssh`, i.e. `ssh-keygen -Y sign -n git`) pushed to the rig's git server. A
 * signed tip is applied; an unsigned tip pushed on top is never checked out (state DIFF with
 * `REFUSED <short>: not signed …`, a log line, the refused-commits metric); a rollback to an
 * unsigned commit is refused with 409, one to a signed commit goes through.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { World, worldPerFile } from './e2e/world.js';
import type { Daemon } from './e2e/daemon.js';
import { sshKey, sshSignedCommit, type SshKey } from './rig/signing.js';

let w: World;
const { skip } = worldPerFile('gitopper-e2e-verify', (x) => (w = x));

const ini = (name = 'verify') => readFileSync(path.join(w.dir, name, 'etc', 'grafana.ini'), 'utf8');

async function pushSigned(key: SshKey, content: string, msg: string): Promise<string> {
  await w.work.write('grafana/etc/grafana.ini', content);
  const sha = await sshSignedCommit(w.work, key, msg);
  await w.work.push();
  return sha;
}

async function pushUnsigned(content: string, msg: string): Promise<string> {
  await w.work.write('grafana/etc/grafana.ini', content);
  const sha = await w.work.commit(msg);
  await w.work.push();
  return sha;
}

/** The service as `GET /list/service/app` shows it. */
async function service(d: Daemon): Promise<{ commit: string; state: string; stateinfo: string }> {
  const res = await w.fetch(`${await d.apiUrl()}/list/service/app`);
  assert.equal(res.status, 200);
  return ((await res.json()) as { services: { commit: string; state: string; stateinfo: string }[] }).services[0]!;
}

/** The value of `gitopper_service_refused_commits_total{service="app",reason}` on the live /metrics. */
async function refusedMetric(d: Daemon, reason: string): Promise<number | undefined> {
  const l = await d.waitLog((x) => x.msg === 'listening' && x.what === 'metrics', 'the metrics endpoint');
  const text = await (await fetch(`http://127.0.0.1:${(l.addr as { port: number }).port}/metrics`)).text();
  const line = text.split('\n').find((s) => s.startsWith('gitopper_service_refused_commits_total{') && s.includes('service="app"') && s.includes(`reason="${reason}"`));
  return line === undefined ? undefined : Number(line.split(' ').pop());
}

test('a signed tip is applied; an unsigned tip is refused and never checked out; rollbacks are verified too', { skip, timeout: 120_000 }, async () => {
  const alice = await sshKey(w.dir, 'alice', 'ed25519');
  const allowed = path.join(w.dir, 'allowed_signers');
  await writeFile(allowed, `alice@example.org namespaces="git" ${alice.pub}\n`);
  const first = await pushSigned(alice, 'signed 1\n', 'signed 1');
  const signed = await pushSigned(alice, 'signed 2\n', 'signed 2');
  const d = await w.daemon('verify', w.config('verify', w.etcService('verify', 'app', '', `verify = { allowed_signers = "${allowed}" }`)));
  try {
    await d.waitLog((l) => l.msg === 'ready', 'ready');
    assert.equal((await service(d)).commit, signed, 'the signed tip is deployed at startup');
    assert.equal(ini(), 'signed 2\n');
    assert.equal(await refusedMetric(d, 'signature'), 0);

    const unsigned = await pushUnsigned('unsigned\n', 'unsigned');
    const log = await d.waitLog((l) => l.msg === 'commit refused' && l.commit === unsigned, 'the refusal of the unsigned tip');
    assert.equal(log.refusal, 'signature');
    assert.match(String(log.reason), /^not signed \(verify requires a signature by an allowed signer of .*allowed_signers\)$/);
    const s = await service(d);
    assert.equal(s.commit, signed, 'the service stays on the signed commit');
    assert.equal(s.state, 'DIFF');
    assert.ok(s.stateinfo.startsWith(`REFUSED ${unsigned.slice(0, 8)}: not signed`), s.stateinfo);
    assert.equal(ini(), 'signed 2\n', 'files unchanged');
    assert.equal(await refusedMetric(d, 'signature'), 1);
    // later polls do not count the same commit again
    const seen = d.lines.length;
    await d.waitLog((l) => l.msg === 'fetched' && l.tip === unsigned, 'another poll of the refused tip', 10_000, seen);
    await d.waitLog((l) => l.msg === 'fetched' && l.tip === unsigned, 'one more poll of the refused tip', 10_000, d.lines.length);
    assert.equal(await refusedMetric(d, 'signature'), 1, 'one refusal per commit');
    assert.equal(d.lines.filter((l) => l.msg === 'commit refused').length, 1, 'one log line per commit');

    // a rollback to an unsigned commit is refused before anything is touched
    const oldUnsigned = (await w.work.git('rev-parse', `${first}~1`)).trim();
    const api = await d.apiUrl();
    const rb = await w.fetch(`${api}/do/rollback/app/${oldUnsigned.slice(0, 10)}`, { method: 'POST' });
    assert.equal(rb.status, 409);
    assert.match(await rb.text(), new RegExp(`${oldUnsigned.slice(0, 8)} is refused: not signed`));
    assert.equal(ini(), 'signed 2\n');
    // one to a signed commit goes through
    const ok = await w.fetch(`${api}/do/rollback/app/${first.slice(0, 10)}`, { method: 'POST' });
    assert.equal(ok.status, 200, await ok.text());
    assert.equal(ini(), 'signed 1\n');
    assert.equal((await service(d)).commit, first);
  } finally {
    assert.equal(await d.stop('SIGTERM'), 0);
  }
});

test('a key removed from allowed_signers stops the next commit; a signed commit on top of a refused one is applied', { skip, timeout: 120_000 }, async () => {
  const bob = await sshKey(w.dir, 'bob', 'ecdsa', 256);
  const carol = await sshKey(w.dir, 'carol', 'rsa', 3072);
  const allowed = path.join(w.dir, 'allowed_signers2');
  await writeFile(allowed, `bob@example.org ${bob.pub}\ncarol@example.org ${carol.pub}\n`);
  await pushSigned(bob, 'bob 1\n', 'bob 1');
  const d = await w.daemon('verify2', w.config('verify2', w.etcService('verify2', 'app', '', 'verify = { allowed_signers = "allowed_signers2" }')));
  try {
    await d.waitLog((l) => l.msg === 'ready', 'ready');
    await writeFile(allowed, `carol@example.org ${carol.pub}\n`); // bob leaves the team: read at the next check
    const byBob = await pushSigned(bob, 'bob 2\n', 'bob 2');
    const log = await d.waitLog((l) => l.msg === 'commit refused' && l.commit === byBob, 'the refusal of bob\'s commit');
    assert.match(String(log.reason), new RegExp(`^signed by an unknown key ${bob.fingerprint.replace(/[+/]/g, '\\$&')} \\(ECDSA\\)`));
    assert.equal(ini('verify2'), 'bob 1\n');
    const byCarol = await pushSigned(carol, 'carol 1\n', 'carol 1');
    await d.waitLog((l) => l.msg === 'pass applied' && l.commit === byCarol, 'carol\'s commit applied');
    assert.equal(ini('verify2'), 'carol 1\n');
    const s = await service(d);
    assert.deepEqual([s.commit, s.state], [byCarol, 'OK']);
  } finally {
    assert.equal(await d.stop('SIGTERM'), 0);
  }
});
