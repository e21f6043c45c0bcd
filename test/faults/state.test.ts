/**
 * Issue 11, scenario 5: a corrupt or truncated state file, a read-only state directory, and a
 * service `user` that disappears after the first deploy; on the real daemon and rig.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, execFileSync } from 'node:child_process';
import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { reloadMarkerUnit } from '../rig/systemd.js';
import { isState, lines, waitFor, World, worldPerFile } from '../e2e/world.js';
import { filesMatching, metric, mountsAt, readStateFile, sleep } from './lib/c-rig.js';

let w: World;
const { skip } = worldPerFile('gitopper-faults-state', (x) => (w = x));
const run = promisify(execFile);

/** One service `name` (user `user`; "" = the config's default) mounting `grafana/etc` on `<w.dir>/<dir>/etc`. */
const service = (dir: string, name: string, action: string, user = ''): string => w.etcService(dir, name, action, `user = "${user}"`);

/** POST a signed operator request; resolves with the status and the parsed body. */
async function post(api: string, route: string, body?: object): Promise<{ status: number; body: unknown }> {
  const res = await w.fetch(`${api}${route}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body ?? {}) });
  return { status: res.status, body: await res.json().catch(() => undefined) };
}

/** Make a state file by running the daemon once with st-a frozen; resolves with the state dir. */
async function frozenStateFile(name: string): Promise<string> {
  const d = await w.daemon(name, w.config(name, service(name, 'st-a', '')));
  try {
    await d.waitLog((l) => l.msg === 'ready', 'ready');
    assert.equal((await post(await d.apiUrl(), '/do/freeze/st-a', { reason: 'held for the test' })).status, 200);
  } finally {
    assert.equal(await d.stop('SIGTERM'), 0);
  }
  const dir = path.join(w.dir, name, 'state');
  assert.equal(readStateFile(dir).services['st-a']?.frozen?.reason, 'held for the test');
  return dir;
}

for (const [what, corrupt] of [
  ['truncated', (text: string) => text.slice(0, Math.floor(text.length / 2))],
  ['well-formed JSON with fields of the wrong types', () => JSON.stringify({ version: 1, services: { 'st-a': { state: 'FREEZE', info: 7, since: 'yesterday', commit: null, frozen: { by: 'x', at: 'not a date', reason: '' }, history: 'oops' } } })],
] as const) {
  test(`a state file that is ${what}: the daemon starts, keeps the bad file aside, says so in the log, and the service still reconciles (OK, files mounted)`, { skip, timeout: 60_000 }, async (t) => {
    const name = what.startsWith('trunc') ? 'trunc' : 'types';
    const dir = await frozenStateFile(name);
    const bad = corrupt(readFileSync(path.join(dir, 'state.json'), 'utf8'));
    writeFileSync(path.join(dir, 'state.json'), bad);
    const d = await w.daemon(name, undefined);
    t.after(() => d.stop());
    const notice = await d.waitLog((l) => /state file is corrupt/.test(String(l.msg)), 'the corrupt-file notice').catch((err: Error) => {
      throw new Error(`${err.message}\nstderr: ${d.stderr()}`);
    });
    assert.equal(notice.level, 40, 'a warning');
    const aside = filesMatching(dir, /^state\.json\.corrupt-\d+$/);
    assert.equal(aside.length, 1, 'kept aside once');
    assert.equal(notice.keptAt, path.join(dir, aside[0]!));
    assert.equal(readFileSync(path.join(dir, aside[0]!), 'utf8'), bad, 'the bad file is kept as it was');
    const ready = await d.waitLog((l) => l.msg === 'ready', 'ready');
    assert.deepEqual((ready.services as Array<{ service: string; state: string }>).map((s) => [s.service, s.state]), [['st-a', 'OK']], 'reconciled (the saved freeze is gone with the file, as documented)');
    assert.equal(mountsAt(path.join(w.dir, name, 'etc')), 1);
    const list = await w.fetch(`${await d.apiUrl()}/list/service/st-a`);
    assert.equal(list.status, 200, 'the API answers');
    await waitFor(() => existsSync(path.join(dir, 'state.json')), 'a new state file');
    assert.equal(readStateFile(dir).version, 1);
    assert.equal(await d.stop('SIGTERM'), 0);
  });
}

test('a read-only state directory: the daemon keeps running and answering, each failed save is logged as an error, fetches that must write are DIFF saying why, and once writable the last state is saved without waiting for another change', { skip, timeout: 90_000 }, async (t) => {
  const name = 'rostate';
  const d = await w.daemon(name, w.config(name, service(name, 'st-ro', '')));
  t.after(() => d.stop());
  await d.waitLog((l) => l.msg === 'ready', 'ready');
  const api = await d.apiUrl();
  const dir = path.join(w.dir, name, 'state');
  await run('mount', ['--bind', dir, dir]);
  let ro = true;
  const writable = async () => {
    if (ro) await run('umount', [dir]);
    ro = false;
  };
  t.after(writable);
  await run('mount', ['-o', 'remount,bind,ro', dir]);
  assert.throws(() => writeFileSync(path.join(dir, 'probe'), ''), /EROFS/);

  const from = d.lines.length;
  assert.equal((await post(api, '/do/freeze/st-ro', { reason: 'while read-only' })).status, 200, 'the freeze is accepted');
  const err = await d.waitLog((l) => l.msg === 'cannot save the state file', 'the save failure', 10_000, from);
  assert.equal(err.level, 50, 'an error');
  assert.match(String(err.err), /EROFS|read-only/);
  assert.equal(readStateFile(dir).services['st-ro']?.frozen, undefined, 'the old file stays intact');
  // a change upstream cannot be fetched into the read-only object store: DIFF naming it (after unfreeze)
  assert.equal((await post(api, '/do/unfreeze/st-ro')).status, 200);
  assert.equal((await post(api, '/do/freeze/st-ro', { reason: 'frozen while read-only' })).status, 200);
  await w.work.write('grafana/etc/grafana.ini', '[server]\n# read-only state dir\n');
  const tip = await w.work.commit('state faults: read-only');
  await w.work.push();
  assert.equal((await post(api, '/do/unfreeze/st-ro')).status, 200);
  const diff = await d.waitLog(isState('st-ro', 'DIFF'), 'DIFF while the store is read-only', 20_000, from);
  assert.match(String(diff.info), /EROFS|read-only/);
  t.diagnostic(`DIFF info: ${String(diff.info)}; save error: ${String(err.err)}`);
  assert.equal((await post(api, '/do/freeze/st-ro', { reason: 'last word while read-only' })).status, 200);
  assert.equal(await metric(d, 'gitopper_state_file_last_write_successful'), 0, 'the metric shows the state file is not written');
  assert.ok((await metric(d, 'gitopper_state_file_write_errors_total'))! >= 2, 'failed writes are counted');
  assert.ok(d.lines.filter((l) => l.msg === 'cannot save the state file').length >= 2, 'every failed save is logged');

  // writable again: the fetch and the state file recover by themselves
  await writable();
  // the notice comes after the write (rename and directory fsync) and after the gauge is set
  const again = await d.waitLog((l) => l.msg === 'state file saved again', 'the retry saving the last state', 20_000, from);
  assert.ok(Number(again.failures) >= 2, 'the notice counts the failed writes');
  assert.equal(readStateFile(dir).services['st-ro']?.frozen?.reason, 'last word while read-only', 'the last state saved after the directory became writable');
  assert.equal(await metric(d, 'gitopper_state_file_last_write_successful'), 1);
  assert.equal((await post(api, '/do/unfreeze/st-ro')).status, 200);
  // unfreeze may first make it OK at the deployed commit (a `state` line) and then apply the tip (OK → OK
  // at a new commit is no transition, so that one is a `pass applied` line only)
  await d.waitLog((l) => (l.msg === 'state' || l.msg === 'pass applied') && l.service === 'st-ro' && l.state === 'OK' && l.commit === tip, 'OK at the tip', 20_000, from);
  assert.equal(await d.stop('SIGTERM'), 0);
});

test('a service user deleted after the first deploy: the next change is BROKEN naming the user, nothing is checked out, created or reloaded in its place, and it recovers when the user is back', { skip, timeout: 90_000 }, async (t) => {
  const user = `gtfc${process.pid % 100000}`;
  try {
    execFileSync('useradd', ['--system', '--no-create-home', '--shell', '/usr/sbin/nologin', user]);
  } catch (err) {
    return t.skip(`useradd failed: ${(err as Error).message}`);
  }
  t.after(() => run('userdel', ['-f', user]).catch(() => undefined));
  const uid = Number(execFileSync('id', ['-u', user], { encoding: 'utf8' }).trim());
  const marker = path.join(w.dir, 'st-user.reloads');
  await w.um.writeUnit('st-user.service', reloadMarkerUnit('st-user', marker));
  const name = 'gone';
  const d = await w.daemon(name, w.config(name, service(name, 'st-user', 'reload', user)));
  t.after(() => d.stop());
  await d.waitLog((l) => l.msg === 'ready', 'ready');
  const checkout = path.join(w.dir, name, 'co', 'st-user');
  const etc = path.join(w.dir, name, 'etc');
  assert.equal(statSync(path.join(checkout, 'grafana/etc/grafana.ini')).uid, uid, 'deployed as the user');
  const before = readFileSync(path.join(etc, 'grafana.ini'), 'utf8');
  const head = readFileSync(path.join(checkout, '.git/HEAD'), 'utf8');

  await run('userdel', [user]);
  const from = d.lines.length;
  await w.work.write('grafana/etc/grafana.ini', '[server]\n# user gone\n');
  await w.work.write('grafana/etc/new.ini', 'new file\n');
  const tip = await w.work.commit('state faults: user gone');
  await w.work.push();
  const broken = await d.waitLog(isState('st-user', 'BROKEN'), 'BROKEN', 20_000, from);
  assert.match(String(broken.info), new RegExp(`user "${user}" does not exist on this host`));
  await sleep(1500); // a few more passes (-t 1s)
  assert.equal(readFileSync(path.join(etc, 'grafana.ini'), 'utf8'), before, 'the old files stay mounted');
  assert.equal(existsSync(path.join(checkout, 'grafana/etc/new.ini')), false, 'nothing checked out (as root or otherwise)');
  assert.equal(readFileSync(path.join(checkout, '.git/HEAD'), 'utf8'), head);
  assert.equal(lines(marker), 0, 'no reload');
  assert.equal(d.lines.slice(from).filter((l) => l.msg === 'pass applied' && l.service === 'st-user').length, 0, 'no pass applied anything');

  // the user is back (same uid): the change is applied as that user
  execFileSync('useradd', ['--system', '--no-create-home', '--shell', '/usr/sbin/nologin', '--uid', String(uid), user]);
  await d.waitLog((l) => l.msg === 'state' && l.service === 'st-user' && l.state === 'OK' && l.commit === tip, 'OK at the tip', 20_000, from);
  assert.equal(statSync(path.join(checkout, 'grafana/etc/new.ini')).uid, uid, 'the new file is the user\'s');
  assert.equal(readFileSync(path.join(etc, 'new.ini'), 'utf8'), 'new file\n');
  await waitFor(() => lines(marker) === 1, 'one reload');
  assert.equal(await d.stop('SIGTERM'), 0);
});
