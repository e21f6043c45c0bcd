/**
 * The one error → HTTP mapping of the REST API (fastify's error-handler pattern; docs/architecture.md:
 * the one place that turns an error into a status, and logs it once when it is the server's fault).
 *
 * | error                                         | status | code                    |
 * |-----------------------------------------------|--------|-------------------------|
 * | UnknownServiceError                           | 404    | UNKNOWN_SERVICE         |
 * | BadRequestError                               | 400    | BAD_REQUEST             |
 * | ConflictError                                 | 409    | CONFLICT                |
 * | HttpError (no route, wrong method)            | its    | NOT_FOUND / METHOD_NOT_ALLOWED |
 * | AuthError (an HttpError, `auth.ts`)           | 401/403| UNKNOWN_KEY, BAD_SIGNATURE, … / READ_ONLY_KEY |
 * | HttpError from the nonce cache                | 503    | BUSY                    |
 * | body-parser: malformed JSON, bad charset, …   | 400/415| BAD_REQUEST / UNSUPPORTED_MEDIA_TYPE |
 * | body-parser: body not in its Content-Encoding | 400    | BAD_REQUEST             |
 * | body-parser: body too large                   | 413    | PAYLOAD_TOO_LARGE       |
 * | router: undecodable `%` escape in the path    | 400    | BAD_REQUEST             |
 * | anything else                                 | 500    | INTERNAL (generic message, logged) |
 *
 * Every answer's body is `{"error":{"code","message"}}` (`WireError`).
 */
import type { ErrorRequestHandler } from 'express';
import { OperatorError } from '../core/errors.js';
import type { WireError } from '../api/wire.js';

/** What the API logs: one entry per request that failed by the server's fault (500). */
export interface ApiLogEntry {
  readonly msg: string;
  readonly method: string;
  readonly path: string;
  /** The error as thrown (keep it whole: pino's `err` serializer prints its stack). */
  readonly err: unknown;
}

/** A transport-level refusal that is not in the operator catalogue: no such route, wrong method. */
export class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

const OPERATOR_STATUS: Record<OperatorError['code'], number> = { UNKNOWN_SERVICE: 404, BAD_REQUEST: 400, CONFLICT: 409 };
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

/** Maps any thrown value to a status and a `{"error":{"code","message"}}` body. Never throws. */
export function mapError(err: unknown): MappedError {
  const body = (code: string, message: string): WireError => ({ error: { code, message } });
  if (err instanceof OperatorError) return { status: OPERATOR_STATUS[err.code], body: body(err.code, err.message), internal: false };
  if (err instanceof HttpError) return { status: err.status, body: body(err.code, err.message), internal: false };
  const status = clientStatus(err);
  if (status !== undefined) {
    const e = err as Error & { type?: string };
    const message = e.type === 'entity.parse.failed' ? `malformed JSON body: ${e.message}` : e.type === undefined && !(err instanceof URIError) ? `the body does not decode as its Content-Encoding says: ${e.message}` : e.message;
    return { status, body: body(CLIENT_CODES[status] ?? 'BAD_REQUEST', message), internal: false };
  }
  return { status: 500, body: body('INTERNAL', 'internal error; see the agent log'), internal: true };
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
