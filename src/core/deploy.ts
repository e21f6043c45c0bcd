/**
 * The one deploy path: every deployment of a service (a timer poll, a pull, startup, a pinned
 * commit, a drift check, the operator's unfreeze and rollback, and the automatic rollback after a
 * failed health check) goes through {@link deploy}. It reconciles, sets the status, runs the health
 * gate, writes the history row (with who asked) and, when the gate says so, deploys the rollback
 * target the same way. No I/O imports.
 */
import type { Trigger } from './control.js';
import { AUTO_ROLLBACK_BY, checkApplied, recheckUnhealthy, settleApplied, verdictInfo, type GateDeps, type GateEvents } from './health-gate.js';
import { reconcile, type Outcome } from './reconcile.js';
import { alwaysRecorded, type ServiceRecord } from './service.js';

/** The events a deployment reports (a subset of the tracker's TrackerEvents, same shapes). */
export interface DeployEvents extends GateEvents {
  /** A deployment's reconcile pass finished; `seconds` is its wall time. */
  reconciled(service: string, outcome: Outcome, trigger: Trigger, seconds: number): void;
}

/** What a deployment needs: a pass's ports, the probe for health checks, and the events. */
export interface DeployDeps extends GateDeps {
  readonly events: DeployEvents;
}

/** Triggers after which a service's health is checked (the agent deployed something new). */
const HEALTH_CHECKED: ReadonlySet<Trigger> = new Set(['startup', 'poll', 'pull', 'unfreeze']);

/**
 * Deploy `target` (a full commit id) to `r` because of `trigger`, asked for by `by` (the operator's
 * key, `webhook`, `gitopper`; undefined for timer passes, startup and drift checks). Call inside
 * `r.exclusive`. The history row is written before any automatic rollback's own row (a commit that
 * failed its health check is recorded as BROKEN, not OK). Never throws for a failed pass or check
 * (those are states); returns the outcome of the pass towards `target`.
 */
export async function deploy(r: ServiceRecord, target: string, trigger: Trigger, by: string | undefined, deps: DeployDeps): Promise<Outcome> {
  const started = deps.clock.now().getTime();
  const outcome = await reconcile(r.spec, target, r.runtime, deps);
  r.runtime = outcome.runtime;
  r.drift = outcome.drift;
  const seconds = (deps.clock.now().getTime() - started) / 1000;
  deps.events.reconciled(r.name, outcome, trigger, seconds);
  const before = r.status;
  await settle(r, outcome, trigger, deps);
  // the health checks run before the row is written, so a commit that failed them is not recorded as OK
  const checked = outcome.state === 'OK' && outcome.applied && HEALTH_CHECKED.has(trigger);
  const verdict = checked ? await checkApplied(r, deps) : undefined;
  const failed = verdictInfo(verdict);
  const did = outcome.changed.length > 0 || outcome.mounted > 0 || outcome.actions.length > 0;
  if (did || alwaysRecorded(trigger) || r.status !== before || failed !== undefined) {
    r.record({ commit: target, time: deps.clock.now(), trigger, state: failed === undefined ? r.status.state : 'BROKEN', info: failed ?? r.status.info, seconds, ...(by ? { by } : {}) });
  }
  const back = checked ? settleApplied(r, outcome.commit, verdict, deps) : undefined;
  if (back !== undefined) await deploy(r, back, 'auto-rollback', AUTO_ROLLBACK_BY, deps);
  return outcome;
}

/**
 * Set the status after `outcome` (through the record's transitions): as the pass ended (FREEZE while
 * frozen and OK); BROKEN while a commit that failed its health check with nothing to roll back to
 * still fails it; a failed automatic rollback keeps why it was rolled back (`<reason> (after
 * AUTO-ROLLBACK …)`).
 */
async function settle(r: ServiceRecord, outcome: Outcome, trigger: Trigger, deps: DeployDeps): Promise<void> {
  const now = deps.clock.now();
  if (trigger === 'auto-rollback') return r.autoRollbackEnded(outcome, now);
  if (outcome.state === 'OK' && !outcome.applied && r.unhealthy?.commit === outcome.commit) {
    // a commit that failed its health check with nothing to roll back to stays BROKEN until it passes
    const still = await recheckUnhealthy(r, outcome.commit, deps);
    if (still !== undefined) return r.stillUnhealthy(outcome.commit, still, deps.clock.now());
  }
  r.passEnded(outcome, now);
}
