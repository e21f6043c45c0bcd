/**
 * Typed REST client of the agent's API, used by `gitopperctl` (DESIGN.md §3: the client side
 * imports only `wire`). Speaks plain HTTP(S) with the global `fetch` of Node 20; request signing
 * with the operator's SSH key (DESIGN.md §2 "Transport") comes later.
 */
import { routes, type ListHistory, type ListMachines, type ListServices, type PullAccepted, type WireError } from './wire.js';

/**
 * A request that did not succeed. `status` is the HTTP status, or 0 when no answer came
 * (connection refused, DNS, timeout); `code` is the server's error code (`UNKNOWN_SERVICE`,
 * `CONFLICT`, …), or `CONNECTION` / `BAD_RESPONSE` for failures on this side.
 */
export class ClientError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

/** Options of {@link Client}. */
export interface ClientOptions {
  /** The fetch to use (tests inject one); default the global fetch. */
  readonly fetch?: typeof fetch;
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

/** The agent's REST API at `baseUrl` (e.g. `http://host:2222`). Every method throws ClientError. */
export class Client {
  private readonly base: string;
  private readonly doFetch: typeof fetch;
  private readonly timeoutMs: number;

  constructor(baseUrl: string, opts: ClientOptions = {}) {
    this.base = baseUrl.replace(/\/+$/, '');
    this.doFetch = opts.fetch ?? fetch;
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
    let res: Response;
    let text: string;
    try {
      res = await this.doFetch(url, {
        method,
        headers: { accept: 'application/json', ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
        signal: AbortSignal.timeout(this.timeoutMs),
      });
      text = await res.text();
    } catch (err) {
      throw new ClientError(0, 'CONNECTION', `${method} ${url}: ${causeOf(err)}`);
    }
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      const what = res.ok ? 'answer is not JSON' : `HTTP ${res.status} ${res.statusText}`;
      throw new ClientError(res.status, res.ok ? 'BAD_RESPONSE' : `HTTP_${res.status}`, `${method} ${url}: ${what}`);
    }
    if (res.ok) return json as T;
    if (isWireError(json)) throw new ClientError(res.status, json.error.code, json.error.message);
    throw new ClientError(res.status, `HTTP_${res.status}`, `${method} ${url}: HTTP ${res.status} ${res.statusText}`);
  }
}
