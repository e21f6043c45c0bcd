/**
 * gitopperctl's side of request signing: an SSH key, from a file or from the running ssh-agent,
 * signs each request as an HTTP Message Signature (RFC 9421 §3.1) with the components and
 * parameters of `src/api/signature.ts`. The signature base and headers come from http-message-signatures;
 * the signing itself is node:crypto (file keys) or the agent (ssh2's agent client).
 */
import { constants, sign as cryptoSign, type KeyObject } from 'node:crypto';
import hms from 'http-message-signatures';
import ssh2 from 'ssh2';
import sshpk from 'sshpk';
import { KeyError, publicKeyFromBlob, type PrivateKeyInfo, type PublicKeyInfo, type SigAlg } from '../api/keys.js';
import { componentsFor, contentDigest, LABEL, newNonce } from '../api/signature.js';

/** One key that can sign: its `keyid` (fingerprint), algorithm, comment, and the raw signing operation. */
export interface RequestSigner {
  /** The OpenSSH SHA256 fingerprint, sent as `keyid`. */
  readonly keyid: string;
  readonly alg: SigAlg;
  /** The key's comment, for messages. */
  readonly comment: string;
  /** Where the key lives, for messages: the file, or `ssh-agent`. */
  readonly source: string;
  /** Signs the RFC 9421 signature base (§2.5) and returns the signature bytes of `alg` (§3.3). */
  sign(data: Buffer): Promise<Buffer>;
}

/** A request about to be sent. `url` is absolute; it is the `@target-uri` (RFC 9421 §2.2.2). */
export interface OutgoingRequest {
  readonly method: string;
  readonly url: string;
  readonly headers: Readonly<Record<string, string>>;
  readonly body?: string;
}

/**
 * A signer over a file key: `ed25519`, `ecdsa-p256-sha256`, `ecdsa-p384-sha384`, or for RSA
 * `alg` (default `rsa-v1_5-sha256`; `rsa-pss-sha512` uses a 64-byte salt, RFC 9421 §3.3.1).
 * Throws KeyError when the key cannot use `alg`.
 */
export function keySigner(priv: PrivateKeyInfo, source: string, alg: SigAlg = priv.public.algs[0]!): RequestSigner {
  if (!priv.public.algs.includes(alg)) throw new KeyError(`a ${priv.public.type} key cannot sign with ${alg}`);
  const sign = alg === 'rsa-pss-sha512' ? pssSign(priv.key) : hms.createSigner(priv.key, alg).sign;
  return { keyid: priv.public.fingerprint, alg, comment: priv.public.comment, source, sign };
}

function pssSign(key: KeyObject): (data: Buffer) => Promise<Buffer> {
  return async (data) => cryptoSign('sha512', data, { key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: 64 });
}

const callback = <T>(run: (cb: (err?: Error | null, v?: T) => void) => void): Promise<T> =>
  new Promise((resolve, reject) => run((err, v) => (err ? reject(err) : resolve(v as T))));

/**
 * Signers for the identities of the ssh-agent at `socket` (`SSH_AUTH_SOCK`), in the agent's
 * order, skipping keys that cannot sign requests (DSA, FIDO, short RSA). RSA identities sign
 * `rsa-v1_5-sha256` (the agent's `rsa-sha2-256`; agents cannot make PSS signatures). Ed25519
 * signatures are the agent's as is; ECDSA ones are turned from SSH's (r, s) into r‖s (RFC 9421 §3.3.4).
 * Throws when the agent cannot be reached.
 */
export async function agentSigners(socket: string): Promise<RequestSigner[]> {
  const agent = new ssh2.OpenSSHAgent(socket);
  // OpenSSHAgent answers with ParsedKeys (the type also allows entries of other agents)
  const identities = (await callback<unknown>((cb) => agent.getIdentities(cb))) as ssh2.ParsedKey[];
  const out: RequestSigner[] = [];
  for (const id of identities) {
    let info: PublicKeyInfo;
    try {
      info = publicKeyFromBlob(id.getPublicSSH(), id.comment);
    } catch {
      continue;
    }
    const alg = info.algs[0]!;
    const options = info.type === 'rsa' ? { hash: 'sha256' as const } : {};
    const sign = async (data: Buffer): Promise<Buffer> => {
      const raw = await callback<Buffer>((cb) => agent.sign(id, data, options, cb));
      return info.type === 'ecdsa' ? p1363(raw, info.bits) : raw;
    };
    out.push({ keyid: info.fingerprint, alg, comment: info.comment, source: 'ssh-agent', sign });
  }
  return out;
}

/** An SSH ECDSA signature blob (mpint r, mpint s; RFC 5656 §3.1.2) → r‖s, each `bits/8` bytes. */
function p1363(blob: Buffer, bits: number): Buffer {
  const sig = sshpk.parseSignature(blob, 'ecdsa', 'ssh');
  const size = Math.ceil(bits / 8);
  const fixed = (name: string): Buffer => {
    const data = sig.parts.find((p) => p.name === name)?.data ?? Buffer.alloc(0);
    let i = 0;
    while (i < data.length - 1 && data[i] === 0) i++;
    const v = data.subarray(i);
    if (v.length > size) throw new Error('ECDSA signature from the agent is malformed');
    return Buffer.concat([Buffer.alloc(size - v.length), v]);
  };
  return Buffer.concat([fixed('r'), fixed('s')]);
}

/** What {@link signRequest} may be told, for tests of the verifier: leave out or change parts. */
export interface SignOptions {
  /** Default now. */
  readonly created?: Date;
  /** Default a fresh {@link newNonce}. */
  readonly nonce?: string;
  /** Default {@link componentsFor}. */
  readonly components?: readonly string[];
}

/**
 * The headers that sign `req` with `signer`: `Signature-Input` and `Signature` (RFC 9421 §4), and
 * `Content-Digest` (RFC 9530) when there is a body. Covers `@method`, `@target-uri`, and with a
 * body `content-digest` and `content-type`; parameters `keyid`, `alg`, `created`, `nonce`.
 */
export async function signRequest(signer: RequestSigner, req: OutgoingRequest, opts: SignOptions = {}): Promise<Record<string, string>> {
  const hasBody = req.body !== undefined && req.body !== '';
  const headers: Record<string, string> = { ...lower(req.headers), ...(hasBody ? { 'content-digest': contentDigest(req.body!) } : {}) };
  const signed = await hms.httpbis.signMessage(
    {
      key: { id: signer.keyid, alg: signer.alg, sign: signer.sign },
      name: LABEL,
      fields: [...(opts.components ?? componentsFor(hasBody))],
      params: ['keyid', 'alg', 'created', 'nonce'],
      paramValues: { created: opts.created ?? new Date(), nonce: opts.nonce ?? newNonce() },
    },
    { method: req.method, url: req.url, headers },
  );
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(signed.headers)) {
    const name = k.toLowerCase();
    if (name === 'signature' || name === 'signature-input' || name === 'content-digest') out[name] = Array.isArray(v) ? v.join(', ') : v;
  }
  return out;
}

function lower(headers: Readonly<Record<string, string>>): Record<string, string> {
  return Object.fromEntries(Object.entries(headers).map(([k, v]) => [k.toLowerCase(), v]));
}
