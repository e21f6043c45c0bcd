/**
 * Notifications (ours; docs/trust-and-rollout.md, "Notifications"): the event the agent reports when a
 * service's state changes, and the port that delivers it to the `[[notify]]` targets. Types only:
 * `src/telemetry/notifications.ts` makes the events, `src/adapters/notify/` delivers them.
 */
import type { NotifyEventName } from '../config/config.js';

export type { NotifyEventName };

/**
 * One event, as the `json` format sends it (version 1; fields absent when they do not apply). Commits are
 * full ids ("" when nothing is deployed yet); times are RFC 3339 in UTC.
 */
export interface NotifyEvent {
  /** The schema version: 1. */
  readonly version: 1;
  /** Unique per event (a UUID), the same in every delivery attempt and to every target: receivers dedupe on it. */
  readonly id: string;
  readonly event: NotifyEventName;
  /** When the agent saw it happen (RFC 3339). */
  readonly time: string;
  /** This host's name (its hostname). */
  readonly host: string;
  readonly service: string;
  /** The service's state after the event (OK, FREEZE, ROLLBACK, BROKEN, DIFF). */
  readonly state: string;
  /** The service's state info after the event (the reason for BROKEN/DIFF, `ROLLBACK: <hash>`, …); "" when OK. */
  readonly info: string;
  /** The commit the service is on (or, for `AUTO-ROLLBACK`, is being rolled back to). */
  readonly commit: string;
  /** The commit it was on before the event (equal to `commit` when it did not move). */
  readonly previous: string;
  /** The upstream commit the event is about when it is not deployed: refused, held, not applied. */
  readonly tip?: string;
  /** Who did it: the operator's key for `freeze`, `gitopper` for an automatic rollback. */
  readonly by?: string;
  /** Why: the refusal, the hold, the freeze reason, the failed health check. */
  readonly reason?: string;
  /** `held`: when the hold ends, if known (RFC 3339). */
  readonly until?: string;
}

/** Delivers events to the configured targets. */
export interface NotifyPort {
  /**
   * Queue `event` for every target that wants it (its `events` and `services`). Synchronous, O(1) per
   * target, never blocks and never throws: delivery happens in the background.
   */
  publish(event: NotifyEvent): void;
}
