/**
 * An OpenPGP-signed commit (git's default `gpg.format`: a detached ASCII-armored signature in the
 * commit's `gpgsig` header, over the commit without that header) against a file of armored OpenPGP
 * public keys, with openpgp.js (RFC 9580 / RFC 4880; no `gpg` binary). The signing (sub)key must be
 * in the file and valid at `at`: not expired, not revoked (revocations in the file count). No I/O.
 */
import * as openpgp from 'openpgp';
import type { SignatureVerdict } from '../../ports/trust.js';
import { VerifyError } from './errors.js';

/** True when `text` (a commit's `gpgsig`) is an ASCII-armored OpenPGP signature. */
export function isOpenpgpSignature(text: string): boolean {
  return text.trimStart().startsWith('-----BEGIN PGP SIGNATURE-----');
}

/** One ASCII-armored public key block (RFC 9580 §6.2). */
const KEY_BLOCK = /-----BEGIN PGP PUBLIC KEY BLOCK-----[\s\S]*?-----END PGP PUBLIC KEY BLOCK-----/g;

/**
 * The public keys in `text`, read from `file` (named in errors): one or more armored blocks, each
 * with one or more keys (`gpg --export --armor` of several keys, or files concatenated with `cat`).
 * @throws VerifyError (`policy`) when a block cannot be read or there is none: the policy file is unusable (the port's "cannot be read").
 */
export async function readOpenpgpKeys(text: string, file: string): Promise<openpgp.PublicKey[]> {
  const blocks = text.match(KEY_BLOCK) ?? [];
  if (blocks.length === 0) throw new VerifyError(`openpgp_keys file ${file} holds no usable armored public key (no "-----BEGIN PGP PUBLIC KEY BLOCK-----")`, 'policy');
  const keys: openpgp.PublicKey[] = [];
  for (const [i, armoredKeys] of blocks.entries()) {
    try {
      keys.push(...(await openpgp.readKeys({ armoredKeys })));
    } catch (err) {
      throw new VerifyError(`openpgp_keys file ${file} holds no usable armored public key (block ${i + 1}: ${(err as Error).message})`, 'policy', { cause: err });
    }
  }
  return keys;
}

/**
 * The verdict on armored signature `armored` of commit `payload` (bytes), against `keys` (from `file`,
 * named in reasons), at `at`. `ok` names the key's primary user ID (else its fingerprint) as the signer.
 * Never throws for a bad or untrusted signature.
 */
export async function verifyOpenpgpSignature(armored: string, payload: Buffer, keys: readonly openpgp.PublicKey[], file: string, at: Date): Promise<SignatureVerdict> {
  let signature: openpgp.Signature;
  try {
    signature = await openpgp.readSignature({ armoredSignature: armored });
  } catch (err) {
    return refuse(`its OpenPGP signature is malformed: ${(err as Error).message}`);
  }
  const ids = signature.getSigningKeyIDs();
  const key = keys.find((k) => ids.some((id) => k.getKeys(id).length > 0));
  if (key === undefined) return refuse(`signed by an unknown OpenPGP key ${issuerOf(signature)}: it is not in ${file}`);
  const name = await signerOf(key, at);
  const fpr = key.getFingerprint().toUpperCase();
  if (await key.isRevoked(undefined, undefined, at)) return refuse(`OpenPGP key ${fpr} (${name}) is revoked`);
  const expires = await key.getExpirationTime().catch(() => null);
  if (expires instanceof Date && expires <= at) return refuse(`OpenPGP key ${fpr} (${name}) expired at ${expires.toISOString().replace(/\.\d{3}Z$/, 'Z')}`);
  const message = await openpgp.createMessage({ binary: new Uint8Array(payload) });
  let failure: string;
  try {
    const { signatures } = await openpgp.verify({ message, signature, verificationKeys: [key], date: at, expectSigned: true });
    await signatures[0]!.verified;
    return { ok: true, signer: name };
  } catch (err) {
    failure = (err as Error).message.replace(/^Error verifying signed message: /, '');
  }
  if (/signed digest did not match|signature did not match|digest/i.test(failure)) {
    return refuse(`signature does not verify (OpenPGP key ${fpr}): the commit was changed after it was signed, or the signature belongs to another commit`);
  }
  return refuse(`OpenPGP key ${fpr} (${name}) does not vouch for it: ${failure}`);
}

/** The issuer of `signature`: its issuer fingerprint (RFC 9580 §5.2.3.35) when present, else its key ID, upper-case hex. */
function issuerOf(signature: openpgp.Signature): string {
  const packet = signature.packets[0] as { issuerFingerprint?: Uint8Array | null } | undefined;
  const fpr = packet?.issuerFingerprint;
  if (fpr && fpr.length > 0) return Buffer.from(fpr).toString('hex').toUpperCase();
  return signature.getSigningKeyIDs().map((id) => id.toHex().toUpperCase()).join(', ') || '(no issuer)';
}

/** The key's primary user ID at `at` (`Name <mail>`), else its fingerprint. */
async function signerOf(key: openpgp.PublicKey, at: Date): Promise<string> {
  try {
    const { user } = await key.getPrimaryUser(at);
    if (user.userID?.userID) return user.userID.userID;
  } catch {
    /* no valid user ID at `at`: the fingerprint names it */
  }
  const ids = key.getUserIDs();
  return ids[0] ?? key.getFingerprint().toUpperCase();
}

function refuse(reason: string): SignatureVerdict {
  return { ok: false, reason };
}
