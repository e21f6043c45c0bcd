/**
 * An inactivity timeout for isomorphic-git's `http` plugins. isomorphic-git has no abort of its own
 * and its node plugin sets no timeout, so an upstream that accepts the connection and then says
 * nothing held a fetch (and with it the upstream's tracker and store lock) forever.
 *
 * {@link withIdleTimeout} wraps any plugin (`isomorphic-git/http/node` for http(s), a `PipeTransport`
 * for SSH and local upstreams): a request fails with {@link FetchTimeoutError} when its response
 * headers take longer than the timeout, or when the response body delivers no bytes for that long.
 * The clock restarts with every chunk, so a slow but moving download is never cut off. After a
 * timeout the body is abandoned (`return()` destroys the socket of the node plugin) and, for
 * http(s), node's own socket timeout (the same value + 1 s, passed to simple-get as `timeout`)
 * closes a connection still waiting for headers.
 */
import type { GitHttpRequest, GitHttpResponse, HttpClient } from 'isomorphic-git';
import { redactUpstream } from '../../../upstream/upstream.js';
import { GitopperError } from '../../../errors/gitopper-error.js';

/** Default inactivity timeout of one request, in milliseconds (60 s). */
export const DEFAULT_IDLE_TIMEOUT_MS = 60_000;

/** A request of a fetch got no response headers, or no body bytes, within the inactivity timeout. */
export class FetchTimeoutError extends GitopperError {
  readonly code = 'FETCH_TIMEOUT';
  constructor(override readonly data: { readonly upstream: string; readonly timeoutMs: number; readonly waitingFor: 'response' | 'data'; readonly request: string }) {
    super(`${redactUpstream(data.upstream)}: no ${data.waitingFor === 'response' ? 'answer' : 'data'} for ${seconds(data.timeoutMs)} (${data.request}); gave up`);
  }
}

/**
 * `client` with an inactivity timeout of `timeoutMs` per request (see the file comment).
 * @param upstream the upstream as configured, for error messages (userinfo is masked)
 * @param timeoutMs milliseconds without response headers, or between two body chunks, before the
 *   request fails with {@link FetchTimeoutError}; `0` or less = no timeout
 * @param signal when it aborts (the daemon stops, or the fetch's overall deadline passed), a request
 *   in progress fails at once with {@link FetchAbortedError}
 */
export function withIdleTimeout(client: HttpClient, upstream: string, timeoutMs: number, signal?: AbortSignal): TimedHttpClient {
  const timed: TimedHttpClient = {
    timeout: undefined,
    request: async (req: GitHttpRequest): Promise<GitHttpResponse> => {
      const what = `${(req.method ?? 'GET').toUpperCase()} ${requestPath(req.url)}`;
      const aborted = () => (timed.timeout = new FetchAbortedError({ upstream, request: what, reason: abortReason(signal) }));
      if (signal?.aborted) throw aborted();
      if (!(timeoutMs > 0) && !signal) return client.request(req);
      const ms = timeoutMs > 0 ? timeoutMs : 0;
      const fail = (waitingFor: 'response' | 'data') => (timed.timeout = new FetchTimeoutError({ upstream, timeoutMs, waitingFor, request: what }));
      // node's socket timeout closes a connection still waiting for headers (a PipeTransport ignores it)
      const fetchOptions = ms > 0 ? { ...(req as { fetchOptions?: object }).fetchOptions, timeout: ms + 1000 } : (req as { fetchOptions?: object }).fetchOptions;
      const res = await within(client.request({ ...req, fetchOptions } as GitHttpRequest), ms, () => fail('response'), undefined, signal, aborted);
      return res.body ? { ...res, body: guard(res.body, ms, () => fail('data'), signal, aborted) } : res;
    },
  };
  return timed;
}

/** A fetch request was cut short: the daemon is stopping, or the fetch ran past its overall deadline. */
export class FetchAbortedError extends GitopperError {
  readonly code = 'FETCH_ABORTED';
  constructor(override readonly data: { readonly upstream: string; readonly request: string; readonly reason: string }) {
    super(`${redactUpstream(data.upstream)}: ${data.reason} (${data.request}); gave up`);
  }
}

/** Why `signal` aborted, for {@link FetchAbortedError}: its reason's message, or "aborted". */
function abortReason(signal: AbortSignal | undefined): string {
  const r = signal?.reason as unknown;
  if (r instanceof Error && r.name === 'TimeoutError') return 'the fetch ran past its deadline';
  return r instanceof Error ? r.message : typeof r === 'string' ? r : 'aborted';
}

/**
 * An http plugin from {@link withIdleTimeout}. isomorphic-git swallows some body errors (a failed read
 * of the ref advertisement becomes "Empty response from git server."): after a failed fetch, throw
 * {@link timeout} instead of isomorphic-git's error when it is set.
 */
export interface TimedHttpClient extends HttpClient {
  /** The timeout (or abort) that ended a request of this client, if one did. */
  timeout: FetchTimeoutError | FetchAbortedError | undefined;
}

/**
 * `p`, or a rejection with `error()` when it has not settled within `ms` (0 = no limit), or with
 * `aborted()` as soon as `signal` aborts; `onTimeout` runs on either.
 */
function within<T>(p: Promise<T>, ms: number, error: () => Error, onTimeout?: () => void, signal?: AbortSignal, aborted?: () => Error): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  let onAbort: (() => void) | undefined;
  const late = new Promise<never>((_, reject) => {
    if (ms > 0) {
      timer = setTimeout(() => {
        onTimeout?.();
        reject(error());
      }, ms);
    }
    if (signal && aborted) {
      onAbort = () => {
        onTimeout?.();
        reject(aborted());
      };
      if (signal.aborted) onAbort();
      else signal.addEventListener('abort', onAbort, { once: true });
    }
  });
  return Promise.race([p, late]).finally(() => {
    clearTimeout(timer);
    if (onAbort) signal?.removeEventListener('abort', onAbort);
  });
}

/** `body` where each `next()` must settle within `ms` (and before `signal` aborts); on a timeout or abort the source is abandoned. */
function guard(body: AsyncIterableIterator<Uint8Array>, ms: number, error: () => Error, signal?: AbortSignal, aborted?: () => Error): AsyncIterableIterator<Uint8Array> {
  const it = body[Symbol.asyncIterator] ? body[Symbol.asyncIterator]() : body;
  const abandon = () => {
    // the node plugin's return() destroys the response (and its socket); never wait for it
    void Promise.resolve()
      .then(() => it.return?.())
      .catch(() => undefined);
  };
  const out: AsyncIterableIterator<Uint8Array> = {
    next: () => within(it.next(), ms, error, abandon, signal, aborted),
    return: async (value?: unknown) => (await it.return?.(value)) ?? { done: true, value: undefined },
    [Symbol.asyncIterator]: () => out,
  };
  return out;
}

/** The path (and query) of a request URL, for messages: never the host's userinfo. */
function requestPath(url: string): string {
  try {
    const u = new URL(url);
    return `${u.pathname}${u.search}`;
  } catch {
    return '(unparseable URL)';
  }
}

function seconds(ms: number): string {
  return ms % 1000 === 0 ? `${ms / 1000} s` : `${(ms / 1000).toFixed(1)} s`;
}
