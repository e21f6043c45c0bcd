/**
 * The notification series (docs/metrics.md, "Notifications"), on the agent's registry. `target` is a
 * target's label (`name`, else the URL's origin: never its credentials, path or query).
 *   gitopper_notifications_sent_total{target}      counter: events the receiver accepted (2xx)
 *   gitopper_notification_failures_total{target}   counter: events given up after their retries (or a final 4xx)
 *   gitopper_notifications_dropped_total{target}   counter: events dropped undelivered (queue full, shutdown, target removed)
 */
import { Counter, type Registry } from 'prom-client';

/** Typed handles on the notification counters. */
export class NotificationMetrics {
  private readonly sentTotal: Counter<'target'>;
  private readonly failedTotal: Counter<'target'>;
  private readonly droppedTotal: Counter<'target'>;
  private known = new Set<string>();

  /** Registers the three counters on `registry`. */
  constructor(registry: Registry) {
    this.sentTotal = new Counter({ name: 'gitopper_notifications_sent_total', help: 'Notifications the target accepted (HTTP 2xx).', labelNames: ['target'], registers: [registry] });
    this.failedTotal = new Counter({ name: 'gitopper_notification_failures_total', help: 'Notifications given up after their retries, or refused by the target with a final 4xx.', labelNames: ['target'], registers: [registry] });
    this.droppedTotal = new Counter({ name: 'gitopper_notifications_dropped_total', help: 'Notifications dropped undelivered: the target\'s queue was full (the oldest goes), the agent stopped, or the target left the config.', labelNames: ['target'], registers: [registry] });
  }

  /** The configured targets are exactly `labels`: each new one starts at 0, the series of the others go. */
  setTargets(labels: readonly string[]): void {
    const next = new Set(labels);
    for (const t of this.known) if (!next.has(t)) for (const c of [this.sentTotal, this.failedTotal, this.droppedTotal]) c.remove({ target: t });
    for (const t of next) if (!this.known.has(t)) for (const c of [this.sentTotal, this.failedTotal, this.droppedTotal]) c.inc({ target: t }, 0);
    this.known = next;
  }

  /** One event accepted by `target`. */
  sent(target: string): void {
    this.sentTotal.inc({ target });
  }

  /** One event given up for `target`. */
  failed(target: string): void {
    this.failedTotal.inc({ target });
  }

  /** One event dropped for `target`. */
  dropped(target: string): void {
    this.droppedTotal.inc({ target });
  }
}
