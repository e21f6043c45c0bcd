/**
 * Service states and the rules for moving between them. Pure: no I/O.
 *
 * Source of the states and their numeric values: gitopper `metrics.go`/`server.go`
 * (OK 0, FREEZE 1, ROLLBACK 2, BROKEN 3, DIFF 4). BROKEN = a mount or systemd failure;
 * DIFF = the service cannot be reconciled with its upstream (a git failure).
 */

/** The five states, in gitopper's order (the index is the metric value). */
export const STATES = ['OK', 'FREEZE', 'ROLLBACK', 'BROKEN', 'DIFF'] as const;
/** One of {@link STATES}. */
export type State = (typeof STATES)[number];

/** What a reconcile pass can end in. */
export type PassState = 'OK' | 'BROKEN' | 'DIFF';

/** Numeric value of a state for `gitopper_service_state` (gitopper's encoding). */
export function stateValue(state: State): number {
  return STATES.indexOf(state);
}

/** A service's status as operators see it (gitopper `proto.ListService` plus the full commit id). */
export interface ServiceStatus {
  readonly state: State;
  /** Human-readable reason for the state; "" when OK. */
  readonly info: string;
  /** When `state` or `info` last changed (a real transition). */
  readonly since: Date;
  /** Full id of the deployed commit, or "" before the first checkout. */
  readonly commit: string;
}

/**
 * True when a reconcile pass may move the service to `next`: frozen services (FREEZE, ROLLBACK)
 * are left alone by passes; only an operator's unfreeze moves them (gitopper semantics).
 */
export function passMayApply(current: State): boolean {
  return current !== 'FREEZE' && current !== 'ROLLBACK';
}

/**
 * The status after a pass outcome. Returns the same object when nothing an operator would see
 * changed, so `since` (and `gitopper_service_change_time_seconds`) moves only on a real
 * transition (DESIGN.md "fix on purpose"). A new commit with the same state is not a transition.
 */
export function applyOutcome(current: ServiceStatus, next: { state: PassState; info: string; commit: string }, now: Date): ServiceStatus {
  if (!passMayApply(current.state)) return current;
  const transition = current.state !== next.state || current.info !== next.info;
  if (!transition && current.commit === next.commit) return current;
  return { state: next.state, info: next.info, commit: next.commit, since: transition ? now : current.since };
}

/** The status of a service before its first pass. */
export function initialStatus(now: Date): ServiceStatus {
  return { state: 'OK', info: 'starting', since: now, commit: '' };
}
