/**
 * The signature adapter (src/adapters/verify/) on real SSH-signed commits: keys from ssh-keygen,
 * commits signed by git (`gpg.format=ssh`) or by `ssh-keygen -Y sign`, read from a real object store.
 * Where the time rules do not differ, each verdict is checked against `git verify-commit` with the
 * same allowed signers file (git runs `ssh-keygen -Y find-principals` and `-Y verify`).
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { CommitSignatures } from '../src/adapters/verify/signatures.js';
import type { SignatureVerdict } from '../src/ports/trust.js';
import { git, makeBare, removeDirs, tmpDir, WorkClone } from './rig/repo.js';
import { catCommit, commitSignedBy, run, sshKey, sshSignedCommit, sshSigner, storeCommit, type SshKey } from './rig/signing.js';

let dir: string;
let clone: WorkClone;
let signatures: CommitSignatures;
const keys: Record<string, SshKey> = {};
const source = { upstream: 'https://example.org/cfg', branch: 'main', tokenFile: undefined };
const NOW = new Date('2026-06-01T12:00:00Z');

before(async () => {
  dir = await tmpDir('verify-ssh');
  await makeBare(path.join(dir, 'up.git'), { 'etc/a.conf': 'a\n' });
  clone = await WorkClone.open(path.join(dir, 'up.git'), path.join(dir, 'work'));
  const gitdir = path.join(clone.dir, '.git');
  signatures = new CommitSignatures((upstream) => {
    assert.equal(upstream, source.upstream);
    return gitdir;
  });
  keys.ed = await sshKey(dir, 'alice', 'ed25519');
  keys.ec256 = await sshKey(dir, 'ec256', 'ecdsa', 256);
  keys.ec384 = await sshKey(dir, 'ec384', 'ecdsa', 384);
  keys.ec521 = await sshKey(dir, 'ec521', 'ecdsa', 521);
  keys.rsa = await sshKey(dir, 'rsa', 'rsa', 3072);
  keys.mallory = await sshKey(dir, 'mallory', 'ed25519');
});

after(async () => {
  await removeDirs(dir);
});

/** An allowed signers file with `lines`; resolves with its path. */
async function allowed(name: string, ...lines: string[]): Promise<string> {
  const file = path.join(dir, name);
  await fs.writeFile(file, lines.join('\n') + '\n');
  return file;
}

let n = 0;
/** A new commit signed by git with `key`. */
async function signed(key: SshKey): Promise<string> {
  await clone.write('etc/a.conf', `change ${++n}\n`);
  return sshSignedCommit(clone, key, `change ${n}`);
}

/** `git verify-commit` with `file` as gpg.ssh.allowedSignersFile: true when git accepts the commit. */
async function gitAccepts(oid: string, file: string): Promise<boolean> {
  return git(['-c', `gpg.ssh.allowedSignersFile=${file}`, 'verify-commit', oid], { cwd: clone.dir }).then(() => true, () => false);
}

async function verdict(oid: string, file: string, at = NOW): Promise<SignatureVerdict> {
  return signatures.verify(source, oid, { allowedSigners: file }, at);
}

function refused(v: SignatureVerdict, pattern: RegExp): void {
  assert.equal(v.ok, false, `expected a refusal, got ${JSON.stringify(v)}`);
  if (!v.ok) assert.match(v.reason, pattern);
}

test('a commit signed by git with each supported key type is accepted, signer = the line\'s principals; git agrees', async () => {
  for (const [name, key] of Object.entries(keys)) {
    if (name === 'mallory') continue;
    const oid = await signed(key);
    const file = await allowed(`as-${name}`, `${name}@example.org ${key.pub}`);
    assert.deepEqual(await verdict(oid, file), { ok: true, signer: `${name}@example.org` }, name);
    assert.equal(await gitAccepts(oid, file), true, `git accepts ${name}`);
  }
});

test('the payload is the commit byte for byte: CR, trailing blank lines, non-ASCII bytes under an encoding header verify; git agrees', async () => {
  await clone.write('etc/a.conf', 'verbatim\n');
  await clone.git('add', '-A');
  await git(['-c', 'gpg.format=ssh', '-c', `user.signingkey=${keys.ed!.file}`, '-c', 'i18n.commitEncoding=ISO-8859-1', 'commit', '--quiet', '-S', '--cleanup=verbatim', '-F', '-'],
    { cwd: clone.dir, input: 'caf\xe9 line\r\n\n\n\n' });
  const oid = await clone.head();
  assert.match(await catCommit(clone, oid), /\nencoding ISO-8859-1\n/);
  const file = await allowed('verbatim', `alice@example.org ${keys.ed!.pub}`);
  assert.deepEqual(await verdict(oid, file), { ok: true, signer: 'alice@example.org' });
  assert.equal(await gitAccepts(oid, file), true);
});

test('an unsigned commit is refused as "not signed"', async () => {
  await clone.write('etc/a.conf', 'unsigned\n');
  const oid = await clone.commit('unsigned');
  const file = await allowed('unsigned', `alice@example.org ${keys.ed!.pub}`);
  refused(await verdict(oid, file), /^not signed \(verify requires a signature by an allowed signer of .*unsigned\)$/);
  assert.equal(await gitAccepts(oid, file), false);
});

test('a key not in the file is "signed by an unknown key SHA256:…", naming the file; git agrees', async () => {
  const oid = await signed(keys.mallory!);
  const file = await allowed('unknown', `alice@example.org ${keys.ed!.pub}`, `rsa@example.org ${keys.rsa!.pub}`);
  const v = await verdict(oid, file);
  refused(v, /^signed by an unknown key SHA256:\S+ \(ED25519\): it is not in .*unknown$/);
  if (!v.ok) assert.ok(v.reason.includes(keys.mallory!.fingerprint), `names ${keys.mallory!.fingerprint}: ${v.reason}`);
  assert.equal(await gitAccepts(oid, file), false);
});

test('a tampered commit (message changed, signature kept) does not verify; git agrees', async () => {
  const good = await signed(keys.ed!);
  const text = await catCommit(clone, good);
  const bad = await storeCommit(clone, text.replace(/\n\nchange \d+\n$/, '\n\nchange to something else\n'));
  assert.notEqual(bad, good);
  const file = await allowed('tampered', `alice@example.org ${keys.ed!.pub}`);
  refused(await verdict(bad, file), /^signature does not verify \(key SHA256:\S+\): the commit was changed after it was signed/);
  assert.equal(await gitAccepts(bad, file), false);
  // the same signature over another tree: a file swapped under a kept message
  const swapped = await storeCommit(clone, text.replace(/^tree [0-9a-f]{40}/, `tree ${(await clone.git('rev-parse', `${good}~1^{tree}`)).trim()}`));
  refused(await verdict(swapped, file), /^signature does not verify/);
});

test('a signature in another namespace than "git" is refused; git agrees', async () => {
  await clone.write('etc/a.conf', 'file namespace\n');
  const oid = await commitSignedBy(clone, 'namespace file', sshSigner(keys.ed!, 'file'));
  const file = await allowed('ns', `alice@example.org ${keys.ed!.pub}`);
  refused(await verdict(oid, file), /^its SSH signature is for namespace "file", not "git"/);
  assert.equal(await gitAccepts(oid, file), false);
  // signed in "git" by ssh-keygen directly (not by git commit -S): the same bytes git would sign, accepted
  await clone.write('etc/a.conf', 'git namespace\n');
  const ok = await commitSignedBy(clone, 'namespace git', sshSigner(keys.ed!, 'git'));
  assert.deepEqual(await verdict(ok, file), { ok: true, signer: 'alice@example.org' });
  assert.equal(await gitAccepts(ok, file), true);
});

test('namespaces="…" on the line: a list without git refuses, a pattern that matches git accepts; git agrees', async () => {
  const oid = await signed(keys.ed!);
  const no = await allowed('ns-no', `alice@example.org namespaces="file,email" ${keys.ed!.pub}`);
  refused(await verdict(oid, no), /^key SHA256:\S+ \(alice@example\.org\) is not allowed to sign in namespace "git" \(namespaces="file,email" on line 1 of .*ns-no\)$/);
  assert.equal(await gitAccepts(oid, no), false);
  const yes = await allowed('ns-yes', `alice@example.org namespaces="file,g?t" ${keys.ed!.pub}`);
  assert.deepEqual(await verdict(oid, yes), { ok: true, signer: 'alice@example.org' });
  assert.equal(await gitAccepts(oid, yes), true);
  const negated = await allowed('ns-neg', `alice@example.org namespaces="*,!git" ${keys.ed!.pub}`);
  refused(await verdict(oid, negated), /not allowed to sign in namespace "git"/);
});

test('valid-after / valid-before are checked at the time given (not the commit\'s own date)', async () => {
  const oid = await signed(keys.ed!);
  const file = await allowed('times', `alice@example.org valid-after="20270101Z",valid-before="20271231235959Z" ${keys.ed!.pub}`);
  refused(await verdict(oid, file, new Date('2026-12-31T23:59:59Z')), /^key SHA256:\S+ \(alice@example\.org\) is not valid before 2027-01-01T00:00:00Z \(valid-after on line 1 of .*times\)$/);
  assert.deepEqual(await verdict(oid, file, new Date('2027-01-01T00:00:00Z')), { ok: true, signer: 'alice@example.org' }, 'valid-after is inclusive');
  assert.deepEqual(await verdict(oid, file, new Date('2027-12-31T23:59:59Z')), { ok: true, signer: 'alice@example.org' }, 'valid-before is inclusive');
  refused(await verdict(oid, file, new Date('2028-01-01T00:00:00Z')), /^key SHA256:\S+ \(alice@example\.org\) expired at 2027-12-31T23:59:59Z \(valid-before on line 1/);
});

test('several lines: the first line of the key that allows it names the signer; others are skipped', async () => {
  const oid = await signed(keys.ed!);
  const file = await allowed('many',
    '# the team',
    '',
    `bob@example.org ${keys.rsa!.pub}`,
    `old-alice@example.org valid-before="20200101Z" ${keys.ed!.pub}`,
    `"alice@example.org,*@ops.example.org" namespaces="git" ${keys.ed!.pub} alice's laptop`,
    `carol@example.org ${keys.ec256!.pub}`);
  assert.deepEqual(await verdict(oid, file), { ok: true, signer: 'alice@example.org,*@ops.example.org' });
  assert.equal(await gitAccepts(oid, file), true);
  // only the expired line left: its reason is given
  const expired = await allowed('many-expired', `bob@example.org ${keys.rsa!.pub}`, `old-alice@example.org valid-before="20200101Z" ${keys.ed!.pub}`);
  refused(await verdict(oid, expired), /\(old-alice@example\.org\) expired at 20(19-12-31|20-01-01)/);
});

test('cert-authority lines are not supported: the reason says so; a bad line is skipped and reported', async () => {
  const oid = await signed(keys.ed!);
  const ca = await allowed('ca', `*@example.org cert-authority ${keys.ed!.pub}`);
  refused(await verdict(oid, ca), /^signed by an unknown key SHA256:\S+ \(ED25519\): it is not in .*ca; its cert-authority lines are not supported/);
  const bad = await allowed('bad-line', `alice@example.org bogus-option ${keys.mallory!.pub}`, `bob@example.org ${keys.rsa!.pub}`);
  refused(await verdict(oid, bad), /unknown key.*1 line\(s\) of it were skipped \(line 1: bad options: unknown key option at "bogus-option"/);
  // a bad line does not spoil the good ones
  const mixed = await allowed('mixed', 'alice@example.org valid-after="2027" ' + keys.ed!.pub, `alice@example.org ${keys.ed!.pub}`);
  assert.deepEqual(await verdict(oid, mixed), { ok: true, signer: 'alice@example.org' });
  assert.equal(await gitAccepts(oid, mixed), true);
});

test('a commit signed with an SSH certificate is refused: certificates are not supported', async () => {
  const caKey = await sshKey(dir, 'ca-key', 'ed25519');
  const user = await sshKey(dir, 'certuser', 'ed25519');
  await run('ssh-keygen', ['-q', '-s', caKey.file, '-I', 'certuser', '-n', 'certuser@example.org', `${user.file}.pub`]);
  await clone.write('etc/a.conf', 'cert\n');
  // ssh-keygen -Y sign -f <cert>.pub signs with the private key beside it and puts the certificate in the signature
  const oid = await commitSignedBy(clone, 'cert', sshSigner({ ...user, file: `${user.file}-cert.pub` }));
  const file = await allowed('cert', `*@example.org cert-authority ${caKey.pub}`);
  refused(await verdict(oid, file), /SSH certificate .*cert-authority lines are not supported/);
});

test('a policy file that cannot be read throws (the core refuses with "cannot check its signature")', async () => {
  const oid = await signed(keys.ed!);
  await assert.rejects(verdict(oid, path.join(dir, 'missing')), /the allowed_signers file .*missing cannot be read \(ENOENT\)/);
});

test('an SSH signature without allowed_signers, or an unknown format, is refused with what to configure', async () => {
  const oid = await signed(keys.ed!);
  const v = await signatures.verify(source, oid, { openpgpKeys: path.join(dir, 'none.asc') }, NOW);
  refused(v, /^signed with an SSH key, but verify names no allowed_signers file/);
  await clone.write('etc/a.conf', 'x509\n');
  const x509 = await commitSignedBy(clone, 'x509', async () => '-----BEGIN SIGNED MESSAGE-----\nMIAGCSqGSIb3DQEHAqCAMIACAQEx\n-----END SIGNED MESSAGE-----\n');
  refused(await verdict(x509, path.join(dir, 'as-ed')), /format this agent does not check \(SIGNED MESSAGE/);
  await clone.write('etc/a.conf', 'garbage\n');
  const garbage = await commitSignedBy(clone, 'garbage', async () => '-----BEGIN SSH SIGNATURE-----\nU1NIU0lHAAAAAQ==\n-----END SSH SIGNATURE-----\n');
  refused(await verdict(garbage, path.join(dir, 'as-ed')), /SSH signature is malformed \(truncated/);
});
