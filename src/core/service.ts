/**
 * One service's record: its spec, status, memory between passes, bounded history, and the lock
 * that serialises everything done to it (passes, freeze, unfreeze, rollback). The one owner of the
 * service's status: every transition is a named method below that applies the rules of `state.ts`
 * and tells the listeners; nothing else sets the status, the last good commit or the unhealthy
 * mark. Pure: no I/O.
 */
import AsyncLock from 'async-lock';
import type { ServiceSpec } from '../config/config.js';
import type { Actor, HistoryEntry, Trigger } from './control.js';
import { ConflictError } from './errors.js';
import type { PersistedService } from '../ports/state-store.js';
import type { Runtime } from './reconcile.js';
import type { AdmissionMemory } from './admission.js';
import { applyOutcome, frozenInfo, initialStatus, isState, nextStatus, type Freeze, type PassState, type ServiceStatus } from './state.js';

/** Who lifts a retry-next-commit freeze (as `AUTO_ROLLBACK_BY` in `health-gate.ts`). */
const AUTO_BY = 'gitopper';

/** How many history rows a service keeps (issue: "bounded (last 100)"). */
export const HISTORY_LIMIT = 100;

/**
 * Called after every status change; `by` is who lifted a freeze (the operator's key, or `gitopper`
 * for a retry-next-commit), absent for other changes (a freeze names its own `by`). Must not throw.
 */
export type StatusListener = (service: string, status: ServiceStatus, prev: ServiceStatus, by?: string) => void;

/** How a pass ended, as far as the status goes (an `Outcome` is one). */
export interface PassEnd {
  readonly state: PassState;
  /** Reason for BROKEN/DIFF; "" when OK. */
  readonly info: string;
  /** Deployed commit after the pass ("" when nothing is deployed). */
  readonly commit: string;
}

/** A service's mutable record; its status changes only through the transition methods. */
export class ServiceRecord {
  /** The service's spec; replaced by a live config change (under {@link exclusive}). */
  spec: ServiceSpec;
  /** Set once the service left the config: passes skip it. */
  removed = false;
  private current: ServiceStatus;
  private good: string | undefined;
  private bad: { readonly commit: string; readonly reason: string } | undefined;
  /** Local edits found by the last pass (paths under the links). */
  drift: readonly string[] = [];
  runtime: Runtime = { pendingAction: false };
  /** What admission (`admission.ts`) remembers between passes; in memory. */
  admission: AdmissionMemory = {};
  private rows: HistoryEntry[] = [];
  /** One queue, no bound on waiting work and no timeouts (async-lock's default `maxPending` of 1000 would reject). */
  private readonly lock = new AsyncLock({ maxPending: Infinity });

  /** @param saved what the state file held for this service, if anything */
  constructor(spec: ServiceSpec, now: Date, private readonly onStatus: StatusListener, private readonly onChange: () => void, saved?: PersistedService) {
    this.spec = spec;
    this.current = saved ? restoreStatus(saved, now) : initialStatus(now);
    this.good = saved?.lastGood;
    this.rows = saved ? saved.history.map(restoreHistory).filter((h): h is HistoryEntry => h !== undefined).slice(0, HISTORY_LIMIT) : [];
  }

  /** Service name. */
  get name(): string {
    return this.spec.service;
  }

  /** Run `fn` with this service to itself (after any pass or operator action in progress). */
  exclusive<T>(fn: () => Promise<T>): Promise<T> {
    return this.lock.acquire('service', fn);
  }

  /** The service's status as operators see it (`state.ts`); changed only by the methods below. */
  get status(): ServiceStatus {
    return this.current;
  }

  /** The last commit that deployed and passed its health check: where an automatic rollback goes. */
  get lastGood(): string | undefined {
    return this.good;
  }

  /**
   * Set when `commit` failed its health check and there was no good commit to roll back to: passes
   * at that commit check again and keep BROKEN until a check passes (`health-gate.ts`). In memory.
   */
  get unhealthy(): { readonly commit: string; readonly reason: string } | undefined {
    return this.bad;
  }

  /**
   * The operator froze the service (`Control.freeze`): FREEZE with the reason (or `frozen by <by>`)
   * at the deployed commit; passes leave it alone until unfrozen.
   * @param now when (the freeze's `at`, the status's `since`)
   * @throws ConflictError when already frozen (by the operator, a rollback or an automatic rollback)
   */
  freeze(actor: Actor, reason: string, now: Date): void {
    const f = this.current.frozen;
    if (f) throw new ConflictError(`service "${this.name}" is already frozen (by ${f.by} at ${f.at.toISOString()}${f.reason ? `: ${f.reason}` : ''}); unfreeze it first`, { service: this.name });
    const frozen: Freeze = { by: actor.by, at: now, reason };
    this.change(nextStatus(this.current, { state: 'FREEZE', info: frozenInfo(frozen), commit: this.current.commit, frozen }, now));
  }

  /**
   * The operator unfroze the service (`Control.unfreeze`): FREEZE/ROLLBACK become OK, BROKEN/DIFF
   * stay (with no info) until the next pass; the freeze is gone.
   * @throws ConflictError when not frozen
   */
  unfreeze(now: Date, by?: string): void {
    const s = this.current;
    if (!s.frozen) throw new ConflictError(`service "${this.name}" is not frozen (state ${s.state})`, { service: this.name });
    this.change(nextStatus(s, { state: s.state === 'FREEZE' || s.state === 'ROLLBACK' ? 'OK' : s.state, info: '', commit: s.commit, frozen: undefined }, now), by);
  }

  /**
   * The operator rolls back to `commit` (a full id, checked by the caller): ROLLBACK, frozen there
   * with info `ROLLBACK: <hash>`, before the rollback is deployed (`deploy.ts`).
   */
  rollback(commit: string, actor: Actor, now: Date): void {
    const frozen: Freeze = { by: actor.by, at: now, reason: `rollback to ${commit.slice(0, 8)}`, rollback: commit };
    this.change(nextStatus(this.current, { state: 'ROLLBACK', info: frozenInfo(frozen), commit: this.current.commit, frozen }, now));
  }

  /**
   * `bad` failed its health check and `good` is the last good commit (`health-gate.ts`): ROLLBACK,
   * frozen by `by` on `good` with info `AUTO-ROLLBACK from <bad> to <good>: <reason>` (with `mode`
   * `retry-next-commit` only until the tip moves, {@link retryNextCommit}); the rollback deploy runs
   * the unit's action.
   */
  autoRollback(bad: string, good: string, reason: string, mode: 'freeze' | 'retry-next-commit', by: string, now: Date): void {
    const frozen: Freeze = { by, at: now, reason: `AUTO-ROLLBACK from ${bad.slice(0, 8)} to ${good.slice(0, 8)}: ${reason}`, rollback: good, auto: { mode, bad } };
    this.change(nextStatus(this.current, { state: 'ROLLBACK', info: frozen.reason, commit: this.current.commit, frozen }, now));
    this.runtime = { ...this.runtime, pendingAction: true };
  }

  /**
   * The tip moved past the commit an automatic `retry-next-commit` rollback froze on: the freeze is
   * lifted (OK, no info) and the pass tries the new tip.
   */
  retryNextCommit(now: Date): void {
    this.change(nextStatus(this.current, { state: 'OK', info: '', commit: this.current.commit, frozen: undefined }, now), AUTO_BY);
  }

  /**
   * A new commit is held back (`admission.ts`): the state stays as it is (and `since` too: a hold is
   * no transition), the info says why (`HELD: <reason>`). Ignored while frozen (nothing is held then).
   */
  held(reason: string): void {
    const s = this.current;
    if (s.frozen || s.info === `HELD: ${reason}`) return;
    this.change({ ...s, info: `HELD: ${reason}` });
  }

  /** A pass ended (`deploy.ts`): its state (FREEZE with the freeze's info when frozen and OK; `state.ts` `applyOutcome`). */
  passEnded(outcome: PassEnd, now: Date): void {
    this.change(applyOutcome(this.current, outcome, now));
  }

  /**
   * An automatic rollback's pass ended: as {@link passEnded}, but a failed one keeps why it was
   * rolled back (`<reason> (after AUTO-ROLLBACK …)`, still frozen).
   */
  autoRollbackEnded(outcome: PassEnd, now: Date): void {
    const next = applyOutcome(this.current, outcome, now);
    const frozen = this.current.frozen;
    this.change(outcome.state === 'OK' || !frozen ? next : { ...next, info: `${outcome.info} (after ${frozen.reason})` });
  }

  /** The fetch failed (`info` says why): DIFF with the deployed commit kept, files untouched. */
  fetchFailed(info: string, now: Date): void {
    this.change(applyOutcome(this.current, { state: 'DIFF', info, commit: this.current.commit }, now));
  }

  /** `commit` passed its health checks (or there are none): the rollback target from now on. */
  healthy(commit: string): void {
    this.good = commit;
    this.bad = undefined;
  }

  /**
   * `commit` failed its health check (`reason`) with no good commit to roll back to: BROKEN with
   * `info` (frozen-ness kept), and it stays BROKEN at that commit until a check passes.
   */
  unhealthyAt(commit: string, reason: string, info: string, now: Date): void {
    this.bad = { commit, reason };
    this.stillUnhealthy(this.current.commit, info, now);
  }

  /** A pass at `commit` found the unhealthy commit still failing its check (`info`): BROKEN there. */
  stillUnhealthy(commit: string, info: string, now: Date): void {
    this.change(nextStatus(this.current, { state: 'BROKEN', info, commit, frozen: this.current.frozen }, now));
  }

  /**
   * The health checks of a fresh apply could not run (`info`: the service's user is gone): BROKEN,
   * and the next pass checks the links out (and checks) again.
   */
  healthNotChecked(info: string, now: Date): void {
    this.runtime = { ...this.runtime, forceCheckout: true };
    this.change(nextStatus(this.current, { state: 'BROKEN', info, commit: this.current.commit, frozen: this.current.frozen }, now));
  }

  /** The only status setter: notifies listeners and marks the state for saving when it changed. */
  private change(next: ServiceStatus, by?: string): void {
    const prev = this.current;
    if (next === prev) return;
    this.current = next;
    this.onStatus(this.name, next, prev, by);
    this.onChange();
  }

  /** Add a history row (newest first, at most {@link HISTORY_LIMIT}). */
  record(row: HistoryEntry): void {
    this.rows = [row, ...this.rows].slice(0, HISTORY_LIMIT);
    this.onChange();
  }

  /** History rows, newest first. */
  history(): HistoryEntry[] {
    return [...this.rows];
  }

  /** What goes into the state file. */
  snapshot(): PersistedService {
    const s = this.current;
    return {
      state: s.state,
      info: s.info,
      since: s.since.toISOString(),
      commit: s.commit,
      frozen: s.frozen ? { by: s.frozen.by, at: s.frozen.at.toISOString(), reason: s.frozen.reason, ...(s.frozen.rollback ? { rollback: s.frozen.rollback } : {}), ...(s.frozen.auto ? { auto: s.frozen.auto } : {}) } : undefined,
      ...(this.lastGood ? { lastGood: this.lastGood } : {}),
      history: this.rows.map((h) => ({ ...h, time: h.time.toISOString() })),
    };
  }
}

/**
 * Whether a pass of this trigger kind is worth a history row even when it changed nothing: the
 * startup pass and the operator's rollback and unfreeze. A poll, a drift check or a pull that found
 * nothing to do (and changed no state) adds no row: a `do pull` loop must not push real
 * deployments out of the bounded history.
 */
export function alwaysRecorded(trigger: Trigger): boolean {
  return trigger !== 'poll' && trigger !== 'drift' && trigger !== 'pull';
}

function restoreStatus(saved: PersistedService, now: Date): ServiceStatus {
  const since = new Date(saved.since);
  const f = saved.frozen;
  return {
    state: isState(saved.state) ? saved.state : 'OK',
    info: saved.info,
    since: Number.isNaN(since.getTime()) ? now : since,
    commit: saved.commit,
    frozen: f ? { by: f.by, at: new Date(f.at), reason: f.reason, ...(f.rollback ? { rollback: f.rollback } : {}), ...(f.auto ? { auto: f.auto } : {}) } : undefined,
  };
}

function restoreHistory(h: PersistedService['history'][number]): HistoryEntry | undefined {
  if (!isState(h.state)) return undefined;
  const trigger = h.trigger as Trigger;
  return { commit: h.commit, time: new Date(h.time), trigger, state: h.state, info: h.info, seconds: h.seconds, ...(h.by ? { by: h.by } : {}) };
}
