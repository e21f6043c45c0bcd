/**
 * Test rig: real signed commits. SSH keys come from `ssh-keygen`, SSH-signed commits from
 * `git commit -S` with `gpg.format=ssh` (git runs `ssh-keygen -Y sign -n git`), or from
 * `ssh-keygen -Y sign` over a commit built with git's plumbing (to sign in another namespace);
 * OpenPGP keys and signatures from openpgp.js (no gpg binary), put into git's `gpgsig` header the
 * way git writes it, and stored with `git hash-object -t commit -w`.
 */
import { execFile } from 'node:child_process';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import * as openpgp from 'openpgp';
import { git, type WorkClone } from './repo.js';

/** Run `cmd args` with `input` on stdin; resolves with stdout, rejects with stderr in the message. */
export function run(cmd: string, args: string[], input?: string | Buffer): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = execFile(cmd, args, { encoding: 'utf8', maxBuffer: 16 * 1024 * 1024 }, (err, stdout, stderr) =>
      err ? reject(new Error(`${cmd} ${args.join(' ')} failed: ${stderr.trim() || err.message}`)) : resolve(stdout));
    // a program that exits without reading its stdin (ssh-keygen -l) must not fail the write with EPIPE
    child.stdin?.on('error', () => {});
    child.stdin?.end(input ?? '');
  });
}

/** An SSH key pair made by ssh-keygen. */
export interface SshKey {
  /** The private key file. */
  readonly file: string;
  /** The public key line (`ssh-ed25519 AAAA… comment`), no newline. */
  readonly pub: string;
  /** `SHA256:…` as ssh-keygen prints it. */
  readonly fingerprint: string;
}

/** `ssh-keygen -t type [-b bits]` into `dir/name` (no passphrase). */
export async function sshKey(dir: string, name: string, type: 'ed25519' | 'ecdsa' | 'rsa', bits?: number): Promise<SshKey> {
  const file = path.join(dir, name);
  await run('ssh-keygen', ['-q', '-t', type, ...(bits ? ['-b', String(bits)] : []), '-N', '', '-C', `${name}@rig`, '-f', file]);
  const pub = (await fs.readFile(`${file}.pub`, 'utf8')).trim();
  const fingerprint = (await run('ssh-keygen', ['-l', '-E', 'sha256', '-f', `${file}.pub`])).split(' ')[1]!;
  return { file, pub, fingerprint };
}

/** Stage everything and commit signed with `key` by git itself (`gpg.format=ssh`); resolves with the commit id. */
export async function sshSignedCommit(clone: WorkClone, key: SshKey, msg: string): Promise<string> {
  await clone.git('add', '-A');
  await git(['-c', 'gpg.format=ssh', '-c', `user.signingkey=${key.file}`, 'commit', '--quiet', '--allow-empty', '-S', '-m', msg], { cwd: clone.dir });
  return clone.head();
}

/** An armored signature of `payload` (the commit without `gpgsig`), made by the caller's signer. */
export type Signer = (payload: string) => Promise<string>;

/** `ssh-keygen -Y sign -n namespace -f key` over the payload (git uses namespace `git`). */
export function sshSigner(key: SshKey, namespace = 'git'): Signer {
  return (payload) => run('ssh-keygen', ['-q', '-Y', 'sign', '-n', namespace, '-f', key.file], payload);
}

/**
 * Stage everything and make a commit (parent: HEAD) whose `gpgsig` is `sign(payload)`, as git writes
 * signed commits (git's doc "signature-format": header after `committer`, continuation lines
 * indented by one space); HEAD moves there. Resolves with the commit id.
 */
export async function commitSignedBy(clone: WorkClone, msg: string, sign: Signer): Promise<string> {
  await clone.git('add', '-A');
  const tree = (await clone.git('write-tree')).trim();
  const parent = (await clone.git('rev-parse', 'HEAD')).trim();
  const who = 'Gitopper Rig <rig@gitopper.invalid> 1700000000 +0000';
  const payload = `tree ${tree}\nparent ${parent}\nauthor ${who}\ncommitter ${who}\n\n${msg}\n`;
  return storeCommit(clone, withSignature(payload, await sign(payload)));
}

/** `payload` with a `gpgsig` header holding `armored`, after the last header line. */
export function withSignature(payload: string, armored: string): string {
  const end = payload.indexOf('\n\n');
  const header = `gpgsig ${armored.replace(/\n+$/, '').split('\n').join('\n ')}`;
  return `${payload.slice(0, end)}\n${header}${payload.slice(end)}`;
}

/** Write commit object `text` with git and point HEAD at it; resolves with its id. */
export async function storeCommit(clone: WorkClone, text: string): Promise<string> {
  const oid = (await git(['hash-object', '-t', 'commit', '-w', '--stdin'], { cwd: clone.dir, input: text })).trim();
  await clone.git('update-ref', 'HEAD', oid);
  await clone.git('reset', '--quiet', '--hard', oid);
  return oid;
}

/** The raw commit object `oid` (`git cat-file commit`). */
export function catCommit(clone: WorkClone, oid: string): Promise<string> {
  return clone.git('cat-file', 'commit', oid);
}

/** An OpenPGP key pair made by openpgp.js. */
export interface PgpKey {
  readonly privateKey: openpgp.PrivateKey;
  /** The armored public key. */
  readonly publicArmored: string;
  /** Upper-case hex fingerprint. */
  readonly fingerprint: string;
  readonly revocationCertificate: string;
}

/** A new ECC (Ed25519) OpenPGP key for `name <email>`, created at `date`, expiring after `expiresSeconds` (0 = never). */
export async function pgpKey(name: string, email: string, date = new Date(), expiresSeconds = 0): Promise<PgpKey> {
  const { privateKey, publicKey, revocationCertificate } = await openpgp.generateKey({ type: 'ecc', userIDs: [{ name, email }], date, keyExpirationTime: expiresSeconds, format: 'object' });
  return { privateKey, publicArmored: publicKey.armor(), fingerprint: publicKey.getFingerprint().toUpperCase(), revocationCertificate };
}

/** Detached armored OpenPGP signature of the payload's bytes (as `gpg --detach-sign --armor` makes for git), dated `date`. */
export function pgpSigner(key: PgpKey, date = new Date()): Signer {
  return async (payload) => {
    const message = await openpgp.createMessage({ binary: Buffer.from(payload, 'utf8') });
    return (await openpgp.sign({ message, signingKeys: key.privateKey, detached: true, format: 'armored', date })) as string;
  };
}

/** The armored public key of `key` with its revocation certificate applied. */
export async function revokedArmored(key: PgpKey): Promise<string> {
  const { publicKey } = await openpgp.revokeKey({ key: key.privateKey, revocationCertificate: key.revocationCertificate, format: 'object' });
  return publicKey.armor();
}
