/**
 * Issue 15, signed commits: the `allowed_signers` file goes missing, then cannot be read (a directory
 * in its place), while new signed commits arrive; on the real daemon and rig. The service stays on
 * the commit it has (files unchanged) with a reason naming the file, the daemon keeps running and
 * answering, and once the file is back the waiting commit is applied without a restart.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { mkdir, rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { World, worldPerFile } from '../e2e/world.js';
import type { Daemon } from '../e2e/daemon.js';
import { sshKey, sshSignedCommit, type SshKey } from '../rig/signing.js';

let w: World;
const { skip } = worldPerFile('gitopper-faults-verify', (x) => (w = x));

async function pushSigned(key: SshKey, content: string): Promise<string> {
  await w.work.write('grafana/etc/grafana.ini', content);
  const sha = await sshSignedCommit(w.work, key, content.trim());
  await w.work.push();
  return sha;
}

async function service(d: Daemon): Promise<{ commit: string; state: string; stateinfo: string }> {
  const res = await w.fetch(`${await d.apiUrl()}/list/service/app`);
  assert.equal(res.status, 200, 'the API answers');
  return ((await res.json()) as { services: { commit: string; state: string; stateinfo: string }[] }).services[0]!;
}

test('allowed_signers missing, then unreadable: held on its commit with the reason; applied once the file is back', { skip, timeout: 120_000 }, async () => {
  const key = await sshKey(w.dir, 'signer', 'ed25519');
  const allowed = path.join(w.dir, 'trust', 'allowed_signers');
  await mkdir(path.dirname(allowed));
  await writeFile(allowed, `ops@example.org ${key.pub}\n`);
  const first = await pushSigned(key, 'one\n');
  const ini = path.join(w.dir, 'vf', 'etc', 'grafana.ini');
  const d = await w.daemon('vf', w.config('vf', w.etcService('vf', 'app', '', `verify = { allowed_signers = "${allowed}" }`)));
  try {
    await d.waitLog((l) => l.msg === 'ready', 'ready');
    assert.equal((await service(d)).commit, first);

    // the file goes missing
    await rename(allowed, `${allowed}.away`);
    const second = await pushSigned(key, 'two\n');
    const missing = await d.waitLog((l) => l.msg === 'commit refused' && l.commit === second, 'the refusal while the file is missing');
    assert.match(String(missing.reason), /^cannot check its signature: VERIFY: the allowed_signers file .*allowed_signers cannot be read \(ENOENT\)/);
    let s = await service(d);
    assert.deepEqual([s.commit, s.state], [first, 'DIFF']);
    assert.ok(s.stateinfo.startsWith(`REFUSED ${second.slice(0, 8)}: cannot check its signature: VERIFY: the allowed_signers file`), s.stateinfo);
    assert.equal(readFileSync(ini, 'utf8'), 'one\n', 'files unchanged');

    // a directory in its place: cannot be read
    await mkdir(allowed);
    const third = await pushSigned(key, 'three\n');
    const unreadable = await d.waitLog((l) => l.msg === 'commit refused' && l.commit === third, 'the refusal while the file cannot be read');
    assert.match(String(unreadable.reason), /cannot be read \(EISDIR\)/);
    s = await service(d);
    assert.deepEqual([s.commit, s.state], [first, 'DIFF']);
    assert.equal(readFileSync(ini, 'utf8'), 'one\n');

    // the file is back: the waiting tip is applied at the next poll, no restart
    await rm(allowed, { recursive: true });
    await rename(`${allowed}.away`, allowed);
    await d.waitLog((l) => l.msg === 'pass applied' && l.commit === third, 'the tip applied once the file is back');
    s = await service(d);
    assert.deepEqual([s.commit, s.state], [third, 'OK']);
    assert.equal(readFileSync(ini, 'utf8'), 'three\n');
  } finally {
    assert.equal(await d.stop('SIGTERM'), 0, 'the daemon ran throughout and stops cleanly');
  }
});
