/**
 * The signature adapter (src/adapters/verify/) on real OpenPGP-signed commits: keys made and commits
 * signed by openpgp.js (a detached armored signature over the commit, as gpg makes it for git), put in
 * git's `gpgsig` header and stored by git; read back from the object store.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { CommitSignatures } from '../src/adapters/verify/signatures.js';
import type { SignatureVerdict } from '../src/ports/trust.js';
import { makeBare, removeDirs, tmpDir, WorkClone } from './rig/repo.js';
import { catCommit, commitSignedBy, pgpKey, pgpSigner, revokedArmored, sshKey, sshSigner, storeCommit, type PgpKey } from './rig/signing.js';

let dir: string;
let clone: WorkClone;
let signatures: CommitSignatures;
let alice: PgpKey;
let bob: PgpKey;
let mallory: PgpKey;
const source = { upstream: 'https://example.org/cfg', branch: 'main', tokenFile: undefined };
const T0 = new Date('2026-03-01T00:00:00Z');
const hours = (h: number) => new Date(T0.getTime() + h * 3600_000);

before(async () => {
  dir = await tmpDir('verify-pgp');
  await makeBare(path.join(dir, 'up.git'), { 'etc/a.conf': 'a\n' });
  clone = await WorkClone.open(path.join(dir, 'up.git'), path.join(dir, 'work'));
  signatures = new CommitSignatures(() => path.join(clone.dir, '.git'));
  alice = await pgpKey('Alice', 'alice@example.org', T0);
  bob = await pgpKey('Bob', 'bob@example.org', T0);
  mallory = await pgpKey('Mallory', 'mallory@example.org', T0);
});

after(async () => {
  await removeDirs(dir);
});

async function keysFile(name: string, ...armored: string[]): Promise<string> {
  const file = path.join(dir, name);
  await fs.writeFile(file, armored.join('\n'));
  return file;
}

let n = 0;
async function signedBy(key: PgpKey, at = hours(1)): Promise<string> {
  await clone.write('etc/a.conf', `pgp ${++n}\n`);
  return commitSignedBy(clone, `pgp ${n}`, pgpSigner(key, at));
}

function verdict(oid: string, file: string, at = hours(2)): Promise<SignatureVerdict> {
  return signatures.verify(source, oid, { openpgpKeys: file }, at);
}

function refused(v: SignatureVerdict, pattern: RegExp): void {
  assert.equal(v.ok, false, `expected a refusal, got ${JSON.stringify(v)}`);
  if (!v.ok) assert.match(v.reason, pattern);
}

test('a commit signed by a key in the file is accepted; the signer is its primary user ID; several keys in the file', async () => {
  const oid = await signedBy(bob);
  const raw = await catCommit(clone, oid);
  assert.match(raw, /\ngpgsig -----BEGIN PGP SIGNATURE-----\n \n /, 'git\'s format: the armor\'s blank line is a lone space');
  const file = await keysFile('team.asc', alice.publicArmored, bob.publicArmored);
  assert.deepEqual(await verdict(oid, file), { ok: true, signer: 'Bob <bob@example.org>' });
});

test('an unknown key is named by its fingerprint', async () => {
  const oid = await signedBy(mallory);
  const file = await keysFile('alice.asc', alice.publicArmored);
  refused(await verdict(oid, file), new RegExp(`^signed by an unknown OpenPGP key ${mallory.fingerprint}: it is not in .*alice\\.asc$`));
});

test('a tampered commit (message changed, signature kept) does not verify', async () => {
  const good = await signedBy(alice);
  const bad = await storeCommit(clone, (await catCommit(clone, good)).replace(/\n\npgp \d+\n$/, '\n\nsomething else\n'));
  const file = await keysFile('alice2.asc', alice.publicArmored);
  assert.deepEqual(await verdict(good, file), { ok: true, signer: 'Alice <alice@example.org>' });
  refused(await verdict(bad, file), /^signature does not verify \(OpenPGP key [0-9A-F]{40}\): the commit was changed after it was signed/);
});

test('an expired key is refused, naming when it expired; before its expiry it was accepted', async () => {
  const shortLived = await pgpKey('Temp', 'temp@example.org', T0, 24 * 3600);
  const oid = await signedBy(shortLived, hours(1));
  const file = await keysFile('temp.asc', shortLived.publicArmored);
  assert.deepEqual(await verdict(oid, file, hours(2)), { ok: true, signer: 'Temp <temp@example.org>' });
  refused(await verdict(oid, file, hours(48)), new RegExp(`^OpenPGP key ${shortLived.fingerprint} \\(Temp <temp@example.org>\\) expired at 2026-03-02T00:00:00Z$`));
});

test('a revoked key (its revocation in the keys file) is refused', async () => {
  const oid = await signedBy(bob);
  const file = await keysFile('revoked.asc', await revokedArmored(bob));
  refused(await verdict(oid, file), new RegExp(`^OpenPGP key ${bob.fingerprint} \\(Bob <bob@example.org>\\) is revoked$`));
});

test('an unsigned commit, an SSH signature under openpgp_keys only, a bad keys file', async () => {
  await clone.write('etc/a.conf', 'plain\n');
  const plain = await clone.commit('plain');
  const file = await keysFile('alice3.asc', alice.publicArmored);
  refused(await verdict(plain, file), /^not signed \(verify requires a signature by a key of .*alice3\.asc\)$/);
  const ssh = await sshKey(dir, 'k', 'ed25519');
  await clone.write('etc/a.conf', 'ssh\n');
  const sshSigned = await commitSignedBy(clone, 'ssh', sshSigner(ssh));
  refused(await verdict(sshSigned, file), /^signed with an SSH key, but verify names no allowed_signers file/);
  const oid = await signedBy(alice);
  await assert.rejects(verdict(oid, await keysFile('junk.asc', 'not a key')), /openpgp_keys file .*junk\.asc holds no usable armored public key/);
  await assert.rejects(verdict(oid, path.join(dir, 'absent.asc')), /the openpgp_keys file .*absent\.asc cannot be read \(ENOENT\)/);
  // with both files, either kind of signature is checked against its own file
  const both = { openpgpKeys: file, allowedSigners: await keysFile('allowed', `k@example.org ${ssh.pub}`) };
  assert.deepEqual(await signatures.verify(source, oid, both, hours(2)), { ok: true, signer: 'Alice <alice@example.org>' });
  assert.deepEqual(await signatures.verify(source, sshSigned, both, hours(2)), { ok: true, signer: 'k@example.org' });
});

test('a malformed OpenPGP signature is refused as malformed', async () => {
  await clone.write('etc/a.conf', 'broken\n');
  const oid = await commitSignedBy(clone, 'broken', async () => '-----BEGIN PGP SIGNATURE-----\n\nAAAA\n-----END PGP SIGNATURE-----\n');
  refused(await verdict(oid, await keysFile('alice4.asc', alice.publicArmored)), /^its OpenPGP signature is malformed/);
});
