/**
 * The one deploy path: every deployment of a service (a timer poll, a pull, startup, a pinned
 * commit, a drift check, the operator's unfreeze and rollback, and the automatic rollback after a
 * failed health check) goes through {@link deploy}. It reconciles, sets the status, runs the health
 * gate, writes the history row (with who asked) and, when the gate says so, deploys the rollback
 * target the same way. No I/O imports.
 */
import type { Trigger } from './control.js';
import { admit, type Admission, type AdmissionDeps, type HoldKind, type RefusalKind } from './admission.js';
import { short } from './pass-context.js';
import { AUTO_ROLLBACK_BY, checkApplied, recheckUnhealthy, settleApplied, verdictInfo, type GateDeps, type GateEvents } from './health-gate.js';
import { reconcile, type Outcome } from './reconcile.js';
import { alwaysRecorded, type ServiceRecord } from './service.js';

/** The events a deployment reports (a subset of the tracker's TrackerEvents, same shapes). */
export interface DeployEvents extends GateEvents {
  /** A deployment's reconcile pass finished; `seconds` is its wall time. */
  reconciled(service: string, outcome: Outcome, trigger: Trigger, seconds: number): void;
  /** Admission refused `commit` (see TrackerEvents.refused). Optional. */
  refused?(service: string, commit: string, kind: RefusalKind, reason: string): void;
  /** Admission held `commit` back (see TrackerEvents.held). Optional. */
  held?(service: string, commit: string, kind: HoldKind, reason: string, until: Date | undefined): void;
}

/** What a deployment needs: a pass's ports, the probe for health checks, admission's ports, and the events. */
export interface DeployDeps extends GateDeps, AdmissionDeps {
  readonly events: DeployEvents;
  /** When this host first saw `commit` as the upstream tip (rollout bake); undefined = unknown (now). */
  readonly seenAt?: (commit: string) => Date | undefined;
  /**
   * Runs the reconcile of a pass's deploy (triggers {@link SLOTTED}) when one of the agent's pass
   * slots is free (`PASS_CONCURRENCY`, tracker-deps.ts); omitted = at once.
   */
  readonly passSlot?: <T>(work: () => Promise<T>) => Promise<T>;
}

/**
 * Triggers whose reconcile waits for a pass slot: the passes' own. Only the reconcile (git, mounts,
 * units, hooks) holds it, never admission nor the health checks after it; an operator's action
 * (rollback, unfreeze), a drift check and an automatic rollback never wait for one.
 */
const SLOTTED: ReadonlySet<Trigger> = new Set(['startup', 'poll', 'pull']);

/** Triggers after which a service's health is checked (the agent deployed something new). */
const HEALTH_CHECKED: ReadonlySet<Trigger> = new Set(['startup', 'poll', 'pull', 'unfreeze']);

/**
 * Deploy `target` (a full commit id) to `r` because of `trigger`, asked for by `by` (the operator's
 * key, `webhook`, `gitopper`; undefined for timer passes, startup and drift checks). Call inside
 * `r.exclusive`. Admission (`admission.ts`) decides first: a refused target leaves the service on
 * its commit, DIFF with info `REFUSED <hash>: <reason>`; a held one leaves the state as it is with
 * info `HELD: <reason>`. The history row is written before any automatic rollback's own row (a
 * commit that failed its health check is recorded as BROKEN, not OK). Never throws for a failed pass
 * or check (those are states); returns the outcome of the pass towards `target`, or undefined when
 * admission refused or held it.
 */
export async function deploy(r: ServiceRecord, target: string, trigger: Trigger, by: string | undefined, deps: DeployDeps): Promise<Outcome | undefined> {
  const gateClear = r.admission.gateClear?.commit === target ? r.admission.gateClear.since : undefined;
  const decision = await admit({ spec: r.spec, target, deployed: r.status.commit, trigger, by, frozen: r.status.frozen !== undefined, seenAt: deps.seenAt?.(target), gateClearSince: gateClear }, deps);
  const memory = { ...r.admission, gateClear: decision.gateClearSince ? { commit: target, since: decision.gateClearSince } : undefined };
  r.admission = memory;
  if (decision.admission.kind !== 'deploy') return void notAdmitted(r, target, trigger, by, decision.admission, deps);
  r.admission = { ...memory, held: undefined };
  const started = deps.clock.now().getTime();
  const run = () => reconcile(r.spec, target, r.runtime, deps);
  const outcome = await (SLOTTED.has(trigger) && deps.passSlot ? deps.passSlot(run) : run());
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

/**
 * A target admission did not let through: refused (DIFF, info `REFUSED <hash>: <reason>`, a history
 * row and the `refused` event once per commit and kind) or held (info `HELD: <reason>`, the `held`
 * event once per commit and kind). The deployed files are not touched.
 */
function notAdmitted(r: ServiceRecord, target: string, trigger: Trigger, by: string | undefined, a: Exclude<Admission, { kind: 'deploy' }>, deps: DeployDeps): void {
  const now = deps.clock.now();
  if (a.kind === 'hold') {
    r.held(a.reason);
    if (r.admission.held?.commit === target && r.admission.held.kind === a.hold) return;
    r.admission = { ...r.admission, held: { commit: target, kind: a.hold } };
    deps.events.held?.(r.name, target, a.hold, a.reason, a.until);
    return;
  }
  const info = `REFUSED ${short(target)}: ${a.reason}`;
  r.passEnded({ state: 'DIFF', info, commit: r.status.commit }, now);
  if (r.admission.refused?.commit === target && r.admission.refused.kind === a.refusal) return;
  r.admission = { ...r.admission, refused: { commit: target, kind: a.refusal } };
  deps.events.refused?.(r.name, target, a.refusal, a.reason);
  r.record({ commit: target, time: now, trigger, state: 'DIFF', info, seconds: 0, ...(by ? { by } : {}) });
}
