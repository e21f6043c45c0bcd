/**
 * BindMounter (src/adapters/mount/bind.ts) with real bind mounts, in the test run's private mount
 * namespace (test/run.mjs), checked against /proc/self/mountinfo; GetentUsers (src/adapters/host/users.ts)
 * against this host's passwd database.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdir, readdir, readFile, rename, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { BindMounter, ForeignMountError } from '../src/adapters/mount/bind.js';
import { parseMountinfo } from '../src/adapters/mount/mountinfo.js';
import { GetentUsers } from '../src/adapters/host/users.js';
import type { Owner } from '../src/ports/host.js';
import { removeDirs, tmpDir } from './rig/repo.js';
import { canRunSandbox } from './rig/systemd.js';

const sandbox = canRunSandbox();
const skip = sandbox.ok ? false : sandbox.why;

let tmp = '';
let nobody: Owner;
const mounter = new BindMounter();

before(async () => {
  if (skip) return;
  tmp = await tmpDir('adapter-mount');
  const u = await new GetentUsers().lookup('nobody');
  assert.ok(u, 'user nobody exists');
  nobody = u;
});

after(async () => {
  if (tmp) await removeDirs(tmp);
});

/** Mounts whose mount point is exactly `p`, from /proc/self/mountinfo. */
const mountsAt = (p: string) => parseMountinfo(readFileSync('/proc/self/mountinfo', 'utf8')).filter((e) => e.mountPoint === p);
const umount = (p: string) => execFileSync('umount', [p]);

test('users: lookup finds root and nobody, and not a user that does not exist', async () => {
  const users = new GetentUsers();
  assert.deepEqual(await users.lookup('root'), { user: 'root', uid: 0, gid: 0 });
  assert.equal((await users.lookup('nobody'))?.uid, 65534);
  assert.equal(await users.lookup('no-such-user-gitopper'), undefined);
  assert.equal(await users.lookup('-x'), undefined, 'not taken for an option');
});

test('directory: a missing target is created (with parents) and owned; mounted, then present', { skip }, async () => {
  const src = path.join(tmp, 'dir-src');
  await mkdir(src);
  await writeFile(path.join(src, 'grafana.ini'), 'port = 3000\n');
  const target = path.join(tmp, 'dir-tgt', 'a', 'b', 'etc');
  assert.equal(await mounter.ensure(src, target, { file: false, owner: nobody }), 'mounted');
  assert.deepEqual(await readdir(target), ['grafana.ini']);
  assert.equal(await readFile(path.join(target, 'grafana.ini'), 'utf8'), 'port = 3000\n');
  await writeFile(path.join(src, 'new.ini'), 'x\n');
  assert.deepEqual((await readdir(target)).sort(), ['grafana.ini', 'new.ini'], 'a live view of the source');
  assert.equal(await mounter.ensure(src, target, { file: false, owner: nobody }), 'present');
  assert.equal(mountsAt(target).length, 1, 'not stacked');

  umount(target);
  const under = await stat(target);
  assert.ok(under.isDirectory(), 'created as a directory');
  assert.deepEqual([under.uid, under.gid], [nobody.uid, nobody.gid], 'owned by the owner');
  assert.deepEqual(await readdir(target), [], 'the created target is empty');
  assert.equal(await mounter.ensure(src, target, { file: false, owner: undefined }), 'mounted', 'an unmounted target is re-mounted');
});

test('single file: created as an empty file; re-mounted after the source is replaced by a new inode', { skip }, async () => {
  const srcDir = path.join(tmp, 'file-src');
  await mkdir(srcDir);
  const src = path.join(srcDir, 'prometheus.yml');
  await writeFile(src, 'v1\n');
  const target = path.join(tmp, 'file-tgt', 'etc', 'prometheus.yml');
  assert.equal(await mounter.ensure(src, target, { file: true, owner: nobody }), 'mounted');
  assert.equal(await readFile(target, 'utf8'), 'v1\n');
  assert.equal(await mounter.ensure(src, target, { file: true, owner: nobody }), 'present');

  // what a checkout does: write a temp file and rename it over the source
  await writeFile(`${src}.tmp`, 'v2\n');
  await rename(`${src}.tmp`, src);
  assert.equal(await readFile(target, 'utf8'), 'v1\n', 'the mount still shows the old inode');
  assert.match(mountsAt(target)[0]!.root, /\/\/deleted$/);
  assert.equal(await mounter.ensure(src, target, { file: true, owner: nobody }), 'mounted', 're-made');
  assert.equal(await readFile(target, 'utf8'), 'v2\n');
  assert.equal((await stat(target)).ino, (await stat(src)).ino);
  assert.equal(mountsAt(target).length, 1, 'the old mount is gone, not stacked under the new one');
  assert.equal(await mounter.ensure(src, target, { file: true, owner: nobody }), 'present');

  umount(target);
  const under = await stat(target);
  assert.ok(under.isFile() && under.size === 0, 'created as an empty file');
  assert.deepEqual([under.uid, under.gid], [nobody.uid, nobody.gid]);
});

test('a target mounted from somewhere else is a ForeignMountError naming both', { skip }, async () => {
  const src = path.join(tmp, 'ours');
  const other = path.join(tmp, 'theirs');
  const target = path.join(tmp, 'foreign-tgt');
  for (const d of [src, other, target]) await mkdir(d);
  await writeFile(path.join(other, 'theirs.txt'), 'not ours\n');
  execFileSync('mount', ['--bind', other, target]);
  await assert.rejects(mounter.ensure(src, target, { file: false, owner: undefined }), (err: unknown) => {
    assert.ok(err instanceof ForeignMountError);
    assert.equal(err.code, 'FOREIGN_MOUNT');
    assert.equal(err.data.target, target);
    assert.equal(err.data.source, src);
    assert.ok(err.data.root.endsWith('/theirs'), err.data.root);
    assert.ok(err.message.includes(target) && err.message.includes(src) && err.message.includes('/theirs'), err.message);
    return true;
  });
  assert.deepEqual(await readdir(target), ['theirs.txt'], 'the foreign mount is left alone');
  assert.equal(mountsAt(target).length, 1);
});

test('file/directory mismatches and a missing source are errors, and mount nothing', { skip }, async () => {
  const dir = path.join(tmp, 'mismatch-dir');
  const file = path.join(tmp, 'mismatch-file');
  await mkdir(dir);
  await writeFile(file, 'x\n');
  const t1 = path.join(tmp, 'mismatch-t1');
  await assert.rejects(mounter.ensure(dir, t1, { file: true, owner: undefined }), /is a directory but "file" is true/);
  await assert.rejects(mounter.ensure(file, t1, { file: false, owner: undefined }), /is a file but "file" is false/);
  assert.equal(mountsAt(t1).length, 0);
  await assert.rejects(stat(t1), { code: 'ENOENT' }, 'no target made for a bad source');

  const fileTarget = path.join(tmp, 'mismatch-t2');
  await writeFile(fileTarget, '');
  await assert.rejects(mounter.ensure(dir, fileTarget, { file: false, owner: undefined }), /exists and is a file, but "file" is false/);
  const dirTarget = path.join(tmp, 'mismatch-t3');
  await mkdir(dirTarget);
  await assert.rejects(mounter.ensure(file, dirTarget, { file: true, owner: undefined }), /exists and is a directory, but "file" is true/);
  assert.equal(mountsAt(fileTarget).length + mountsAt(dirTarget).length, 0);

  const missing = path.join(tmp, 'no-such-source');
  await assert.rejects(mounter.ensure(missing, path.join(tmp, 'mismatch-t4'), { file: false, owner: undefined }), (err: Error) => err.message.includes(missing) && /does not exist/.test(err.message));
});
