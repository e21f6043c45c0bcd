/**
 * Authentication and authorization of the REST API (docs/security.md, "What is signed").
 *
 * {@link authenticate} checks every request's HTTP Message Signature (RFC 9421 §3.2) against the
 * key ring of `[global].keys`: exactly one signature; parameters `keyid` (the key's SHA256
 * fingerprint), `created` within ±{@link WINDOW_SECONDS} s, a `nonce` never seen in that window,
 * `alg` (optional) one the key may use; covered components `@method` and `@target-uri`, and
 * `content-digest` (RFC 9530) when the request has a body; the target URI's host one of this
 * agent's names. The body's digest is checked once the body is read ({@link digestCheck}).
 * {@link authorize} is the one place that applies a route's `write` flag: read-only keys → 403.
 *
 * Refusals are AuthErrors (a 401 code saying why, or READ_ONLY_KEY: 403), answered by
 * `errors.ts` as `{"error":{"code","message"}}`, and logged once here with the key's
 * fingerprint and the remote address (never the signature). An address with too many 401s is
 * refused before any verification (429 TOO_MANY_FAILURES with Retry-After; `ratelimit.ts`).
 */
import type { IncomingMessage } from 'node:http';
import type { NextFunction, Request, RequestHandler, Response } from 'express';
import hms from 'http-message-signatures';
import { isInnerList, parseDictionary, Token, type Dictionary, type InnerList } from 'structured-headers';
import { checkContentDigest, DIGEST_COMPONENT, NONCE, REQUIRED_COMPONENTS, WINDOW_SECONDS } from '../api/signature.js';
import type { SigAlg } from '../api/keys.js';
import { HttpError } from './errors.js';
import type { KeyRing, Principal } from './keyring.js';
import { NonceCache } from './nonces.js';
import { FailureLimiter, type FailureLimitOptions } from './ratelimit.js';

/** Codes of a 401 answer, one per reason. */
export type AuthCode =
  | 'MISSING_SIGNATURE' | 'MALFORMED_SIGNATURE' | 'MISSING_COMPONENT' | 'MISSING_PARAMETER' | 'WRONG_HOST'
  | 'STALE_SIGNATURE' | 'UNKNOWN_KEY' | 'UNSUPPORTED_ALGORITHM' | 'BAD_SIGNATURE' | 'REPLAYED_NONCE' | 'BAD_DIGEST';

/**
 * A refused request: one of the 401 codes, or READ_ONLY_KEY (403; statuses: `errors.ts`); `fingerprint`
 * (also in `data`) when the request named a key.
 */
export class AuthError extends HttpError {
  constructor(code: AuthCode | 'READ_ONLY_KEY', message: string, readonly fingerprint?: string) {
    super(code, message, fingerprint === undefined ? undefined : { fingerprint });
  }
}

/** What the auth layer logs: refusals (warn) and writes (info). */
export interface AuthLog {
  warn(data: Record<string, unknown>, msg: string): void;
  info(data: Record<string, unknown>, msg: string): void;
}

/** Options of {@link authenticate}. */
export interface AuthOptions {
  readonly keys: KeyRing;
  /** Host names and addresses the target URI may name (loopback and this host's addresses are always allowed). */
  readonly names: (host: string) => boolean;
  readonly log?: AuthLog;
  /** Clock in ms (tests); default Date.now. */
  readonly now?: () => number;
  /** The limit on failed authentications per remote address; default `FAILURE_LIMIT` of `ratelimit.ts`. */
  readonly failures?: Partial<FailureLimitOptions>;
}

const principals = new WeakMap<IncomingMessage, Principal>();
const digests = new WeakMap<IncomingMessage, string | undefined>();

/** The verified key of a request that passed {@link authenticate}. Throws (a 500) when there is none: a wiring bug. */
export function principalOf(req: Request): Principal {
  const p = principals.get(req);
  if (p === undefined) throw new Error('no authenticated principal on this request (authenticate() is not mounted)');
  return p;
}

/** True when the request carries a body (RFC 9112 §6.3: Transfer-Encoding, or Content-Length > 0). */
export function hasBody(req: IncomingMessage): boolean {
  return req.headers['transfer-encoding'] !== undefined || Number(req.headers['content-length'] ?? 0) > 0;
}

const remote = (req: Request) => req.socket.remoteAddress ?? '?';

/**
 * The middleware that authenticates every request (mount it before the routes). On success the
 * request's {@link principalOf} is set (and the remote address's failures are forgotten);
 * otherwise it throws an AuthError after logging it and counting it against the remote address.
 * A limited address gets a TooManyFailuresError (429 with Retry-After) before any verification.
 */
export function authenticate(opts: AuthOptions): RequestHandler {
  const now = opts.now ?? Date.now;
  const nonces = new NonceCache();
  const limiter = new FailureLimiter(opts.failures, opts.log);
  return async (req: Request, res: Response, next: NextFunction) => {
    const limited = limiter.refusal(remote(req), now());
    if (limited !== undefined) {
      res.set('Retry-After', String(limited.retryAfter));
      throw limited;
    }
    try {
      principals.set(req, await verify(req, opts, now, nonces));
      limiter.succeed(remote(req), now());
    } catch (err) {
      if (err instanceof AuthError) {
        opts.log?.warn({ fingerprint: err.fingerprint ?? null, remote: remote(req), method: req.method, path: req.path, code: err.code, reason: err.message }, 'authentication failed');
        limiter.fail(remote(req), now());
      }
      throw err;
    }
    next();
  };
}

/**
 * The one authorization rule, from the route table's `write` flag: a read-only key may not use a
 * write route (403 READ_ONLY_KEY). Every write that passes is logged with `by` when answered.
 */
export function authorize(write: boolean, log?: AuthLog): RequestHandler {
  return (req: Request, res: Response, next: NextFunction) => {
    const p = principalOf(req);
    if (write && p.ro) {
      const err = new AuthError('READ_ONLY_KEY', `key ${p.fingerprint}${p.comment ? ` (${p.comment})` : ''} is read-only (ro = true in [global].keys): it may not ${req.method} ${req.path}`, p.fingerprint);
      log?.warn({ fingerprint: p.fingerprint, remote: remote(req), method: req.method, path: req.path, code: err.code }, 'write refused: read-only key');
      throw err;
    }
    if (write) res.on('finish', () => log?.info({ by: p.by, remote: remote(req), method: req.method, path: req.path, status: res.statusCode }, 'write'));
    next();
  };
}

/** For `express.json({ verify })`: remembers whether the raw body matches the signed Content-Digest. */
export function recordDigest(req: IncomingMessage, _res: unknown, body: Buffer): void {
  digests.set(req, checkContentDigest(req.headers['content-digest'] as string | undefined, body));
}

/** After the body is parsed: a body whose Content-Digest did not match → 401 BAD_DIGEST. */
export function digestCheck(req: Request, _res: Response, next: NextFunction): void {
  const problem = digests.get(req);
  if (problem !== undefined) {
    const p = principals.get(req);
    throw new AuthError('BAD_DIGEST', `${problem}: the body was changed after signing`, p?.fingerprint);
  }
  next();
}

const fail = (code: AuthCode, message: string, fingerprint?: string): never => {
  throw new AuthError(code, message, fingerprint);
};

/** Parameters of the one signature, checked for type. */
interface SigParams {
  keyid?: string;
  alg?: string;
  created?: number;
  expires?: number;
  nonce?: string;
}

function paramsOf(input: InnerList): SigParams {
  const out: SigParams = {};
  for (const [k, v] of input[1]) {
    const value = v instanceof Token ? v.toString() : v;
    if ((k === 'keyid' || k === 'alg' || k === 'nonce') && typeof value === 'string') out[k] = value;
    else if ((k === 'created' || k === 'expires') && Number.isInteger(value)) out[k] = value as number;
    else if (k === 'keyid' || k === 'alg' || k === 'nonce' || k === 'created' || k === 'expires') fail('MALFORMED_SIGNATURE', `signature parameter ${k} has the wrong type`);
  }
  return out;
}

async function verify(req: Request, opts: AuthOptions, now: () => number, nonces: NonceCache): Promise<Principal> {
  const sigHeader = req.headers['signature'];
  const inputHeader = req.headers['signature-input'];
  if (sigHeader === undefined || inputHeader === undefined) {
    fail('MISSING_SIGNATURE', 'the request is not signed: sign it with an SSH key listed in [global].keys (gitopperctl -i KEY, or through ssh-agent)');
  }
  let inputs: Dictionary;
  let sigs: Dictionary;
  try {
    inputs = parseDictionary(String(inputHeader));
    sigs = parseDictionary(String(sigHeader));
  } catch (err) {
    return fail('MALFORMED_SIGNATURE', `Signature or Signature-Input is not a structured dictionary: ${(err as Error).message}`);
  }
  if (inputs.size !== 1 || sigs.size !== 1) fail('MALFORMED_SIGNATURE', `want exactly one signature, got ${inputs.size} input(s) and ${sigs.size} signature(s)`);
  const [label, input] = [...inputs][0]!;
  const sig = sigs.get(label);
  if (!isInnerList(input) || sig === undefined || !(sig[0] instanceof ArrayBuffer)) fail('MALFORMED_SIGNATURE', `signature "${label}" is malformed or has no Signature-Input`);
  const params = paramsOf(input as InnerList);
  const fp = params.keyid;
  for (const p of ['keyid', 'created', 'nonce'] as const) if (params[p] === undefined) fail('MISSING_PARAMETER', `the signature has no ${p} parameter`, fp);
  const covered = (input as InnerList)[0].filter(([, p]) => p.size === 0).map(([name]) => name);
  const want = [...REQUIRED_COMPONENTS, ...(hasBody(req) ? [DIGEST_COMPONENT] : [])];
  const missing = want.filter((c) => !covered.includes(c));
  if (missing.length > 0) fail('MISSING_COMPONENT', `the signature does not cover ${missing.map((m) => `"${m}"`).join(', ')}`, fp);
  if (!NONCE.test(params.nonce!)) fail('MALFORMED_SIGNATURE', 'the nonce must be 16–128 base64 characters', fp);

  const host = req.headers.host ?? '';
  if (!opts.names(hostname(host))) fail('WRONG_HOST', `the request was signed for host "${host}", which is not a name of this agent (add it with -h if it is)`, fp);
  const t = Math.floor(now() / 1000);
  const skew = params.created! - t;
  if (Math.abs(skew) > WINDOW_SECONDS) fail('STALE_SIGNATURE', `created is ${Math.abs(skew)} s ${skew < 0 ? 'in the past' : 'in the future'}; allowed ±${WINDOW_SECONDS} s (check both clocks)`, fp);
  if (params.expires !== undefined && params.expires < t) fail('STALE_SIGNATURE', 'the signature has expired', fp);

  const principal = await opts.keys.lookup(fp!);
  if (principal === undefined) fail('UNKNOWN_KEY', `key ${fp} is not in [global].keys of this agent`, fp);
  const alg = (params.alg ?? principal!.algs[0]) as SigAlg;
  if (!principal!.algs.includes(alg)) fail('UNSUPPORTED_ALGORITHM', `key ${fp} cannot sign with alg "${params.alg}"; it uses ${principal!.algs.join(' or ')}`, fp);

  const url = `${req.socket && 'encrypted' in req.socket ? 'https' : 'http'}://${host}${req.originalUrl}`;
  let ok: boolean | null;
  try {
    ok = await hms.httpbis.verifyMessage(
      { keyLookup: async () => ({ id: fp!, algs: [alg], verify: hms.createVerifier(principal!.key, alg) }), tolerance: WINDOW_SECONDS + 1 },
      { method: req.method, url, headers: req.headers as Record<string, string | string[]> },
    );
  } catch (err) {
    return fail('BAD_SIGNATURE', `the signature cannot be checked: ${(err as Error).message}`, fp);
  }
  if (ok !== true) fail('BAD_SIGNATURE', `the signature does not verify with key ${fp} (was the request changed on the way, or signed for another URL?)`, fp);
  if (!nonces.add(`${fp} ${params.nonce}`, (Math.max(params.created!, t) + WINDOW_SECONDS + 1) * 1000, now())) {
    fail('REPLAYED_NONCE', `nonce already used within the last ${WINDOW_SECONDS} s: this request is a replay`, fp);
  }
  return principal!;
}

/** `host:port`, `[v6]:port` or `host` → the host name or address without brackets and port. */
export function hostname(authority: string): string {
  const m = /^\[([^\]]+)\](?::\d+)?$/.exec(authority);
  if (m) return m[1]!.toLowerCase();
  return authority.replace(/:\d+$/, '').toLowerCase();
}
