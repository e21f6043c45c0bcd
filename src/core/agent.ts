/**
 * This host's services as the operator sees them: the {@link Control} the API calls (queries, and
 * the operator's actions of `operator-actions.ts`), pulls and webhooks, drift checks, and what the
 * object stores must keep. The trackers are `tracker-set.ts`, live config changes `reconfigure.ts`,
 * the state file `state-saver.ts`. No I/O imports.
 */
import type { ServiceSpec } from '../config/config.js';
import type { Actor, Control, HistoryEntry, ServiceInfo } from './control.js';
import { UnknownServiceError } from './errors.js';
import type { PersistedState, StateStore } from '../ports/state-store.js';
import { checkoutOf } from './reconcile.js';
import { webhookKey } from '../upstream/upstream.js';
import { freeze, rollback, unfreeze } from './operator-actions.js';
import { reconfigure, type ReconfigureResult } from './reconfigure.js';
import { StateSaver } from './state-saver.js';
import type { StoreNeeds } from './store-sweep.js';
import { TrackerSet, type Tracked } from './tracker-set.js';
import pLimit from 'p-limit';
import { PASS_CONCURRENCY, pinOf, type TrackerDeps } from './tracker.js';

export { UnknownServiceError };
export type { ReconfigureResult };

/** What the agent needs beyond the trackers' deps. */
export interface AgentDeps extends TrackerDeps {
  /** This host's real hostname (gitopper `/list/machine` `actual`). */
  readonly hostname: string;
  /** Where FREEZE/ROLLBACK and history are saved; omitted = not persisted (tests). */
  readonly store?: StateStore;
  /** What `store.load()` returned at startup. */
  readonly saved?: PersistedState;
  /** Called when saving the state file failed (logged by the caller). Must not throw. */
  readonly onSaveError?: (err: unknown) => void;
  /** Told about each mount removed by a live config change (`result` is the port's answer or the error). Must not throw. */
  readonly onUnmount?: (service: string, target: string, result: unknown) => void;
}

/** The agent: trackers for this host's services. */
export class Agent implements Control {
  private readonly saver: StateSaver;
  private readonly set: TrackerSet;

  /** @param services this host's services (unique names, see `servicesForHost`). */
  constructor(services: readonly ServiceSpec[], private readonly deps: AgentDeps) {
    this.saver = new StateSaver(deps.store, () => Object.fromEntries(this.set.services().map(([n, v]) => [n, v.record.snapshot()])), deps.onSaveError);
    // one bound for the passes of all trackers (PASS_CONCURRENCY), unless the caller brings its own
    const slots = pLimit(PASS_CONCURRENCY);
    this.set = new TrackerSet({ ...deps, passSlot: deps.passSlot ?? ((work) => slots(work)) }, () => this.saver.saveSoon());
    for (const spec of services) this.set.track(spec, deps.saved?.services[spec.service]);
  }

  /** Number of distinct upstream branches tracked (= fetches per full pass). */
  get sources(): number {
    return this.set.trackers().length;
  }

  /** Start every tracker (first pass at once). Idempotent. */
  start(): void {
    this.set.start();
  }

  /** Resolves when every tracker finished its first pass. */
  async ready(): Promise<void> {
    await Promise.all(this.set.trackers().map((t) => t.ready()));
  }

  /** Stop every tracker after its current step and flush the state file; resolves when done. */
  async stop(): Promise<void> {
    await this.set.stop();
    await this.saver.flushed();
  }

  /**
   * Apply a new set of this host's services in place (live config; `reconfigure.ts`): new services
   * start, removed ones stop being tracked and their mounts are removed, changed ones (upstream,
   * branch, dirs, user, action, …) keep their state and history and are reconciled at once
   * (re-checkout, re-mount, unmount stale targets); unchanged ones are not touched.
   */
  async reconfigure(services: readonly ServiceSpec[]): Promise<ReconfigureResult> {
    const result = await reconfigure(this.set, services, this.deps);
    this.saver.saveSoon();
    return result;
  }

  hostname(): string {
    return this.deps.hostname;
  }

  machines(): string[] {
    return [...new Set(this.set.services().map(([, v]) => v.record.spec.machine))];
  }

  services(): ServiceInfo[] {
    return this.set.services().map(([name]) => this.service(name));
  }

  service(name: string): ServiceInfo {
    const { record, tracker } = this.find(name);
    const s = record.status;
    const tip = tracker.tip;
    return {
      service: name,
      machine: record.spec.machine,
      state: s.state,
      info: s.info,
      since: s.since,
      commit: s.commit,
      upstream: record.spec.upstream,
      branch: record.spec.branch,
      ...(tip ? { tip } : {}),
      ...(s.frozen ? { by: s.frozen.by } : {}),
      drift: record.drift,
    };
  }

  async freeze(name: string, actor: Actor, reason = ''): Promise<ServiceInfo> {
    await freeze(this.find(name).record, actor, reason, this.deps);
    return this.service(name);
  }

  async unfreeze(name: string, actor: Actor): Promise<ServiceInfo> {
    const { tracker, record } = this.find(name);
    await unfreeze(tracker, record, actor, this.deps);
    return this.service(name);
  }

  async rollback(name: string, hash: string, actor: Actor): Promise<ServiceInfo> {
    const { tracker, record } = this.find(name);
    await rollback(tracker, record, hash, actor, this.deps);
    return this.service(name);
  }

  pull(name?: string, actor?: Actor): void {
    if (name === undefined) {
      for (const t of this.set.trackers()) t.pull(undefined, actor?.by);
      return;
    }
    this.find(name).tracker.pull(name, actor?.by);
  }

  /**
   * A push webhook: pull every tracker whose upstream is one of `urls` (compared with
   * {@link webhookKey}) and whose branch is `branch`. Never blocks; returns the services pulled.
   */
  pullPushed(urls: readonly string[], branch: string): string[] {
    const keys = new Set(urls.map(webhookKey));
    const pulled: string[] = [];
    for (const t of this.set.trackers()) {
      if (t.source.branch !== branch || !keys.has(webhookKey(t.source.upstream))) continue;
      t.pull(undefined, 'webhook');
      pulled.push(...t.records.keys());
    }
    return pulled;
  }

  /** Check `name` for local edits now (its checkout changed on disk). Never blocks. Throws UnknownServiceError. */
  checkDrift(name: string): void {
    const { tracker, record } = this.find(name);
    tracker.checkDrift(record);
  }

  /**
   * Allow quiet polls on every tracker (`Tracker.setQuietPolls`), now and for trackers made later.
   * cmd turns them off when the checkout watcher fails.
   */
  setQuietPolls(allowed: boolean): void {
    this.set.setQuietPolls(allowed);
  }

  /** Every service's checkout paths that a drift watcher should watch (`<mount>/<service>/<link>`). */
  watchedPaths(): { service: string; paths: string[] }[] {
    return this.set.services().map(([service, { record }]) => {
      const co = checkoutOf(record.spec);
      return { service, paths: co.links.map((l) => `${co.dir}/${l}`) };
    });
  }

  /**
   * What the services of this host still need from the object stores (`store-sweep.ts`): their
   * upstreams, and every commit they have deployed, are pinned to, last passed a health check at, or
   * list in their history.
   */
  storeNeeds(): StoreNeeds {
    const upstreams = new Set<string>();
    const commits = new Set<string>();
    for (const [, { record }] of this.set.services()) {
      upstreams.add(record.spec.upstream);
      for (const c of [record.status.commit, pinOf(record), record.lastGood ?? '', ...record.history().map((h) => h.commit)]) if (c !== '') commits.add(c);
    }
    return { upstreams: [...upstreams], commits: [...commits] };
  }

  history(name: string): HistoryEntry[] {
    return this.find(name).record.history();
  }

  private find(name: string): Tracked {
    return this.set.find(name);
  }
}
