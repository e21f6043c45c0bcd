/**
 * The `[[notify]]` targets of the accepted config, as one {@link NotifyPort}: `publish` hands an event to
 * every target that wants it (its own queue and worker, `target.ts`), `set` takes the targets of a newly
 * accepted config (a target whose settings did not change keeps its queue), `close` drains for a short,
 * bounded time at shutdown.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { NotifySpec } from '../../config/config.js';
import type { NotifyEvent, NotifyPort } from '../../ports/notify.js';
import { httpPost } from './post.js';
import { readSecret } from './sign.js';
import { NotifyTarget, type DeliveryReport, type TargetDeps } from './target.js';

/** How long {@link Notifier.close} waits for queued events by default, milliseconds. */
export const DRAIN_MS = 5000;

/** The settings of a spec that make it "the same target" across config reloads (all but its position). */
function identity(spec: NotifySpec): string {
  const { index: _index, ...rest } = spec;
  return JSON.stringify(rest);
}

/** The daemon's deps of a target: fetch, real timers, Math.random, the secret file. */
export function realTargetDeps(report: DeliveryReport): TargetDeps {
  return { post: httpPost, sleep: (ms, signal) => sleep(ms, undefined, { signal }), random: Math.random, readSecret, report };
}

/** Every configured target; publish never blocks. */
export class Notifier implements NotifyPort {
  private targets: NotifyTarget[] = [];

  constructor(specs: readonly NotifySpec[], private readonly deps: TargetDeps) {
    this.set(specs);
  }

  /** The targets' labels, in config order. */
  get labels(): string[] {
    return this.targets.map((t) => t.label);
  }

  /** Queue `event` for every target that wants it. Synchronous, O(targets), never throws. */
  publish(event: NotifyEvent): void {
    for (const t of this.targets) if (t.wants(event)) t.enqueue(event);
  }

  /**
   * Take the targets of a newly accepted config: one whose settings are unchanged keeps its queue and
   * worker; a removed or changed one is closed (its queued events dropped as `removed`).
   */
  set(specs: readonly NotifySpec[]): void {
    const old = new Map(this.targets.map((t) => [identity(t.spec), t]));
    this.targets = specs.map((s) => {
      const kept = old.get(identity(s));
      old.delete(identity(s));
      return kept ?? new NotifyTarget(s, this.deps);
    });
    for (const t of old.values()) t.close('removed');
  }

  /** Resolves once every target is idle (nothing queued or in flight). */
  async idle(): Promise<void> {
    await Promise.all(this.targets.map((t) => t.idle()));
  }

  /**
   * Shutdown: wait up to `graceMs` for the queues to drain, then abandon what is in flight and drop the
   * rest (reported as `shutdown`). Later events are dropped at once.
   */
  async close(graceMs = DRAIN_MS): Promise<void> {
    const timer = new AbortController();
    await Promise.race([this.idle(), sleep(graceMs, undefined, { signal: timer.signal }).catch(() => undefined)]);
    timer.abort();
    for (const t of this.targets) t.close('shutdown');
    await this.idle(); // the abandoned deliveries report their drop
  }
}
