/**
 * The one error base of gitopper and its catalogue of codes (fastify's `FST_ERR_*` pattern: a stable
 * code per error, the message for people, structured data for logs and tests). A leaf: every layer
 * may import it; it imports nothing.
 *
 * Every error class of `src/` and `cmd/` extends {@link GitopperError} with a stable SCREAMING_SNAKE
 * `code` and its `data`. Where an error is thrown nothing HTTP is chosen: `src/http/errors.ts` holds
 * the one table code → status for the codes marked `http` in {@link ERROR_CODES} (checked by
 * test/errors.test.ts). docs/api.md "Errors" lists the statuses; docs/architecture.md "Errors" this table.
 *
 * | code(s)                                   | class                       | where (src/…)                  |
 * |-------------------------------------------|-----------------------------|--------------------------------|
 * | UNKNOWN_SERVICE, BAD_REQUEST, CONFLICT    | UnknownServiceError, BadRequestError, ConflictError (OperatorError) | core/errors.ts |
 * | NOT_FOUND, METHOD_NOT_ALLOWED, UNSUPPORTED_MEDIA_TYPE, BUSY | HttpError             | http/errors.ts (app.ts, nonces.ts) |
 * | MISSING_SIGNATURE … BAD_DIGEST, READ_ONLY_KEY | AuthError                | http/auth.ts                   |
 * | TOO_MANY_FAILURES                         | TooManyFailuresError        | http/ratelimit.ts              |
 * | UNAUTHORIZED, BAD_REQUEST, WEBHOOK_IGNORED| WebhookError                | http/webhook/push.ts           |
 * | HOOK_SECRET_UNAVAILABLE                   | (answer of POST /hook)      | http/webhook/app.ts            |
 * | URI_TOO_LONG, HEADERS_TOO_LARGE, REQUEST_TIMEOUT, EXPECTATION_FAILED, PAYLOAD_TOO_LARGE | (raw answers) | http/server.ts |
 * | INTERNAL                                  | (any other error on HTTP)   | http/errors.ts                 |
 * | TLS, ADDRESS                              | TlsError, AddressError      | http/tls.ts, http/listen-address.ts |
 * | CONFIG, CONFIG_READ                       | ConfigError, ConfigReadError| config/error.ts, config/file.ts|
 * | FLAGS, STARTUP                            | FlagError, StartupError     | daemon/flags.ts, daemon/startup-error.ts |
 * | BOOTSTRAP, STEP_FAILED                    | BootstrapError, StepError   | core/bootstrap.ts, core/pass-context.ts |
 * | KEY, KEY_PASSPHRASE                       | KeyError, KeyPassphraseError| api/keys.ts                    |
 * | UPSTREAM                                  | UpstreamError               | upstream/upstream.ts           |
 * | IDENTITY, USAGE                           | IdentityError, UsageError   | ctl/identity.ts, ctl/args.ts   |
 * | the server's code, or CONNECTION, SIGNING, BAD_RESPONSE, HTTP_<status>, CERT_CHANGED, PLAIN_HTTP, SSH_SERVER | ClientError | ctl/client.ts, ctl/transport.ts |
 * | NOTIFY_FAILED, SYSTEMD_TIMEOUT            | NotifyError, SystemdTimeoutError | adapters/systemd/          |
 * | NOT_OUR_CHECKOUT, BRANCH_NOT_FOUND        | NotOurCheckoutError, BranchNotFoundError | adapters/git/      |
 * | FETCH_TIMEOUT, FETCH_ABORTED, GIT_TRANSPORT | FetchTimeoutError, FetchAbortedError, GitTransportError | adapters/git/transport/ |
 * | FOREIGN_MOUNT, SYMLINK_SOURCE             | ForeignMountError, SymlinkSourceError | adapters/mount/bind.ts |
 * | DELIVERY_FAILED                           | DeliveryError               | adapters/notify/post.ts        |
 * | SECRET                                    | SecretError                 | errors/secret-error.ts (adapters/git/secrets*.ts) |
 * | VERIFY                                    | VerifyError                 | adapters/verify/errors.ts      |
 * | CORRUPT_PACK                              | PackError                   | adapters/git/packs/errors.ts   |
 */

/**
 * Every code of the catalogue: `http` when it can reach a client of the REST API or `POST /hook`
 * (then `src/http/errors.ts` gives it a status), `local` when it stays in the process (printed,
 * logged, or a service's state info). ClientError carries the server's codes as it received them.
 */
export const ERROR_CODES = {
  UNKNOWN_SERVICE: 'http', BAD_REQUEST: 'http', CONFLICT: 'http',
  NOT_FOUND: 'http', METHOD_NOT_ALLOWED: 'http', UNSUPPORTED_MEDIA_TYPE: 'http', PAYLOAD_TOO_LARGE: 'http', BUSY: 'http',
  MISSING_SIGNATURE: 'http', MALFORMED_SIGNATURE: 'http', MISSING_COMPONENT: 'http', MISSING_PARAMETER: 'http',
  WRONG_HOST: 'http', STALE_SIGNATURE: 'http', UNKNOWN_KEY: 'http', UNSUPPORTED_ALGORITHM: 'http',
  BAD_SIGNATURE: 'http', REPLAYED_NONCE: 'http', BAD_DIGEST: 'http', READ_ONLY_KEY: 'http', TOO_MANY_FAILURES: 'http',
  UNAUTHORIZED: 'http', WEBHOOK_IGNORED: 'http', HOOK_SECRET_UNAVAILABLE: 'http',
  URI_TOO_LONG: 'http', HEADERS_TOO_LARGE: 'http', REQUEST_TIMEOUT: 'http', EXPECTATION_FAILED: 'http', INTERNAL: 'http',
  TLS: 'local', ADDRESS: 'local', CONFIG: 'local', CONFIG_READ: 'local', FLAGS: 'local', STARTUP: 'local',
  BOOTSTRAP: 'local', STEP_FAILED: 'local', KEY: 'local', KEY_PASSPHRASE: 'local', UPSTREAM: 'local',
  IDENTITY: 'local', USAGE: 'local', CONNECTION: 'local', SIGNING: 'local', BAD_RESPONSE: 'local',
  CERT_CHANGED: 'local', PLAIN_HTTP: 'local', SSH_SERVER: 'local',
  NOTIFY_FAILED: 'local', SYSTEMD_TIMEOUT: 'local', NOT_OUR_CHECKOUT: 'local', BRANCH_NOT_FOUND: 'local',
  FETCH_TIMEOUT: 'local', FETCH_ABORTED: 'local', GIT_TRANSPORT: 'local', FOREIGN_MOUNT: 'local', SYMLINK_SOURCE: 'local',
  DELIVERY_FAILED: 'local',
  SECRET: 'local',
  VERIFY: 'local',
  CORRUPT_PACK: 'local',
} as const satisfies Readonly<Record<string, 'http' | 'local'>>;

/** A code of {@link ERROR_CODES}. */
export type ErrorCode = keyof typeof ERROR_CODES;

/** The codes that can reach HTTP: `src/http/errors.ts` has a status for each (its table's type says so). */
export type HttpCode = { [C in ErrorCode]: (typeof ERROR_CODES)[C] extends 'http' ? C : never }[ErrorCode];

/** True when `code` is in the catalogue and can reach HTTP. */
export function isHttpCode(code: string): code is HttpCode {
  return Object.hasOwn(ERROR_CODES, code) && ERROR_CODES[code as ErrorCode] === 'http';
}

/** What an error's `data` may be: any object of named fields (an interface or a record). */
export type ErrorData = object;

/**
 * The base of every gitopper error: a stable `code` (see the catalogue above) and structured
 * `data` (the values the message is built from; `{}` when there are none). The message, `name`
 * and any other field are the subclass's: this class sets none of them but `data`, and that only
 * when given (so an error without data logs and prints as before: the empty default lives on the
 * prototype, not enumerable).
 * @typeParam D the shape of `data`
 */
export abstract class GitopperError<D extends ErrorData = Readonly<Record<string, unknown>>> extends Error {
  /** The stable code: SCREAMING_SNAKE, one of {@link ERROR_CODES} (ClientError: as the server sent it). */
  abstract readonly code: string;
  /** The structured data of this error. */
  declare readonly data: Readonly<D>;

  /**
   * @param message the whole message, as people read it
   * @param data structured data; omitted: `data` is `{}` (inherited, not an own property)
   * @param options `cause`, as for `Error`
   */
  constructor(message?: string, data?: D, options?: ErrorOptions) {
    super(message, options);
    if (data !== undefined) (this as { data: D }).data = data;
  }
}

Object.defineProperty(GitopperError.prototype, 'data', { value: Object.freeze({}), writable: true, configurable: true, enumerable: false });
