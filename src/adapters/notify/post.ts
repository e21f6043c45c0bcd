/**
 * One HTTP POST of a notification with Node's fetch: a per-request timeout, no redirects followed,
 * credentials in the URL sent as HTTP Basic auth (RFC 7617; fetch refuses URLs that hold them). Errors
 * never name the URL (its path or query may hold the receiver's token).
 */
import { GitopperError } from '../../errors/gitopper-error.js';

/** Structured data of a {@link DeliveryError}. */
export interface DeliveryErrorData {
  /** The receiver's HTTP status, when it answered. */
  readonly status?: number;
  /** True when trying again cannot help (a 4xx other than 408 and 429, a redirect). */
  readonly permanent: boolean;
}

/** A notification was not accepted by its receiver. Stable `code` DELIVERY_FAILED. */
export class DeliveryError extends GitopperError<DeliveryErrorData> {
  readonly code = 'DELIVERY_FAILED';
  override readonly name = 'DeliveryError';
  override readonly data: DeliveryErrorData;
  constructor(message: string, data: DeliveryErrorData) {
    super(message);
    this.data = data;
  }
}

/** One request. */
export interface PostRequest {
  readonly url: string;
  /** Header name → value (besides Content-Type, which is `application/json`). */
  readonly headers: Readonly<Record<string, string>>;
  readonly body: string;
  /** Seconds before the request is abandoned. */
  readonly timeoutSeconds: number;
  /** Aborts the request (shutdown). */
  readonly signal: AbortSignal;
}

/** Sends one request; resolves when the receiver answered 2xx, else rejects with a {@link DeliveryError}. */
export type Post = (req: PostRequest) => Promise<void>;

/** `url` without its userinfo, and the `Authorization: Basic` value for it (undefined without userinfo). */
export function splitCredentials(url: string): { url: string; authorization: string | undefined } {
  const u = new URL(url);
  if (u.username === '' && u.password === '') return { url, authorization: undefined };
  const pair = `${decodeURIComponent(u.username)}:${decodeURIComponent(u.password)}`;
  u.username = '';
  u.password = '';
  return { url: u.toString(), authorization: `Basic ${Buffer.from(pair, 'utf8').toString('base64')}` };
}

/** A receiver's status that is worth retrying: 408, 429 and 5xx (RFC 9110 15.5.9, RFC 6585 4, RFC 9110 15.6). */
export function retryable(status: number): boolean {
  return status === 408 || status === 429 || status >= 500;
}

/** The {@link Post} of the daemon: fetch, `POST`, `Content-Type: application/json`. */
export const httpPost: Post = async (req) => {
  const { url, authorization } = splitCredentials(req.url);
  let res: Response;
  try {
    res = await fetch(url, {
      method: 'POST',
      redirect: 'manual',
      headers: { 'Content-Type': 'application/json', 'User-Agent': 'gitopper', ...(authorization === undefined ? {} : { Authorization: authorization }), ...req.headers },
      body: req.body,
      signal: AbortSignal.any([req.signal, AbortSignal.timeout(req.timeoutSeconds * 1000)]),
    });
  } catch (err) {
    throw new DeliveryError(describe(err, req), { permanent: false });
  }
  await res.body?.cancel().catch(() => undefined);
  if (res.status >= 200 && res.status < 300) return;
  throw new DeliveryError(`receiver answered HTTP ${res.status}${res.status >= 300 && res.status < 400 ? ' (redirects are not followed: configure the final URL)' : ''}`, { status: res.status, permanent: !retryable(res.status) });
};

/** Why a request got no answer, without the URL: the timeout, the shutdown, or the socket's error code. */
function describe(err: unknown, req: PostRequest): string {
  const e = err as { name?: string; message?: string; cause?: { code?: string; message?: string } };
  if (req.signal.aborted) return 'abandoned at shutdown';
  if (e.name === 'TimeoutError') return `no answer within ${req.timeoutSeconds} s`;
  const cause = e.cause?.code ?? e.cause?.message;
  return `cannot reach the receiver${cause === undefined ? '' : `: ${cause}`}`;
}
