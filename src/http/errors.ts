/**
 * The one error → HTTP mapping (fastify's error-handler pattern; docs/architecture.md "Errors": the
 * one place that turns an error into a status, and logs it once when it is the server's fault).
 * Errors are thrown with a code of the one catalogue (`src/errors/gitopper-error.ts`) and no status;
 * {@link HTTP_STATUS} gives the status of every code that can reach HTTP, for the REST API,
 * `POST /hook` and the raw answers of `server.ts` alike:
 *
 * | status | code(s)                                                              | thrown as / answered by |
 * |--------|----------------------------------------------------------------------|-------------------------|
 * | 202    | WEBHOOK_IGNORED (body `{"accepted":false,"reason"}`)                 | WebhookError            |
 * | 400    | BAD_REQUEST                                                          | BadRequestError, WebhookError, body-parser, router, server.ts |
 * | 401    | MISSING_SIGNATURE, MALFORMED_SIGNATURE, MISSING_COMPONENT, MISSING_PARAMETER, WRONG_HOST, STALE_SIGNATURE, UNKNOWN_KEY, UNSUPPORTED_ALGORITHM, BAD_SIGNATURE, REPLAYED_NONCE, BAD_DIGEST | AuthError |
 * | 401    | UNAUTHORIZED                                                         | WebhookError            |
 * | 403    | READ_ONLY_KEY                                                        | AuthError               |
 * | 404    | UNKNOWN_SERVICE / NOT_FOUND                                          | UnknownServiceError / HttpError |
 * | 405    | METHOD_NOT_ALLOWED                                                   | HttpError, server.ts (CONNECT) |
 * | 408, 414, 417, 431 | REQUEST_TIMEOUT, URI_TOO_LONG, EXPECTATION_FAILED, HEADERS_TOO_LARGE | server.ts |
 * | 409    | CONFLICT                                                             | ConflictError           |
 * | 413    | PAYLOAD_TOO_LARGE                                                    | body-parser, server.ts  |
 * | 415    | UNSUPPORTED_MEDIA_TYPE                                               | HttpError, body-parser  |
 * | 429    | TOO_MANY_FAILURES                                                    | TooManyFailuresError    |
 * | 503    | BUSY / HOOK_SECRET_UNAVAILABLE                                       | HttpError (nonce cache) / webhook/app.ts |
 * | 500    | INTERNAL (generic message, logged): anything else                    |                         |
 *
 * body-parser's refusals (malformed JSON, bad charset, a body not in its Content-Encoding, too large)
 * and the router's undecodable `%` escape carry their own 4xx status: {@link mapError} keeps it and
 * names it (400 BAD_REQUEST, 413 PAYLOAD_TOO_LARGE, 415 UNSUPPORTED_MEDIA_TYPE).
 * Every error answer's body is `{"error":{"code","message"}}` (`WireError`).
 */
import type { ErrorRequestHandler } from 'express';
import { GitopperError, isHttpCode, type HttpCode } from '../errors/gitopper-error.js';
import type { WireError } from '../api/wire.js';

/** The status of every code that can reach HTTP: the one place a status is chosen. */
export const HTTP_STATUS: Readonly<Record<HttpCode, number>> = Object.freeze({
  WEBHOOK_IGNORED: 202,
  BAD_REQUEST: 400,
  MISSING_SIGNATURE: 401, MALFORMED_SIGNATURE: 401, MISSING_COMPONENT: 401, MISSING_PARAMETER: 401, WRONG_HOST: 401,
  STALE_SIGNATURE: 401, UNKNOWN_KEY: 401, UNSUPPORTED_ALGORITHM: 401, BAD_SIGNATURE: 401, REPLAYED_NONCE: 401, BAD_DIGEST: 401,
  UNAUTHORIZED: 401,
  READ_ONLY_KEY: 403,
  UNKNOWN_SERVICE: 404, NOT_FOUND: 404,
  METHOD_NOT_ALLOWED: 405,
  REQUEST_TIMEOUT: 408,
  CONFLICT: 409,
  PAYLOAD_TOO_LARGE: 413,
  URI_TOO_LONG: 414,
  UNSUPPORTED_MEDIA_TYPE: 415,
  EXPECTATION_FAILED: 417,
  TOO_MANY_FAILURES: 429,
  HEADERS_TOO_LARGE: 431,
  INTERNAL: 500,
  BUSY: 503, HOOK_SECRET_UNAVAILABLE: 503,
});

/** The HTTP status of `code` ({@link HTTP_STATUS}). */
export function httpStatus(code: HttpCode): number {
  return HTTP_STATUS[code];
}

/** What the API logs: one entry per request that failed by the server's fault (500). */
export interface ApiLogEntry {
  readonly msg: string;
  readonly method: string;
  readonly path: string;
  /** The error as thrown (keep it whole: pino's `err` serializer prints its stack). */
  readonly err: unknown;
}

/**
 * A refusal of the HTTP layer itself: no such route (NOT_FOUND), wrong method (METHOD_NOT_ALLOWED), a
 * body that is not JSON (UNSUPPORTED_MEDIA_TYPE), the nonce cache full (BUSY); the base of AuthError
 * and TooManyFailuresError. Thrown with a code; `status` is read from {@link HTTP_STATUS}.
 */
export class HttpError extends GitopperError {
  /**
   * @param code a code of the catalogue that reaches HTTP
   * @param message the answer's message
   * @param data structured data (default `{}`)
   */
  constructor(
    readonly code: HttpCode,
    message: string,
    data?: Readonly<Record<string, unknown>>,
  ) {
    super(message, data);
  }

  /** The status this error is answered with: {@link HTTP_STATUS} of its code. */
  get status(): number {
    return HTTP_STATUS[this.code];
  }
}

const CLIENT_CODES: Record<number, string> = { 400: 'BAD_REQUEST', 413: 'PAYLOAD_TOO_LARGE', 415: 'UNSUPPORTED_MEDIA_TYPE' };

/** A mapped error: the status, the body, and whether it is the server's fault (to be logged). */
export interface MappedError {
  readonly status: number;
  readonly body: WireError;
  readonly internal: boolean;
}

function clientStatus(err: unknown): number | undefined {
  if (typeof err !== 'object' || err === null) return undefined;
  const e = err as { status?: unknown; expose?: unknown; type?: unknown };
  if (typeof e.status !== 'number' || e.status < 400 || e.status > 499) return undefined;
  const bodyParser = e.expose === true && typeof e.type === 'string';
  // body-parser passes a failed gzip/deflate/br decode on as createError(400, zlibError): exposed, no type, zlib's code
  const undecodable = e.expose === true && e.type === undefined && typeof (err as { code?: unknown }).code === 'string';
  const routerDecode = err instanceof URIError;
  return bodyParser || undecodable || routerDecode ? e.status : undefined;
}

/**
 * Maps any thrown value to a status and a `{"error":{"code","message"}}` body: a GitopperError whose
 * code reaches HTTP by {@link HTTP_STATUS}, body-parser's and the router's refusals by their own status,
 * anything else 500 INTERNAL (`internal`: to be logged). Never throws.
 */
export function mapError(err: unknown): MappedError {
  const body = (code: string, message: string): WireError => ({ error: { code, message } });
  if (err instanceof GitopperError && isHttpCode(err.code)) return { status: HTTP_STATUS[err.code], body: body(err.code, err.message), internal: false };
  const status = clientStatus(err);
  if (status !== undefined) {
    const e = err as Error & { type?: string };
    const message = e.type === 'entity.parse.failed' ? `malformed JSON body: ${e.message}` : e.type === undefined && !(err instanceof URIError) ? `the body does not decode as its Content-Encoding says: ${e.message}` : e.message;
    return { status, body: body(CLIENT_CODES[status] ?? 'BAD_REQUEST', message), internal: false };
  }
  return { status: HTTP_STATUS.INTERNAL, body: body('INTERNAL', 'internal error; see the agent log'), internal: true };
}

/**
 * The express error middleware: answers with {@link mapError}, and calls `log` once for a 500.
 * When a response has already started it hands the error to express (which closes the socket).
 */
export function errorHandler(log?: (entry: ApiLogEntry) => void): ErrorRequestHandler {
  return (err, req, res, next) => {
    if (res.headersSent) {
      next(err);
      return;
    }
    const mapped = mapError(err);
    if (mapped.internal) log?.({ msg: 'request failed', method: req.method, path: req.path, err });
    res.status(mapped.status).json(mapped.body);
  };
}
