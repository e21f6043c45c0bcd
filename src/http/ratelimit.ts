/**
 * The per-address limit on failed authentications of the REST API (docs/security.md "Failed
 * authentications"). `auth.ts` asks {@link FailureLimiter.check} before it looks at a request's
 * signature (a map lookup: cheap) and tells {@link FailureLimiter.fail} about every 401 it answers.
 *
 * An address with `max` failures within `windowMs` is limited for `windowMs` from its last
 * failure: every request from it, signed or not, answers 429 TOO_MANY_FAILURES with `Retry-After`
 * (seconds), without being verified. Successful requests do not count, and one clears the
 * address's failures ({@link FailureLimiter.succeed}: gitopperctl tries its ssh-agent keys in
 * turn, one request each, so a command costs a failure per unknown key before the one that
 * works). Loopback is not exempt: the
 * limit is per remote address, as the socket shows it (behind a local reverse proxy that is the
 * proxy's). Memory is bounded: at most `maxAddresses` addresses are tracked, each with at most
 * `max` timestamps; when the table is full, expired entries go first, then the least recently failed.
 */
import { HttpError } from './errors.js';

/** The numbers of the limit. */
export interface FailureLimitOptions {
  /** Failed authentications from one address within {@link windowMs} that get it limited. */
  readonly max: number;
  /** The window failures are counted in, and how long a limited address stays limited (ms). */
  readonly windowMs: number;
  /** Most addresses tracked at once. */
  readonly maxAddresses: number;
}

/** The defaults: 20 failures within 60 s limit an address for 60 s; 10 000 addresses tracked. */
export const FAILURE_LIMIT: FailureLimitOptions = { max: 20, windowMs: 60_000, maxAddresses: 10_000 };

/** Where the limiter says that an address got limited (pino's logger fits). */
export interface LimitLog {
  warn(data: Record<string, unknown>, msg: string): void;
}

/** TOO_MANY_FAILURES (429): the address is limited for {@link retryAfter} more seconds; `data` is `{ retryAfter, address }`. */
export class TooManyFailuresError extends HttpError {
  constructor(
    /** Seconds until the address may try again (the `Retry-After` value). */
    readonly retryAfter: number,
    address: string,
  ) {
    super('TOO_MANY_FAILURES', `too many failed authentications from ${address}: try again in ${retryAfter} s`, { retryAfter, address });
  }
}

interface Entry {
  /** Times (ms) of the failures within the window, oldest first; at most `max`. */
  failures: number[];
  /** Limited until this time (ms); 0 when not limited. Never later than `last` + window. */
  until: number;
  /** Time (ms) of the last failure: the table is ordered by it. */
  last: number;
}

/** `::ffff:192.0.2.1` (an IPv4 client of a dual-stack socket) → `192.0.2.1`: one client, one entry. */
export function addressKey(address: string): string {
  const a = address.toLowerCase();
  return a.startsWith('::ffff:') && a.includes('.') ? a.slice(7) : a;
}

/** Failed authentications per remote address, and the addresses limited for having too many. */
export class FailureLimiter {
  private readonly table = new Map<string, Entry>();
  private readonly opts: FailureLimitOptions;

  /**
   * @param opts overrides of {@link FAILURE_LIMIT}
   * @param log told once per limited period of an address (when it gets limited)
   */
  constructor(opts: Partial<FailureLimitOptions> = {}, private readonly log?: LimitLog) {
    this.opts = { ...FAILURE_LIMIT, ...opts };
  }

  /** Milliseconds `address` stays limited at `now` (ms), or 0 when it may be served. */
  check(address: string, now: number): number {
    const e = this.table.get(addressKey(address));
    if (e === undefined || e.until === 0) return 0;
    if (e.until > now) return e.until - now;
    e.until = 0;
    return 0;
  }

  /** The 429 for `address` at `now`, or undefined when it may be served. */
  refusal(address: string, now: number): TooManyFailuresError | undefined {
    const wait = this.check(address, now);
    return wait === 0 ? undefined : new TooManyFailuresError(Math.max(1, Math.ceil(wait / 1000)), address);
  }

  /** Records a failed authentication from `address` at `now`. Returns true when it got the address limited. */
  fail(address: string, now: number): boolean {
    const key = addressKey(address);
    let e = this.table.get(key);
    if (e !== undefined) this.table.delete(key); // re-inserted below: the map's order is the order of last failure
    else {
      if (this.table.size >= this.opts.maxAddresses) this.evict(now);
      e = { failures: [], until: 0, last: now };
    }
    e.last = now;
    this.table.set(key, e);
    const since = now - this.opts.windowMs;
    e.failures = e.failures.filter((t) => t > since);
    e.failures.push(now);
    if (e.failures.length > this.opts.max) e.failures.splice(0, e.failures.length - this.opts.max);
    if (e.failures.length < this.opts.max || e.until > now) return false;
    e.until = now + this.opts.windowMs;
    e.failures = [];
    this.log?.warn(
      { remote: address, failures: this.opts.max, windowSeconds: this.opts.windowMs / 1000, retryAfter: Math.ceil(this.opts.windowMs / 1000) },
      'too many failed authentications: address limited',
    );
    return true;
  }

  /** A request from `address` authenticated at `now`: its failures are forgotten (a limit in force stays). */
  succeed(address: string, now: number): void {
    const key = addressKey(address);
    const e = this.table.get(key);
    if (e !== undefined && e.until <= now) this.table.delete(key);
  }

  /** Number of addresses tracked (tests). */
  get size(): number {
    return this.table.size;
  }

  /**
   * Makes room for one entry: drops the expired entries (no failure within the window, hence not
   * limited either; they are the oldest, at the front), else the least recently failed one.
   */
  private evict(now: number): void {
    const since = now - this.opts.windowMs;
    for (const [k, e] of this.table) {
      if (e.last > since) break;
      this.table.delete(k);
    }
    if (this.table.size >= this.opts.maxAddresses) this.table.delete(this.table.keys().next().value!);
  }
}
