/**
 * Typed REST client of the agent's API, used by `gitopperctl` (the client side imports the
 * wire contract, `src/api/wire.ts`, and `signer.ts` for request signing). Every request is signed with the operator's
 * SSH key (HTTP Message Signatures, RFC 9421; `signer.ts`) and sent through a
 * {@link Transport}: gitopperctl's checks the server's certificate (`transport.ts`); the
 * default is the global `fetch`.
 */
import { signRequest, type RequestSigner } from './signer.js';
import { routes, type ListHistory, type ListMachines, type ListServices, type PullAccepted, type WireError } from '../api/wire.js';
import { GitopperError } from '../errors/gitopper-error.js';

/** A request as the transport sends it: absolute URL, headers (signature included), optional body. */
export interface HttpRequest {
  readonly method: string;
  readonly url: string;
  readonly headers: Readonly<Record<string, string>>;
  readonly body?: string;
}

/** What came back: status line and the body as text. */
export interface HttpAnswer {
  readonly status: number;
  readonly statusText: string;
  readonly text: string;
}

/**
 * Sends one request. Resolves with any HTTP answer; rejects with a ClientError for refusals of
 * its own (a changed certificate), or any other error for no answer (wrapped as CONNECTION).
 */
export type Transport = (req: HttpRequest, signal: AbortSignal) => Promise<HttpAnswer>;

/** A {@link Transport} over a fetch function (the global one by default). */
export function fetchTransport(doFetch: typeof fetch = fetch): Transport {
  return async (req, signal) => {
    const res = await doFetch(req.url, { method: req.method, headers: req.headers, ...(req.body === undefined ? {} : { body: req.body }), signal });
    return { status: res.status, statusText: res.statusText, text: await res.text() };
  };
}

/**
 * A request that did not succeed. `status` is the HTTP status, or 0 when no answer came
 * (connection refused, DNS, timeout); `code` is the server's error code (`UNKNOWN_SERVICE`,
 * `CONFLICT`, …), or `CONNECTION` / `BAD_RESPONSE` for failures on this side. `data` is `{}`: the
 * structured fields are `status` and `refusals`.
 */
export class ClientError extends GitopperError {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    /**
     * Set when several keys were tried and every one was refused ({@link ClientOptions.signers}):
     * what each got, in the order tried; `message` then lists them all.
     */
    readonly refusals?: readonly KeyRefusal[],
  ) {
    super(message);
  }
}

/** What the agent answered one key that it refused: 401 UNKNOWN_KEY or 403 READ_ONLY_KEY. */
export interface KeyRefusal {
  /** The key's fingerprint (`SHA256:…`), its comment and where it lives (`ssh-agent`, a file). */
  readonly keyid: string;
  readonly comment: string;
  readonly source: string;
  readonly status: number;
  readonly code: string;
  /** The agent's message. */
  readonly message: string;
}

/**
 * Answers after which the next key is tried: the agent does not know the key (401 UNKNOWN_KEY, as
 * ssh moves on to its next identity), or knows it as read-only and the route writes (403
 * READ_ONLY_KEY, docs/security.md). Both are refused before the route runs, so nothing happened
 * and the request may be sent again, signed by the next key.
 */
const NEXT_KEY: Readonly<Record<string, number>> = { UNKNOWN_KEY: 401, READ_ONLY_KEY: 403 };

/** The refusal in `res` when it is one of {@link NEXT_KEY}, else undefined. */
function keyRefusal(signer: RequestSigner, res: HttpAnswer): KeyRefusal | undefined {
  if (res.status !== 401 && res.status !== 403) return undefined;
  let json: unknown;
  try {
    json = JSON.parse(res.text);
  } catch {
    return undefined;
  }
  if (!isWireError(json) || NEXT_KEY[json.error.code] !== res.status) return undefined;
  return { keyid: signer.keyid, comment: signer.comment, source: signer.source, status: res.status, code: json.error.code, message: json.error.message };
}

/** Options of {@link Client}. */
export interface ClientOptions {
  /** How requests travel; default {@link fetchTransport} over `fetch`. */
  readonly transport?: Transport;
  /** The fetch to use when no `transport` is given (tests inject one); default the global fetch. */
  readonly fetch?: typeof fetch;
  /**
   * The keys to sign with, tried in order (ssh-agent's order): the next one only after a 401
   * UNKNOWN_KEY (as ssh tries its identities) or a 403 READ_ONLY_KEY (a read-only key first in
   * the agent must not block writes), each attempt signed afresh (new `created` and `nonce`).
   * When every key is refused, the ClientError carries each key's answer (`refusals`). None:
   * requests go unsigned (and the agent answers 401).
   */
  readonly signers?: readonly RequestSigner[];
  /** Give up on a request after this many milliseconds; default 30 000. */
  readonly timeoutMs?: number;
}

function isWireError(v: unknown): v is WireError {
  const e = (v as { error?: { code?: unknown; message?: unknown } } | null)?.error;
  return typeof e?.code === 'string' && typeof e.message === 'string';
}

function causeOf(err: unknown): string {
  const e = err as Error & { cause?: { code?: string; message?: string } };
  if (e?.name === 'TimeoutError') return 'timed out';
  return e?.cause?.message ?? e?.cause?.code ?? e?.message ?? String(err);
}

/**
 * The error when every one of several keys was refused: the status and code of the most telling
 * refusal (a key the agent knows, read-only, over one it does not know), and a message naming
 * what each key got, in the order tried.
 */
function allRefused(refusals: readonly KeyRefusal[]): ClientError {
  const shown = refusals.find((r) => r.code === 'READ_ONLY_KEY') ?? refusals[0]!;
  const each = refusals.map((r) => `${r.keyid}${r.comment ? ` (${r.comment})` : ''}: HTTP ${r.status} ${r.code}, ${r.message}`);
  return new ClientError(shown.status, shown.code, `each of the ${refusals.length} keys was refused, in the order tried: ${each.join('; ')}`, refusals);
}

/** The agent's REST API at `baseUrl` (e.g. `http://host:2222`). Every method throws ClientError. */
export class Client {
  private readonly base: string;
  private readonly transport: Transport;
  private readonly signers: readonly RequestSigner[];
  private readonly timeoutMs: number;

  constructor(baseUrl: string, opts: ClientOptions = {}) {
    this.base = baseUrl.replace(/\/+$/, '');
    this.transport = opts.transport ?? fetchTransport(opts.fetch);
    this.signers = opts.signers ?? [];
    this.timeoutMs = opts.timeoutMs ?? 30_000;
  }

  /** `GET /list/machine` → `{machines:[{machine, actual}]}`. */
  listMachines(): Promise<ListMachines> {
    return this.request('GET', routes.listMachine());
  }

  /** `GET /list/service[/<service>]` → `{services:[…]}`; 404 UNKNOWN_SERVICE for an unknown name. */
  listServices(service?: string): Promise<ListServices> {
    return this.request('GET', routes.listService(service));
  }

  /** `POST /do/freeze/<service>` with `{reason}` when given → the frozen service; 409 when already frozen. */
  freeze(service: string, reason?: string): Promise<ListServices> {
    return this.request('POST', routes.freeze(service), reason === undefined ? undefined : { reason });
  }

  /** `POST /do/unfreeze/<service>` → the service back at its branch tip; 409 when not frozen. */
  unfreeze(service: string): Promise<ListServices> {
    return this.request('POST', routes.unfreeze(service));
  }

  /** `POST /do/rollback/<service>/<hash>` → the service frozen at `hash`; 400 bad hash, 409 not in history. */
  rollback(service: string, hash: string): Promise<ListServices> {
    return this.request('POST', routes.rollback(service, hash));
  }

  /** `POST /do/pull[/<service>]` → 202 `{accepted: true}`; the pass runs after the answer. */
  pull(service?: string): Promise<PullAccepted> {
    return this.request('POST', routes.pull(service));
  }

  /** `GET /list/history/<service>` → `{history:[…]}`, newest first. */
  history(service: string): Promise<ListHistory> {
    return this.request('GET', routes.history(service));
  }

  private async request<T>(method: 'GET' | 'POST', path: string, body?: object): Promise<T> {
    const url = `${this.base}${path}`;
    const text = body === undefined ? undefined : JSON.stringify(body);
    const headers: Record<string, string> = { accept: 'application/json', ...(text === undefined ? {} : { 'content-type': 'application/json' }) };
    const unsigned: HttpRequest = { method, url, headers, ...(text === undefined ? {} : { body: text }) };
    let res: HttpAnswer | undefined;
    const refusals: KeyRefusal[] = [];
    for (const signer of this.signers.length === 0 ? [undefined] : this.signers) {
      let req = unsigned;
      try {
        // signed afresh for every key: a new created time and nonce (RFC 9421 §2.3, §7.2.2)
        if (signer !== undefined) req = { ...unsigned, headers: { ...headers, ...(await signRequest(signer, unsigned)) } };
      } catch (err) {
        throw new ClientError(0, 'SIGNING', `cannot sign with ${signer!.keyid} (${signer!.source}): ${(err as Error).message}`);
      }
      try {
        res = await this.transport(req, AbortSignal.timeout(this.timeoutMs));
      } catch (err) {
        if (err instanceof ClientError) throw err;
        throw new ClientError(0, 'CONNECTION', `${method} ${url}: ${causeOf(err)}`);
      }
      const refused = signer === undefined ? undefined : keyRefusal(signer, res);
      if (refused === undefined) break;
      refusals.push(refused);
    }
    if (refusals.length > 1 && refusals.length === this.signers.length) throw allRefused(refusals);
    return this.answer<T>(method, url, res!);
  }

  private answer<T>(method: string, url: string, res: HttpAnswer): T {
    const ok = res.status >= 200 && res.status < 300;
    let json: unknown;
    try {
      json = JSON.parse(res.text);
    } catch {
      const what = ok ? 'answer is not JSON' : `HTTP ${res.status} ${res.statusText}`;
      throw new ClientError(res.status, ok ? 'BAD_RESPONSE' : `HTTP_${res.status}`, `${method} ${url}: ${what}`);
    }
    if (ok) return json as T;
    if (isWireError(json)) throw new ClientError(res.status, json.error.code, json.error.message);
    throw new ClientError(res.status, `HTTP_${res.status}`, `${method} ${url}: HTTP ${res.status} ${res.statusText}`);
  }
}
