/**
 * SSH keys and signed requests for tests: keys made by the real `ssh-keygen` in a temp dir, the
 * API's auth options over them, and a signing `fetch` that uses gitopperctl's own signing code.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { AuthOptions } from '../../src/http/auth.js';
import { fixedKeys, KeyRing } from '../../src/http/keyring.js';
import { ownNames } from '../../src/http/server.js';
import { parsePrivateKey, type SigAlg } from '../../src/api/keys.js';
import { keySigner, signRequest, type RequestSigner, type SignOptions } from '../../src/ctl/signer.js';

/** A key pair on disk. */
export interface TestKey {
  /** Private key file (OpenSSH format). */
  readonly file: string;
  /** `<file>.pub` */
  readonly pub: string;
  /** `SHA256:…` as ssh-keygen -l prints it. */
  readonly fingerprint: string;
  readonly comment: string;
  /** What the API records as `by`. */
  readonly by: string;
}

/** A fresh temp dir for keys, removed when the test process exits. */
export function keyDir(prefix = 'gitopper-keys-'): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), prefix));
  process.once('exit', () => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** `ssh-keygen -t type [-b bits] -N passphrase -C comment -f <dir>/<name>`. */
export function makeKey(dir: string, name: string, type: 'ed25519' | 'ecdsa' | 'rsa', opts: { bits?: number; passphrase?: string; comment?: string } = {}): TestKey {
  const file = path.join(dir, name);
  const comment = opts.comment ?? `${name}@test`;
  execFileSync('ssh-keygen', ['-q', '-t', type, ...(opts.bits ? ['-b', String(opts.bits)] : []), '-N', opts.passphrase ?? '', '-C', comment, '-f', file]);
  const fingerprint = execFileSync('ssh-keygen', ['-l', '-E', 'sha256', '-f', `${file}.pub`], { encoding: 'utf8' }).split(' ')[1]!;
  return { file, pub: `${file}.pub`, fingerprint, comment, by: `${fingerprint} ${comment}` };
}

/** An authorized_keys file at `<dir>/<name>` holding the public keys of `keys`. */
export function keyFile(dir: string, name: string, keys: readonly TestKey[]): string {
  const file = path.join(dir, name);
  writeFileSync(file, keys.map((k) => readFileSync(k.pub, 'utf8')).join(''));
  return file;
}

/** Auth options over `rw` (read-write) and `ro` (read-only) authorized_keys files, any loopback name. */
export function testAuth(rw: string, ro?: string, log?: AuthOptions['log']): AuthOptions {
  const specs = [{ path: rw, ro: false }, ...(ro === undefined ? [] : [{ path: ro, ro: true }])];
  return { keys: new KeyRing(fixedKeys(specs)), names: ownNames([]), ...(log === undefined ? {} : { log }) };
}

/** gitopperctl's signer over an unencrypted test key (`alg` for RSA: v1.5 or PSS). */
export function signerOf(key: TestKey, alg?: SigAlg): RequestSigner {
  return keySigner(parsePrivateKey(readFileSync(key.file), key.file), key.file, alg);
}

/** A fetch that signs each request with `signer` (options change the signature, for attacks). */
export function signedFetch(signer: RequestSigner, opts: SignOptions = {}): typeof fetch {
  return (async (input: string | URL | Request, init: RequestInit = {}) => {
    const url = String(input);
    const headers: Record<string, string> = Object.fromEntries(new Headers(init.headers).entries());
    const body = typeof init.body === 'string' ? init.body : undefined;
    const sig = await signRequest(signer, { method: init.method ?? 'GET', url, headers, ...(body === undefined ? {} : { body }) }, opts);
    return fetch(url, { ...init, headers: { ...headers, ...sig } });
  }) as typeof fetch;
}
