/**
 * One `[[notify]]` target: its bounded queue and the one worker that delivers it, in order, one event at
 * a time. Enqueueing is synchronous and O(1) (a full queue drops its oldest event, counted); a delivery is
 * a POST (`post.ts`) signed with the target's secret (`sign.ts`), tried again `retries` times with
 * exponential backoff and jitter (`backoff.ts`; p-retry runs the attempts) unless the receiver's answer
 * is final (a 4xx other than 408/429). Nothing here blocks a caller.
 */
import pRetry from 'p-retry';
import type { NotifySpec } from '../../config/config.js';
import type { NotifyEvent } from '../../ports/notify.js';
import { backoffMs } from './backoff.js';
import { renderBody } from './body.js';
import { DeliveryError, type Post } from './post.js';
import { DELIVERY_HEADER, EVENT_HEADER, SIGNATURE_HEADER, signature, TIMESTAMP_HEADER } from './sign.js';
import { DropOldestQueue } from './queue.js';

/** Why an event was dropped without a delivery: the queue was full, the daemon stopped, the target left the config. */
export type DropReason = 'full' | 'shutdown' | 'removed';

/** Where a target reports each event's fate (metrics and logs); must not throw. `target` is the spec's label. */
export interface DeliveryReport {
  /** The receiver accepted `event` (2xx) after `attempts` attempts. */
  sent(target: string, event: NotifyEvent, attempts: number): void;
  /** `event` was given up after `attempts` attempts; `err` is the last failure (never holds the URL or the secret). */
  failed(target: string, event: NotifyEvent, err: Error, attempts: number): void;
  /** `event` was dropped undelivered. */
  dropped(target: string, event: NotifyEvent, why: DropReason): void;
}

/** What a target needs: the POST, a clock to wait on, a random source for the jitter, the secret reader, the report. */
export interface TargetDeps {
  readonly post: Post;
  /** Resolve after `ms` milliseconds, or reject when `signal` aborts. */
  readonly sleep: (ms: number, signal: AbortSignal) => Promise<void>;
  /** Uniform in [0, 1). */
  readonly random: () => number;
  /** The secret in a file (rejects when it cannot be read). */
  readonly readSecret: (file: string) => Promise<string>;
  readonly report: DeliveryReport;
}

/** One target's queue and worker. */
export class NotifyTarget {
  private readonly queue: DropOldestQueue<NotifyEvent>;
  private worker: Promise<void> | undefined;
  private readonly stopping = new AbortController();
  /** Why the target stopped (set by {@link close}). */
  private why: DropReason = 'shutdown';

  /** @param capacity the queue's bound (default the spec's `queue`) */
  constructor(readonly spec: NotifySpec, private readonly deps: TargetDeps, capacity = spec.queue) {
    this.queue = new DropOldestQueue(capacity);
  }

  /** The label of the target's metrics and log lines. */
  get label(): string {
    return this.spec.label;
  }

  /** Events waiting (not counting the one being delivered). */
  get pending(): number {
    return this.queue.size;
  }

  /** True when the target's `events` and `services` let `event` through. */
  wants(event: NotifyEvent): boolean {
    return (this.spec.events?.includes(event.event) ?? true) && (this.spec.services?.includes(event.service) ?? true);
  }

  /** Queue `event` (after {@link close}: dropped at once). Synchronous, O(1), never throws. */
  enqueue(event: NotifyEvent): void {
    if (this.stopping.signal.aborted) return this.deps.report.dropped(this.label, event, this.why);
    const dropped = this.queue.push(event);
    if (dropped !== undefined) this.deps.report.dropped(this.label, dropped, 'full');
    this.worker ??= this.work();
  }

  /** Resolves once nothing is queued or being delivered. */
  idle(): Promise<void> {
    return this.worker ?? Promise.resolve();
  }

  /** Stop: the delivery in progress is abandoned and every queued event dropped with `why`. */
  close(why: DropReason): void {
    this.why = why;
    this.stopping.abort();
    for (let e = this.queue.shift(); e !== undefined; e = this.queue.shift()) this.deps.report.dropped(this.label, e, why);
  }

  private async work(): Promise<void> {
    for (let e = this.queue.shift(); e !== undefined && !this.stopping.signal.aborted; e = this.queue.shift()) await this.deliver(e);
    this.worker = undefined;
  }

  /** One event: attempts until accepted, final, out of retries or stopped; reported once. Never throws. */
  private async deliver(event: NotifyEvent): Promise<void> {
    const { spec, deps } = this;
    const signal = this.stopping.signal;
    const body = renderBody(event, spec.format, spec.link);
    const headers: Record<string, string> = { [DELIVERY_HEADER]: event.id, [EVENT_HEADER]: event.event, [TIMESTAMP_HEADER]: event.time };
    let attempts = 0;
    const final = (err: Error) => err instanceof DeliveryError && err.data.permanent;
    try {
      await pRetry(
        async () => {
          attempts++;
          const signed = spec.secretFile === undefined ? headers : { ...headers, [SIGNATURE_HEADER]: signature(await deps.readSecret(spec.secretFile), body) };
          signal.throwIfAborted();
          await deps.post({ url: spec.url, headers: signed, body, timeoutSeconds: spec.timeoutSeconds, signal });
        },
        {
          retries: spec.retries,
          // p-retry only counts the attempts: the wait is ours (backoff.ts), on the injected clock
          minTimeout: 0,
          signal,
          shouldRetry: ({ error }) => !final(error),
          onFailedAttempt: async ({ error, attemptNumber, retriesLeft }) => {
            if (retriesLeft > 0 && !final(error)) await deps.sleep(backoffMs(attemptNumber, deps.random), signal);
          },
        },
      );
      deps.report.sent(this.label, event, attempts);
    } catch (err) {
      if (signal.aborted) deps.report.dropped(this.label, event, this.why);
      else deps.report.failed(this.label, event, err instanceof Error ? err : new Error(String(err)), attempts);
    }
  }
}
