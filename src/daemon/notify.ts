/**
 * The daemon's notifications (docs/trust-and-rollout.md, "Notifications"): the `[[notify]]` targets of
 * the accepted config over the real adapters (fetch, timers, the secret files), each event's fate
 * counted in the metrics and logged (`component: "notify"`) by the target's label, never its URL or
 * secret; and the agent's TrackerEvents with notifications alongside the observer's logs and metrics.
 */
import type { TrackerEvents } from '../core/tracker.js';
import type { Agent } from '../core/agent.js';
import type { NotifySpec } from '../config/config.js';
import type { Logger } from '../telemetry/log.js';
import type { Metrics } from '../telemetry/metrics.js';
import { withNotifications } from '../telemetry/notifications.js';
import { Notifier, realTargetDeps } from '../adapters/notify/notifier.js';
import type { DeliveryReport } from '../adapters/notify/target.js';

/** The report of every delivery: counters in `metrics`, a debug line per sent event, a warning per failed or dropped one. */
function report(metrics: Metrics, log: Logger): DeliveryReport {
  const m = metrics.notifications;
  return {
    sent: (target, e, attempts) => {
      m.sent(target);
      log.debug({ target, event: e.event, service: e.service, id: e.id, attempts }, 'notification sent');
    },
    failed: (target, e, err, attempts) => {
      m.failed(target);
      log.warn({ target, event: e.event, service: e.service, id: e.id, attempts, err: err.message }, 'notification failed');
    },
    dropped: (target, e, why) => {
      m.dropped(target);
      log.warn({ target, event: e.event, service: e.service, id: e.id, why }, 'notification dropped');
    },
  };
}

/** The notifier of `specs`, reporting to `metrics` and `log`; the metrics know its targets. */
export function makeNotifier(specs: readonly NotifySpec[], metrics: Metrics, log: Logger): Notifier {
  const notifier = new Notifier(specs, realTargetDeps(report(metrics, log.child({ component: 'notify' }))));
  metrics.notifications.setTargets(notifier.labels);
  return notifier;
}

/** Take the targets of a newly accepted config (a refused one never gets here). */
export function setTargets(notifier: Notifier, specs: readonly NotifySpec[], metrics: Metrics): void {
  notifier.set(specs);
  metrics.notifications.setTargets(notifier.labels);
}

/**
 * `events` with notifications to `notifier`; `agent()` gives the agent once built (events that need a
 * service's current status look it up there). `host` is this host's name.
 */
export function notifyingEvents(events: TrackerEvents, notifier: Notifier, host: string, agent: () => Agent | undefined): TrackerEvents {
  return withNotifications(events, notifier, {
    host,
    lookup: (service) => {
      try {
        return agent()?.service(service);
      } catch {
        return undefined;
      }
    },
  });
}
