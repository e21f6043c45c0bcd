/**
 * The request-signing contract between gitopperctl and the daemon (docs/security.md, "What is signed"):
 * HTTP Message Signatures (RFC 9421) made with the operator's SSH key, over these components and
 * parameters, with a Content-Digest (RFC 9530) when there is a body. Both sides import this file.
 *
 *   Signature-Input: sig=("@method" "@target-uri" "content-digest");keyid="SHA256:…";alg="ed25519";created=1700000000;nonce="…"
 *   Signature: sig=:<base64>:
 *   Content-Digest: sha-256=:<base64>:
 */
import { createHash, randomBytes } from 'node:crypto';
import { parseDictionary } from 'structured-headers';

/** How far `created` may be from the verifier's clock, either way, in seconds; also how long nonces are remembered. */
export const WINDOW_SECONDS = 60;

/** The signature label gitopperctl uses (any single label is accepted). */
export const LABEL = 'sig';

/** Components every request must cover (RFC 9421 §2.2). */
export const REQUIRED_COMPONENTS = ['@method', '@target-uri'] as const;

/** The component a request with a body must also cover (RFC 9530 §2). */
export const DIGEST_COMPONENT = 'content-digest';

/** Parameters every signature must carry (RFC 9421 §2.3). */
export const REQUIRED_PARAMS = ['keyid', 'created', 'nonce'] as const;

/** Components gitopperctl covers: the required ones, plus `content-digest` and `content-type` when there is a body. */
export function componentsFor(hasBody: boolean): string[] {
  return [...REQUIRED_COMPONENTS, ...(hasBody ? [DIGEST_COMPONENT, 'content-type'] : [])];
}

/** A fresh nonce: 128 random bits, base64url (22 characters). */
export function newNonce(): string {
  return randomBytes(16).toString('base64url');
}

/** Nonces the daemon accepts: 16–128 characters of base64url / base64 (no quotes, no controls). */
export const NONCE = /^[A-Za-z0-9+/=_-]{16,128}$/;

/** The `Content-Digest` value of a body (RFC 9530 §2): `sha-256=:<base64>:`. */
export function contentDigest(body: Buffer | string): string {
  return `sha-256=:${createHash('sha256').update(body).digest('base64')}:`;
}

const DIGESTS: Record<string, string> = { 'sha-256': 'sha256', 'sha-512': 'sha512' };

/**
 * Checks a `Content-Digest` header against the body (RFC 9530 §2, §5: `sha-256` and `sha-512`;
 * unknown algorithms are ignored, at least one known one must be there and every known one
 * must match). Returns undefined when it matches, else why not.
 */
export function checkContentDigest(header: string | undefined, body: Buffer): string | undefined {
  if (header === undefined) return 'no Content-Digest header';
  let dict;
  try {
    dict = parseDictionary(header);
  } catch {
    return 'Content-Digest is not a structured dictionary';
  }
  let known = 0;
  for (const [name, [value]] of dict) {
    const algo = DIGESTS[name];
    if (algo === undefined) continue;
    if (!(value instanceof ArrayBuffer)) return `Content-Digest ${name} is not a byte sequence`;
    known++;
    if (!createHash(algo).update(body).digest().equals(Buffer.from(value))) return `Content-Digest ${name} does not match the body`;
  }
  return known === 0 ? 'Content-Digest has neither sha-256 nor sha-512' : undefined;
}
