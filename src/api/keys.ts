/**
 * OpenSSH keys as RFC 9421 keys: parsing (with sshpk), fingerprints, and the signature algorithm
 * each key may use (RFC 9421 §3.3). Shared by the daemon (authorized_keys files of `[global].keys`)
 * and gitopperctl (`-i KEYFILE`, ssh-agent identities). No crypto of its own: keys become
 * node:crypto KeyObjects and are used by node:crypto (through http-message-signatures).
 */
import { createPrivateKey, createPublicKey, type KeyObject } from 'node:crypto';
import sshpk from 'sshpk';
import { GitopperError } from '../errors/gitopper-error.js';

/** RFC 9421 §6.2.2 algorithm names this project signs and verifies with. */
export type SigAlg = 'ed25519' | 'ecdsa-p256-sha256' | 'ecdsa-p384-sha384' | 'rsa-v1_5-sha256' | 'rsa-pss-sha512';

/** Smallest RSA modulus accepted, in bits. */
export const MIN_RSA_BITS = 2048;

/** A key that cannot be used: unparseable, unsupported type, RSA below {@link MIN_RSA_BITS}. */
export class KeyError extends GitopperError {
  readonly code: string = 'KEY';
}

/** A private key file that needs a passphrase (none given, or a wrong one: see `wrong`). */
export class KeyPassphraseError extends KeyError {
  override readonly code = 'KEY_PASSPHRASE';
  constructor(message: string, readonly wrong: boolean) {
    super(message, { wrong });
  }
}

/** A usable public key. */
export interface PublicKeyInfo {
  /** OpenSSH SHA256 fingerprint, `SHA256:` + unpadded base64 (what `ssh-keygen -l` prints): the RFC 9421 `keyid`. */
  readonly fingerprint: string;
  /** sshpk type: `ed25519`, `ecdsa`, `rsa`. */
  readonly type: string;
  readonly bits: number;
  /** The key's comment (`miek@limos`), "" when none. */
  readonly comment: string;
  /** Algorithms this key may sign with, the default first. */
  readonly algs: readonly SigAlg[];
  /** node:crypto public key. */
  readonly key: KeyObject;
}

/**
 * The RFC 9421 algorithms an SSH key may use: Ed25519 → `ed25519`; ECDSA P-256 / P-384 →
 * `ecdsa-p256-sha256` / `ecdsa-p384-sha384`; RSA ≥ 2048 bits → `rsa-v1_5-sha256`, `rsa-pss-sha512`.
 * Throws KeyError for anything else (DSA, P-521, FIDO `sk-` keys, short RSA).
 */
export function algsFor(key: sshpk.Key | sshpk.PrivateKey): SigAlg[] {
  switch (key.type) {
    case 'ed25519':
      return ['ed25519'];
    case 'ecdsa':
      if (key.curve === 'nistp256') return ['ecdsa-p256-sha256'];
      if (key.curve === 'nistp384') return ['ecdsa-p384-sha384'];
      throw new KeyError(`ECDSA curve ${key.curve ?? '?'} is not supported (RFC 9421 defines P-256 and P-384): use an ed25519 key`);
    case 'rsa':
      if (key.size < MIN_RSA_BITS) throw new KeyError(`RSA key of ${key.size} bits is too short: at least ${MIN_RSA_BITS} (ssh-keygen -t ed25519 makes a better one)`);
      return ['rsa-v1_5-sha256', 'rsa-pss-sha512'];
    default:
      throw new KeyError(`${key.type} keys are not supported: use ed25519, ecdsa (P-256) or rsa (≥ ${MIN_RSA_BITS} bits)`);
  }
}

/** The OpenSSH SHA256 fingerprint of a key (`SHA256:...`). */
export function fingerprintOf(key: sshpk.Key | sshpk.PrivateKey): string {
  return key.fingerprint('sha256').toString();
}

/** A sshpk public key → {@link PublicKeyInfo}. Throws KeyError. */
export function publicKeyInfo(key: sshpk.Key): PublicKeyInfo {
  const algs = algsFor(key);
  return {
    fingerprint: fingerprintOf(key),
    type: key.type,
    bits: key.size,
    comment: (key.comment ?? '').replace(/^\(unnamed\)$/, '').trim(),
    algs,
    key: createPublicKey(key.toString('pkcs8')),
  };
}

/** One authorized_keys line (`ssh-ed25519 AAAA… comment`) → PublicKeyInfo. Throws KeyError. */
export function parsePublicKeyLine(line: string): PublicKeyInfo {
  const text = line.trim();
  if (!/^(ssh-|ecdsa-|sk-)/.test(text)) {
    throw new KeyError('not a public key line (authorized_keys options such as from= or command= are not supported here)');
  }
  let key: sshpk.Key;
  try {
    key = sshpk.parseKey(text, 'ssh');
  } catch (err) {
    throw new KeyError(`not an OpenSSH public key: ${(err as Error).message}`);
  }
  return publicKeyInfo(key);
}

/** The result of {@link parseAuthorizedKeys}: the usable keys and, per refused line, why. */
export interface AuthorizedKeys {
  readonly keys: PublicKeyInfo[];
  readonly problems: { readonly line: number; readonly problem: string }[];
}

/**
 * An authorized_keys file (one key per line; blank lines and `#` comments skipped) → its usable
 * keys. Lines that are not usable are reported in `problems` (1-based line numbers), never thrown.
 */
export function parseAuthorizedKeys(text: string): AuthorizedKeys {
  const keys: PublicKeyInfo[] = [];
  const problems: { line: number; problem: string }[] = [];
  text.split('\n').forEach((raw, i) => {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) return;
    try {
      keys.push(parsePublicKeyLine(line));
    } catch (err) {
      problems.push({ line: i + 1, problem: (err as Error).message });
    }
  });
  return { keys, problems };
}

/** A public key in SSH wire format (RFC 4253 §6.6 blob, as ssh-agent lists it) → PublicKeyInfo. Throws KeyError. */
export function publicKeyFromBlob(blob: Buffer, comment = ''): PublicKeyInfo {
  let key: sshpk.Key;
  try {
    key = sshpk.parseKey(blob, 'rfc4253');
  } catch (err) {
    throw new KeyError(`not an SSH public key: ${(err as Error).message}`);
  }
  key.comment = comment;
  return publicKeyInfo(key);
}

/** A private key with its public half. */
export interface PrivateKeyInfo {
  readonly public: PublicKeyInfo;
  /** node:crypto private key. */
  readonly key: KeyObject;
}

/**
 * A private key file (OpenSSH `-----BEGIN OPENSSH PRIVATE KEY-----`, or PEM/PKCS#8), decrypted
 * with `passphrase` when it is protected. Throws KeyPassphraseError (protected and no or a wrong
 * passphrase) or KeyError (not a key, unsupported type). `name` is used in messages.
 */
export function parsePrivateKey(data: Buffer, name: string, passphrase?: string): PrivateKeyInfo {
  let priv: sshpk.PrivateKey;
  try {
    priv = sshpk.parsePrivateKey(data, 'auto', { filename: name, ...(passphrase === undefined ? {} : { passphrase }) });
  } catch (err) {
    const e = err as Error;
    if (e.name === 'KeyEncryptedError') throw new KeyPassphraseError(`${name} is protected by a passphrase`, false);
    if (/passphrase/i.test(e.message)) throw new KeyPassphraseError(`wrong passphrase for ${name}`, true);
    throw new KeyError(`${name} is not a private key: ${e.message}`);
  }
  const pub = priv.toPublic();
  if (priv.comment === undefined || priv.comment === '(unnamed)' || priv.comment === name) pub.comment = '';
  const info = publicKeyInfo(pub);
  return { public: info, key: privateKeyObject(priv) };
}

/**
 * sshpk private key → node:crypto KeyObject. Ed25519 goes through a JWK (RFC 8037) built from
 * the key's parts, because sshpk's PKCS#8 form of Ed25519 is not what OpenSSL reads.
 */
function privateKeyObject(priv: sshpk.PrivateKey): KeyObject {
  if (priv.type !== 'ed25519') return createPrivateKey(priv.toString('pkcs8'));
  const part = (name: string) => priv.parts.find((p) => p.name === name)?.data;
  const seed = part('k');
  const pub = part('A');
  if (!seed || !pub) throw new KeyError('Ed25519 key without its parts');
  return createPrivateKey({ key: { kty: 'OKP', crv: 'Ed25519', d: seed.subarray(0, 32).toString('base64url'), x: pub.toString('base64url') }, format: 'jwk' });
}
