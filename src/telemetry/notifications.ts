/**
 * TrackerEvents → notification events (docs/trust-and-rollout.md, "Notifications"), alongside the
 * observer's logs and metrics: {@link withNotifications} wraps the observer, so the core reports each
 * event once and knows nothing of notifications. The events:
 *
 *   reconciled + status  → `applied`    a pass (not the automatic rollback's) changed the deployed files
 *                                       and moved the deployed commit (`previous` → `commit`)
 *   status               → `BROKEN`, `DIFF` the service entered the state, or its reason changed there
 *                          (not for a refused commit's DIFF: `refused` tells it)
 *                          `recovered`  it left BROKEN/DIFF for OK, FREEZE or ROLLBACK
 *                          `freeze`     an operator froze it or rolled it back (`by`, `reason`)
 *                          `unfreeze`   the freeze was lifted (by the operator, or a retry-next-commit
 *                                       rollback at a new commit; TrackerEvents do not say who)
 *   rolledBack           → `AUTO-ROLLBACK` a failed health check rolled it back (`previous` = the bad commit)
 *   refused              → `refused`    a commit was not checked out (signature, anti-rollback)
 *   held                 → `held`       a commit waits (window, bake, gate; `until` when known)
 *
 * The automatic freeze that comes with an automatic rollback is not sent as `freeze` (`AUTO-ROLLBACK` says it).
 */
import { randomUUID } from 'node:crypto';
import type { HealthFailure } from '../core/health-check.js';
import type { Outcome } from '../core/reconcile.js';
import type { Freeze, ServiceStatus } from '../core/state.js';
import type { HoldKind, RefusalKind, Trigger, TrackerEvents } from '../core/tracker.js';
import type { NotifyEvent, NotifyEventName, NotifyPort } from '../ports/notify.js';

/** A service as the notifier looks it up for events that carry no status (`ServiceInfo` fits). */
export interface ServiceNow {
  readonly state: string;
  readonly info: string;
  readonly commit: string;
  /** The upstream tip the last fetch found. */
  readonly tip?: string;
}

/** What the notifier needs besides the port. */
export interface NotifyContext {
  /** This host's name (the events' `host`). */
  readonly host: string;
  /** The service's current status; undefined when unknown. Must not throw. */
  readonly lookup: (service: string) => ServiceNow | undefined;
  /** The clock of the events' `time`; default the system's. */
  readonly now?: () => Date;
  /** A new event id; default a random UUID. */
  readonly id?: () => string;
}

/** The fields of an event besides the ones every event has. */
type Fields = Omit<NotifyEvent, 'version' | 'id' | 'event' | 'time' | 'host' | 'service'>;

const FAILING = new Set(['BROKEN', 'DIFF']);

/**
 * `base` (the observer) with notifications: every event goes to `base` first, then, for the ones
 * listed in this file's docstring, a {@link NotifyEvent} to `port`. Never throws (a failure to make an
 * event is swallowed: notifications must not break a pass).
 */
export function withNotifications(base: TrackerEvents, port: NotifyPort, ctx: NotifyContext): TrackerEvents {
  const now = ctx.now ?? (() => new Date());
  const id = ctx.id ?? randomUUID;
  /** Services whose last pass applied a new tree: `applied` is sent when the status then moves the commit. */
  const applying = new Set<string>();
  const send = (service: string, event: NotifyEventName, fields: Fields): void => {
    const clean = Object.fromEntries(Object.entries(fields).filter(([, v]) => v !== undefined)) as Fields;
    port.publish({ version: 1, id: id(), event, time: now().toISOString(), host: ctx.host, service, ...clean });
  };
  const safe = (fn: () => void): void => {
    try {
      fn();
    } catch {
      /* never break a pass */
    }
  };
  const current = (service: string): ServiceNow => ctx.lookup(service) ?? { state: '', info: '', commit: '' };
  return {
    ...base,
    reconciled(service: string, outcome: Outcome, trigger: Trigger, seconds: number): void {
      base.reconciled(service, outcome, trigger, seconds);
      if (outcome.state === 'OK' && outcome.applied && trigger !== 'auto-rollback' && trigger !== 'drift') applying.add(service);
      else applying.delete(service);
    },
    status(service: string, status: ServiceStatus, prev: ServiceStatus, by?: string): void {
      base.status(service, status, prev, by);
      safe(() => {
        for (const [event, fields] of statusEvents(status, prev, applying.delete(service), by)) send(service, event, fields);
      });
    },
    rolledBack(service: string, failure: HealthFailure, from: string, to: string | undefined): void {
      base.rolledBack?.(service, failure, from, to);
      if (to === undefined) return; // no good commit: the BROKEN that follows says it
      safe(() => send(service, 'AUTO-ROLLBACK', { state: 'ROLLBACK', info: `AUTO-ROLLBACK from ${from.slice(0, 8)} to ${to.slice(0, 8)}: ${failure.reason}`, commit: to, previous: from, by: 'gitopper', reason: failure.reason }));
    },
    refused(service: string, commit: string, kind: RefusalKind, reason: string): void {
      base.refused?.(service, commit, kind, reason);
      safe(() => {
        const s = current(service);
        send(service, 'refused', { state: s.state, info: s.info, commit: s.commit, previous: s.commit, tip: commit, reason: `${kind}: ${reason}` });
      });
    },
    held(service: string, commit: string, kind: HoldKind, reason: string, until: Date | undefined): void {
      base.held?.(service, commit, kind, reason, until);
      safe(() => {
        const s = current(service);
        send(service, 'held', { state: s.state, info: s.info, commit: s.commit, previous: s.commit, tip: commit, reason: `${kind}: ${reason}`, until: until?.toISOString() });
      });
    },
  };
}

/** True when `a` and `b` are the same freeze (the record may be a copy: compared by value). */
function sameFreeze(a: Freeze, b: Freeze | undefined): boolean {
  return b !== undefined && a.by === b.by && a.reason === b.reason && a.rollback === b.rollback && a.at.getTime() === b.at.getTime();
}

/**
 * The events of one status change `prev` → `status`, in order; `applied` when the pass before it
 * applied a new tree (see {@link withNotifications}); `by` who lifted a freeze (the `unfreeze` event's `by`).
 */
export function statusEvents(status: ServiceStatus, prev: ServiceStatus, applied: boolean, by?: string): [NotifyEventName, Fields][] {
  const out: [NotifyEventName, Fields][] = [];
  const base = { state: status.state, info: status.info, commit: status.commit, previous: prev.commit };
  const f = status.frozen;
  if (f && !f.auto && !sameFreeze(f, prev.frozen)) out.push(['freeze', { ...base, by: f.by, reason: f.reason, ...(f.rollback ? { tip: f.rollback } : {}) }]);
  if (!f && prev.frozen) out.push(['unfreeze', { ...base, ...(by ? { by } : {}) }]);
  if (applied && status.commit !== prev.commit && status.commit !== '') out.push(['applied', base]);
  const transition = status.state !== prev.state || status.info !== prev.info;
  // a refused commit's DIFF (`REFUSED <hash>: …`, deploy.ts) is told by its own `refused` event
  if (FAILING.has(status.state) && transition && !status.info.startsWith('REFUSED ')) out.push([status.state as 'BROKEN' | 'DIFF', base]);
  if (FAILING.has(prev.state) && !FAILING.has(status.state)) out.push(['recovered', base]);
  return out;
}
