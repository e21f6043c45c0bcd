/**
 * SSH signatures as git makes them (`gpg.format = ssh`, `ssh-keygen -Y sign -n git`): the armored
 * SSHSIG blob of OpenSSH's PROTOCOL.sshsig, parsed and checked with node:crypto. Keys are parsed by
 * sshpk (as in src/api/keys.ts). Supported: ssh-ed25519, ecdsa-sha2-nistp256/384/521, RSA with
 * rsa-sha2-256/512 (≥ MIN_RSA_BITS bits); refused: SHA-1 `ssh-rsa` signatures (OpenSSH signs SSHSIG
 * with rsa-sha2-512), security keys (`sk-…`), certificates. No I/O.
 */
import { createHash, createPublicKey, verify as cryptoVerify, type KeyObject } from 'node:crypto';
import sshpk from 'sshpk';
import { fingerprintOf, MIN_RSA_BITS } from '../../api/keys.js';
import { VerifyError } from './errors.js';
import { WireReader, wireString } from './ssh-wire.js';

/** PROTOCOL.sshsig's magic preamble, 6 bytes, no length. */
const MAGIC = Buffer.from('SSHSIG', 'ascii');
const BEGIN = '-----BEGIN SSH SIGNATURE-----';
const END = '-----END SSH SIGNATURE-----';
/** Hash algorithms PROTOCOL.sshsig allows, named as in the blob. */
const HASHES = new Set(['sha256', 'sha512']);

/** A parsed SSHSIG blob (PROTOCOL.sshsig §"Blob format"). */
export interface Sshsig {
  /** The signer's public key, SSH wire format (RFC 4253 §6.6). */
  readonly publicKey: Buffer;
  readonly namespace: string;
  /** `sha256` or `sha512`: the hash of the message that was signed. */
  readonly hashAlgorithm: string;
  /** The signature's algorithm name, e.g. `ssh-ed25519`, `rsa-sha2-512`. */
  readonly sigType: string;
  /** The signature bytes for `sigType` (RFC 4253 §6.6, RFC 5656 §3.1.2, RFC 8332 §3, RFC 8709 §6). */
  readonly sigBlob: Buffer;
  /** The reserved field (empty in every signature OpenSSH makes), signed as it is. */
  readonly reserved: Buffer;
}

/** A signer's public key, ready for node:crypto. */
export interface SshPublicKey {
  /** `SHA256:…` as `ssh-keygen -l` prints it. */
  readonly fingerprint: string;
  /** `ED25519`, `ECDSA`, `RSA` (as ssh-keygen names them in messages). */
  readonly label: string;
  readonly parsed: sshpk.Key;
  readonly key: KeyObject;
}

/** True when `text` (a commit's `gpgsig`) is an armored SSH signature. */
export function isSshSignature(text: string): boolean {
  return text.trimStart().startsWith(BEGIN);
}

/** The armored SSHSIG in `armored` → its fields. Throws a `signature` VerifyError when it is not well-formed. */
export function parseSshsig(armored: string): Sshsig {
  const text = armored.trim();
  if (!text.startsWith(BEGIN) || !text.endsWith(END)) throw new VerifyError('the SSH signature armor is broken', 'signature');
  const body = text.slice(BEGIN.length, text.length - END.length).replace(/\s+/g, '');
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(body)) throw new VerifyError('the SSH signature is not base64', 'signature');
  const r = new WireReader(Buffer.from(body, 'base64'));
  try {
    if (!r.bytes(MAGIC.length).equals(MAGIC)) throw new VerifyError('the SSH signature lacks the SSHSIG preamble', 'signature');
    const version = r.uint32();
    if (version !== 1) throw new VerifyError(`SSH signature version ${version} is not supported (only 1)`, 'signature');
    const publicKey = r.string();
    const namespace = r.text();
    const reserved = r.string();
    const hashAlgorithm = r.text();
    const signature = new WireReader(r.string());
    const sigType = signature.text();
    const sigBlob = signature.string();
    if (!r.atEnd()) throw new VerifyError('the SSH signature has trailing bytes', 'signature');
    if (!HASHES.has(hashAlgorithm)) throw new VerifyError(`the SSH signature uses hash "${hashAlgorithm}" (PROTOCOL.sshsig allows sha256 and sha512)`, 'signature');
    return { publicKey, namespace, reserved, hashAlgorithm, sigType, sigBlob };
  } catch (err) {
    if (err instanceof VerifyError && /^truncated/.test(err.message)) throw new VerifyError(`the SSH signature is malformed (${err.message})`, 'signature');
    throw err;
  }
}

/** The bytes an SSHSIG signs for `message` (PROTOCOL.sshsig §"Signed Data, of which the signature goes into the blob above"). */
export function signedData(sig: Sshsig, message: Buffer): Buffer {
  const digest = createHash(sig.hashAlgorithm).update(message).digest();
  return Buffer.concat([MAGIC, wireString(sig.namespace), wireString(sig.reserved), wireString(sig.hashAlgorithm), wireString(digest)]);
}

/** An SSH public key in wire format → {@link SshPublicKey}. Throws a `signature` VerifyError for a key this module does not support. */
export function sshPublicKey(blob: Buffer): SshPublicKey {
  let parsed: sshpk.Key;
  try {
    parsed = sshpk.parseKey(blob, 'rfc4253');
  } catch (err) {
    const type = typeTag(blob);
    if (type.startsWith('sk-')) throw new VerifyError(`security-key (${type}) signatures are not supported: sign with an ed25519, ecdsa or rsa key`, 'signature');
    if (type.includes('-cert-')) throw new VerifyError(`signed with an SSH certificate (${type}): certificates and cert-authority lines are not supported, list the signer's own key`, 'signature');
    throw new VerifyError(`the signing key is not a usable SSH key: ${(err as Error).message}`, 'signature');
  }
  if (parsed.type === 'rsa' && parsed.size < MIN_RSA_BITS) throw new VerifyError(`signed with an RSA key of ${parsed.size} bits (at least ${MIN_RSA_BITS} are accepted)`, 'signature');
  if (!['ed25519', 'ecdsa', 'rsa'].includes(parsed.type)) throw new VerifyError(`${parsed.type} keys are not supported: sign with an ed25519, ecdsa or rsa key`, 'signature');
  return { fingerprint: fingerprintOf(parsed), label: parsed.type.toUpperCase(), parsed, key: createPublicKey(parsed.toString('pkcs8')) };
}

/** The key type name at the start of a wire-format key, "" when unreadable. */
function typeTag(blob: Buffer): string {
  try {
    return new WireReader(blob).text();
  } catch {
    return '';
  }
}

/**
 * True when `sig` is `key`'s valid signature of `message`. The signature algorithm must fit the key
 * (ed25519: `ssh-ed25519`; ecdsa: `ecdsa-sha2-<curve>` with SHA-256/384/512 for P-256/384/521, RFC 5656
 * §6.2.1; rsa: `rsa-sha2-256`/`rsa-sha2-512`, RFC 8332). Throws a `signature` VerifyError for an algorithm
 * that does not fit or is refused (`ssh-rsa`: SHA-1).
 */
export function sshsigVerifies(sig: Sshsig, key: SshPublicKey, message: Buffer): boolean {
  const data = signedData(sig, message);
  const k = key.parsed;
  if (k.type === 'ed25519') {
    expectType(sig, 'ssh-ed25519');
    return cryptoVerify(null, data, key.key, sig.sigBlob);
  }
  if (k.type === 'ecdsa') {
    const curve = k.curve ?? '';
    expectType(sig, `ecdsa-sha2-${curve}`);
    const { hash, size } = { nistp256: { hash: 'sha256', size: 32 }, nistp384: { hash: 'sha384', size: 48 }, nistp521: { hash: 'sha512', size: 66 } }[curve as 'nistp256'] ?? { hash: '', size: 0 };
    if (size === 0) throw new VerifyError(`ECDSA curve ${curve} is not supported`, 'signature');
    return cryptoVerify(hash, data, { key: key.key, dsaEncoding: 'ieee-p1363' }, ecdsaP1363(sig.sigBlob, size));
  }
  if (sig.sigType === 'ssh-rsa') throw new VerifyError('the RSA signature uses SHA-1 (ssh-rsa), which is refused: sign with rsa-sha2-512 (a current git and ssh-keygen do)', 'signature');
  const hash = { 'rsa-sha2-256': 'sha256', 'rsa-sha2-512': 'sha512' }[sig.sigType];
  if (hash === undefined) throw new VerifyError(`signature algorithm ${sig.sigType} does not fit an RSA key`, 'signature');
  return cryptoVerify(hash, data, key.key, sig.sigBlob);
}

function expectType(sig: Sshsig, want: string): void {
  if (sig.sigType !== want) throw new VerifyError(`signature algorithm ${sig.sigType} does not fit the key (${want} expected)`, 'signature');
}

/** An SSH ECDSA signature blob (`mpint r`, `mpint s`, RFC 5656 §3.1.2) → r‖s, each left-padded to `size` bytes (IEEE P1363). */
function ecdsaP1363(blob: Buffer, size: number): Buffer {
  const r = new WireReader(blob);
  const part = (): Buffer => {
    const n = r.string();
    let i = 0;
    while (i < n.length - 1 && n[i] === 0) i++;
    const v = n.subarray(i);
    if (v.length > size) throw new VerifyError('the ECDSA signature is malformed', 'signature');
    return Buffer.concat([Buffer.alloc(size - v.length), v]);
  };
  try {
    return Buffer.concat([part(), part()]);
  } catch (err) {
    throw new VerifyError('the ECDSA signature is malformed', 'signature', { cause: err });
  }
}
