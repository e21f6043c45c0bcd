/**
 * age-encrypted files in a checkout (src/adapters/git/secrets*.ts through IsoGit) on real parts: a local
 * bare repository made with the git CLI, files encrypted with the real `age-encryption` library to a
 * freshly generated identity, the identity file on disk. Also the core's rule that a SecretError is
 * BROKEN (reconcile over FakeGit).
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { chmod, chown, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { Encrypter, armor, generateX25519Identity, identityToRecipient } from 'age-encryption';
import { IsoGit } from '../src/adapters/git/iso-git.js';
import { SecretError } from '../src/errors/secret-error.js';
import { reconcile } from '../src/core/reconcile.js';
import type { CheckoutRef, SourceRef } from '../src/ports/git.js';
import { git, makeBare, removeDirs, tmpDir, WorkClone } from './rig/repo.js';
import { FakeGit, FakeMounts, FakeUnits, FakeUsers, ManualClock } from './fakes/ports.js';
import { spec } from './fakes/spec.js';

let tmp = '';
let seq = 0;
before(async () => {
  tmp = await tmpDir('git-secrets');
});
after(async () => {
  await removeDirs(tmp);
});

const PLAIN = 'password=correct-horse-battery-staple\n';

/** `text` encrypted to `recipient` (binary, or ASCII-armored). */
async function encrypt(text: string, recipient: string, armored = false): Promise<Uint8Array> {
  const e = new Encrypter();
  e.addRecipient(recipient);
  const ct = await e.encrypt(text);
  return armored ? new TextEncoder().encode(armor.encode(ct)) : ct;
}

/** A bare upstream whose `app/etc` holds `db.ini.age` (binary) and `sub/api.key.age` (armored), a clone, the identity file, an IsoGit. */
async function fixture() {
  const name = `s${++seq}`;
  const bare = path.join(tmp, `${name}.git`);
  await makeBare(bare, { 'app/etc/app.conf': 'v1\n', 'README.md': 'x\n' });
  const work = await WorkClone.open(bare, path.join(tmp, `${name}-work`));
  const identity = await generateX25519Identity();
  const recipient = await identityToRecipient(identity);
  const idFile = path.join(tmp, `${name}.key`);
  await writeFile(idFile, `# created: test\n# public key: ${recipient}\n${identity}\n`, { mode: 0o600 });
  await writeFile(path.join(work.dir, 'app/etc/db.ini.age'), await encrypt(PLAIN, recipient));
  await work.write('app/etc/sub/api.key.age', new TextDecoder().decode(await encrypt('api-key-42\n', recipient, true)));
  const first = await work.commit('secrets');
  await work.push();
  const g = new IsoGit(path.join(tmp, `${name}-state`));
  const src: SourceRef = { upstream: bare, branch: 'main', tokenFile: undefined };
  const co: CheckoutRef = { ...src, dir: path.join(tmp, `${name}-co`), links: ['app/etc'], ageIdentity: idFile };
  const deploy = async (ref: CheckoutRef = co, owner = undefined as Parameters<IsoGit['checkout']>[3]) => {
    const tip = await g.fetch(src);
    await g.prepare(ref, owner);
    await g.checkout(ref, await g.deployed(ref), tip, owner);
    return tip;
  };
  return { bare, work, g, src, co, idFile, recipient, first, deploy, file: (p: string) => path.join(co.dir, p) };
}

/** Every object of the store, as `git cat-file --batch` prints them. */
async function allObjects(store: string): Promise<string> {
  return git(['cat-file', '--batch-all-objects', '--batch'], { cwd: store });
}

test('binary and armored .age files are decrypted beside the tree, mode 0600, owned by the service user; no drift; never in the store', async () => {
  const f = await fixture();
  const owner = { user: 'nobody', uid: 65534, gid: 65534 };
  await f.deploy(f.co, owner);
  assert.equal(await readFile(f.file('app/etc/db.ini'), 'utf8'), PLAIN);
  assert.equal(await readFile(f.file('app/etc/sub/api.key'), 'utf8'), 'api-key-42\n');
  for (const p of ['app/etc/db.ini', 'app/etc/sub/api.key']) {
    const st = await stat(f.file(p));
    assert.equal(st.mode & 0o777, 0o600, `${p} is 0600`);
    assert.deepEqual([st.uid, st.gid], [65534, 65534], `${p} belongs to the service user`);
  }
  assert.ok(existsSync(f.file('app/etc/db.ini.age')), 'the encrypted file is checked out as it is');
  assert.deepEqual(await f.g.drift(f.co, (await f.g.deployed(f.co))!), [], 'the decrypted files are deployed, not added');
  const manifest = await stat(f.file('.git/gitopper-secrets.json'));
  assert.equal(manifest.mode & 0o777, 0o600, 'the manifest of digests is the agent\'s only');
  assert.ok(!(await readFile(f.file('.git/gitopper-secrets.json'), 'utf8')).includes('correct-horse'), 'the manifest holds digests, not plaintext');
  const objects = await allObjects(f.g.storeOf(f.src.upstream));
  assert.ok(objects.includes('app.conf'), 'the store was read');
  assert.ok(!objects.includes('correct-horse') && !objects.includes('api-key-42'), 'no plaintext in the object store');
  const status = await git(['-c', 'safe.directory=*', 'status', '--porcelain', '--untracked-files=all'], { cwd: f.co.dir });
  assert.match(status, /\?\? app\/etc\/db\.ini/, 'git itself sees db.ini as untracked: it was never added');
});

test('a file that does not decrypt fails the checkout with a SecretError and changes nothing', async () => {
  const f = await fixture();
  const first = await f.deploy();
  const other = await identityToRecipient(await generateX25519Identity());
  const cases: [string, () => Promise<Uint8Array>, RegExp][] = [
    ['wrong recipient', () => encrypt('password=new-secret\n', other), /app\/etc\/db\.ini\.age at [0-9a-f]{8} is not encrypted to this host's age identity .*age-keygen -y/],
    ['corrupt', async () => { const ct = await encrypt('password=new-secret\n', f.recipient); ct[ct.length - 5]! ^= 0xff; return ct; }, /cannot be decrypted with .*: it is corrupt \(invalid tag\)/],
    ['committed in clear', async () => new TextEncoder().encode('password=new-secret\n'), /is not an age-encrypted file \(it lacks the age header\)/],
    ['bad armor', async () => new TextEncoder().encode('-----BEGIN AGE ENCRYPTED FILE-----\n!!!!\n-----END AGE ENCRYPTED FILE-----\n'), /is not a valid ASCII-armored age file/],
  ];
  for (const [what, content, message] of cases) {
    await writeFile(path.join(f.work.dir, 'app/etc/db.ini.age'), await content());
    await f.work.write('app/etc/app.conf', `changed with ${what}\n`);
    await f.work.commit(what);
    await f.work.push();
    const err = await f.deploy().then(() => undefined, (e: unknown) => e);
    assert.ok(err instanceof SecretError, `${what}: a SecretError (${String(err)})`);
    assert.match(err.message, message, what);
    assert.ok(!err.message.includes('new-secret') && !err.message.includes('AGE-SECRET-KEY'), `${what}: no plaintext nor key in the message`);
    assert.equal(await f.g.deployed(f.co), first, `${what}: HEAD stays`);
    assert.equal(await readFile(f.file('app/etc/app.conf'), 'utf8'), 'v1\n', `${what}: tracked files unchanged`);
    assert.equal(await readFile(f.file('app/etc/db.ini'), 'utf8'), PLAIN, `${what}: the deployed secret unchanged`);
  }
});

test('the identity file must exist, be a regular file of root readable by its owner only, and hold an identity', async () => {
  const f = await fixture();
  const key = await readFile(f.idFile, 'utf8');
  const secretKey = /AGE-SECRET-KEY-1\S+/.exec(key)![0];
  const fails = async (re: RegExp) => {
    const err = await f.deploy().then(() => undefined, (e: unknown) => e);
    assert.ok(err instanceof SecretError, String(err));
    assert.match(err.message, re);
    assert.ok(!err.message.includes(secretKey) && !err.message.includes(secretKey.slice(0, 30)), 'the key is never quoted');
    assert.ok(!existsSync(f.file('app/etc/app.conf')), 'nothing was checked out');
  };
  await rm(f.idFile);
  await fails(/age identity .*\.key does not exist: create it \(age-keygen -o/);
  await writeFile(f.idFile, key, { mode: 0o644 });
  await chmod(f.idFile, 0o644);
  await fails(/is readable or writable by group or others \(mode 0644\); refusing to use it: chmod 600/);
  await chmod(f.idFile, 0o600);
  await chown(f.idFile, 65534, 65534);
  await fails(/is owned by uid 65534, not by root/);
  await chown(f.idFile, 0, 0);
  await writeFile(f.idFile, '# nothing\n');
  await fails(/holds no identity/);
  await writeFile(f.idFile, `${key.replace(/AGE-SECRET-KEY-1(.)/, (_m, c: string) => `AGE-SECRET-KEY-1${c === 'Q' ? 'P' : 'Q'}`)}`);
  await fails(/line 3 is not a valid age identity/);
  await writeFile(f.idFile, 'hello\n');
  await fails(/line 1 is not an age identity/);
  await writeFile(f.idFile, key);
  await f.deploy();
  assert.equal(await readFile(f.file('app/etc/db.ini'), 'utf8'), PLAIN, 'it works once the file is right');
});

test('a tracked file next to its .age is a conflict, neither is deployed', async () => {
  const f = await fixture();
  const first = await f.deploy();
  await f.work.write('app/etc/db.ini', 'tracked\n');
  await f.work.commit('conflict');
  await f.work.push();
  await assert.rejects(f.deploy(), (err: unknown) => err instanceof SecretError && /app\/etc\/db\.ini and app\/etc\/db\.ini\.age are both in the repository .*remove one of them upstream/.test(err.message));
  assert.equal(await f.g.deployed(f.co), first);
  assert.equal(await readFile(f.file('app/etc/db.ini'), 'utf8'), PLAIN);
});

test('drift: an edit, a deletion or a chmod of a decrypted file is drift; restore decrypts it again', async () => {
  const f = await fixture();
  const head = await f.deploy();
  const db = f.file('app/etc/db.ini');
  await writeFile(db, 'edited\n');
  assert.deepEqual(await f.g.drift(f.co, head), ['app/etc/db.ini']);
  await f.g.restore(f.co, head, ['app/etc/db.ini'], undefined);
  assert.equal(await readFile(db, 'utf8'), PLAIN);
  assert.equal((await stat(db)).mode & 0o777, 0o600);
  assert.deepEqual(await f.g.drift(f.co, head), []);
  await rm(db);
  assert.deepEqual(await f.g.drift(f.co, head), ['app/etc/db.ini'], 'a deleted decrypted file is drift');
  await f.g.restore(f.co, head, ['app/etc/db.ini'], undefined);
  await chmod(db, 0o644);
  assert.deepEqual(await f.g.drift(f.co, head), ['app/etc/db.ini'], 'a world-readable plaintext is drift');
  await writeFile(f.file('app/etc/app.conf'), 'edited\n');
  await f.g.restore(f.co, head, ['app/etc/db.ini', 'app/etc/app.conf'], undefined);
  assert.deepEqual(await f.g.drift(f.co, head), [], 'tracked and decrypted files restored together');
  assert.equal((await stat(db)).mode & 0o777, 0o600);
  await writeFile(f.file('app/etc/new.conf'), 'x\n');
  assert.deepEqual(await f.g.drift(f.co, head), ['app/etc/new.conf'], 'other untracked files are still drift');
});

test('upstream: a changed .age re-decrypts (and is a changed path), a removed .age removes its plaintext', async () => {
  const f = await fixture();
  const first = await f.deploy();
  await writeFile(path.join(f.work.dir, 'app/etc/db.ini.age'), await encrypt('password=rotated\n', f.recipient));
  const second = await f.work.commit('rotate');
  await f.work.push();
  await f.g.fetch(f.src);
  assert.deepEqual(await f.g.changedPaths(f.co, first, second), ['app/etc/db.ini.age', 'app/etc/db.ini']);
  await f.deploy();
  assert.equal(await readFile(f.file('app/etc/db.ini'), 'utf8'), 'password=rotated\n');
  assert.deepEqual(await f.g.drift(f.co, second), []);
  await f.work.remove('app/etc/db.ini.age');
  const third = await f.work.commit('drop');
  await f.work.push();
  await f.deploy();
  assert.ok(!existsSync(f.file('app/etc/db.ini')), 'the plaintext went with its .age');
  assert.equal(await readFile(f.file('app/etc/sub/api.key'), 'utf8'), 'api-key-42\n', 'the other secret stays');
  assert.deepEqual(await f.g.drift(f.co, third), []);
  // the .age replaced by a tracked file of the same name: the tracked file is deployed
  await writeFile(path.join(f.work.dir, 'app/etc/sub/api.key'), 'now public\n');
  await f.work.remove('app/etc/sub/api.key.age');
  const fourth = await f.work.commit('public');
  await f.work.push();
  await f.deploy();
  assert.equal(await readFile(f.file('app/etc/sub/api.key'), 'utf8'), 'now public\n');
  assert.deepEqual(await f.g.drift(f.co, fourth), []);
});

test('a checkout made before age_identity was set gets its secrets decrypted at the next prepare', async () => {
  const f = await fixture();
  const plain: CheckoutRef = { ...f.co, ageIdentity: undefined };
  const head = await f.deploy(plain);
  assert.ok(!existsSync(f.file('app/etc/db.ini')), 'nothing decrypted without age_identity');
  assert.deepEqual(await f.g.drift(plain, head), []);
  await f.g.prepare(f.co, undefined);
  assert.equal(await readFile(f.file('app/etc/db.ini'), 'utf8'), PLAIN);
  assert.deepEqual(await f.g.drift(f.co, head), []);
});

test('the core: a SecretError from the checkout is BROKEN (a git error stays DIFF), and the deployed commit is kept', async () => {
  const git = new FakeGit();
  git.push('c1', { 'grafana/etc/grafana.ini': 'v1' });
  const d = { git, mounts: new FakeMounts(), units: new FakeUnits(), users: new FakeUsers(), clock: new ManualClock() };
  await reconcile(spec(), 'c1', { pendingAction: false }, d);
  git.push('c2', { 'grafana/etc/grafana.ini': 'v2' });
  git.failCheckout = new SecretError('grafana/etc/db.ini.age at c2 is not encrypted to this host\'s age identity /k', { path: 'grafana/etc/db.ini.age' });
  const out = await reconcile(spec(), 'c2', { pendingAction: false }, d);
  assert.equal(out.state, 'BROKEN');
  assert.match(out.info, /checking out c2: .*db\.ini\.age at c2 is not encrypted/);
  assert.equal(out.commit, 'c1');
  git.failCheckout = new Error('disk full');
  assert.equal((await reconcile(spec(), 'c2', { pendingAction: false }, d)).state, 'DIFF');
});
