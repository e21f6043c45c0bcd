/**
 * The errors of operator requests: classes with a stable `code` and structured `data`.
 * `src/http/errors.ts` maps codes to HTTP statuses (fastify's lib/errors.js pattern); the core
 * throws these, never HTTP statuses.
 */
import { GitopperError } from '../errors/gitopper-error.js';

/** Base of the operator errors (codes of the one catalogue, `src/errors/gitopper-error.ts`). */
export abstract class OperatorError extends GitopperError {
  abstract override readonly code: 'UNKNOWN_SERVICE' | 'BAD_REQUEST' | 'CONFLICT';
  constructor(message: string, override readonly data: Readonly<Record<string, unknown>> = {}) {
    super(message);
  }
}

/** A service name this host does not manage (HTTP 404). */
export class UnknownServiceError extends OperatorError {
  readonly code = 'UNKNOWN_SERVICE' as const;
  constructor(service: string) {
    super(`service "${service}" is not managed on this host`, { service });
  }
}

/** Malformed input, e.g. a hash that is not 4–40 hex digits (HTTP 400). */
export class BadRequestError extends OperatorError {
  readonly code = 'BAD_REQUEST' as const;
}

/** A state change that makes no sense now, e.g. unfreeze of a service that is not frozen (HTTP 409). */
export class ConflictError extends OperatorError {
  readonly code = 'CONFLICT' as const;
}
