/**
 * Service states and the rules for moving between them. Pure: no I/O.
 *
 * Source of the states and their numeric values: gitopper `metrics.go`/`server.go`
 * (OK 0, FREEZE 1, ROLLBACK 2, BROKEN 3, DIFF 4). BROKEN = a mount or systemd failure;
 * DIFF = the service cannot be reconciled with its upstream (a git failure).
 * Frozen-ness is kept apart from the state (our fix): a rollback that fails is BROKEN and still
 * frozen, so the operator's intent is never undone by the next poll.
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

/** True when `s` is one of the five state names. */
export function isState(s: string): s is State {
  return (STATES as readonly string[]).includes(s);
}

/** An operator's freeze: who, when, why, and the commit rolled back to (if it was a rollback). */
export interface Freeze {
  readonly by: string;
  readonly at: Date;
  readonly reason: string;
  /** Full commit id when the freeze came from a rollback. */
  readonly rollback?: string;
  /** Set when the agent froze the service itself after a failed health check. */
  readonly auto?: { readonly mode: 'freeze' | 'retry-next-commit'; readonly bad: string };
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
  /** Set while an operator holds the service (freeze or rollback); passes then leave it alone. */
  readonly frozen: Freeze | undefined;
}

/** The status of a service before its first pass. */
export function initialStatus(now: Date): ServiceStatus {
  return { state: 'OK', info: 'starting', since: now, commit: '', frozen: undefined };
}

/** The state info a frozen service shows when healthy: `ROLLBACK: <hash>` or the freeze reason. */
export function frozenInfo(f: Freeze): string {
  if (f.auto) return f.reason;
  if (f.rollback) return `ROLLBACK: ${f.rollback.slice(0, 8)}`;
  return f.reason === '' ? `frozen by ${f.by}` : f.reason;
}

/**
 * Derive the next status. `since` moves only when state or info changed (a real transition;
 * gitopper also moves it when a state is set again unchanged: not here, on purpose, docs/metrics.md); returns the same object when nothing changed at all.
 */
export function nextStatus(current: ServiceStatus, next: { state: State; info: string; commit: string; frozen: Freeze | undefined }, now: Date): ServiceStatus {
  const transition = current.state !== next.state || current.info !== next.info;
  if (!transition && current.commit === next.commit && current.frozen === next.frozen) return current;
  return { ...next, since: transition ? now : current.since };
}

/**
 * The status after a pass outcome. A healthy pass of a frozen service shows FREEZE with its info;
 * a failing one shows BROKEN/DIFF and stays frozen.
 */
export function applyOutcome(current: ServiceStatus, outcome: { state: PassState; info: string; commit: string }, now: Date): ServiceStatus {
  const f = current.frozen;
  const state: State = f && outcome.state === 'OK' ? 'FREEZE' : outcome.state;
  const info = f && outcome.state === 'OK' ? frozenInfo(f) : outcome.info;
  return nextStatus(current, { state, info, commit: outcome.commit, frozen: f }, now);
}
