/**
 * One service's record: its spec, status, memory between passes, bounded history, and the lock
 * that serialises everything done to it (passes, freeze, unfreeze, rollback). `set` is the only
 * place a status changes. Pure: no I/O.
 */
import AsyncLock from 'async-lock';
import type { ServiceSpec } from '../config/config.js';
import type { HistoryEntry, Trigger } from './control.js';
import type { PersistedService } from '../ports/state-store.js';
import type { Runtime } from './reconcile.js';
import { initialStatus, isState, type ServiceStatus } from './state.js';

/** How many history rows a service keeps (issue: "bounded (last 100)"). */
export const HISTORY_LIMIT = 100;

/** Called after every status change. Must not throw. */
export type StatusListener = (service: string, status: ServiceStatus, prev: ServiceStatus) => void;

/** A service's mutable record. */
export class ServiceRecord {
  /** The service's spec; replaced by a live config change (under {@link exclusive}). */
  spec: ServiceSpec;
  /** Set once the service left the config: passes skip it. */
  removed = false;
  status: ServiceStatus;
  /** The last commit that deployed and passed its health check: where an automatic rollback goes. */
  lastGood: string | undefined;
  /**
   * Set when `commit` failed its health check and there was no good commit to roll back to: passes
   * at that commit check again and keep BROKEN until a check passes (`health-gate.ts`). In memory.
   */
  unhealthy: { readonly commit: string; readonly reason: string } | undefined;
  /** Local edits found by the last pass (paths under the links). */
  drift: readonly string[] = [];
  runtime: Runtime = { pendingAction: false };
  private rows: HistoryEntry[] = [];
  /** One queue, no bound on waiting work and no timeouts (async-lock's default `maxPending` of 1000 would reject). */
  private readonly lock = new AsyncLock({ maxPending: Infinity });

  /** @param saved what the state file held for this service, if anything */
  constructor(spec: ServiceSpec, now: Date, private readonly onStatus: StatusListener, private readonly onChange: () => void, saved?: PersistedService) {
    this.spec = spec;
    this.status = saved ? restoreStatus(saved, now) : initialStatus(now);
    this.lastGood = saved?.lastGood;
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

  /** The only status setter: notifies listeners and marks the state for saving when it changed. */
  set(next: ServiceStatus): void {
    const prev = this.status;
    if (next === prev) return;
    this.status = next;
    this.onStatus(this.name, next, prev);
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
    const s = this.status;
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
