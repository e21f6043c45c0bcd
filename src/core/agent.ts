/**
 * All trackers of this host: groups the host's services by upstream branch (one tracker, hence
 * one fetch per pass, per distinct source: upstream, branch and its credentials), runs them, keeps the state
 * file current, and implements the operator's {@link Control}. No I/O imports.
 */
import type { ServiceSpec } from '../config/config.js';
import type { Actor, Control, HistoryEntry, ServiceInfo } from './control.js';
import { UnknownServiceError } from './errors.js';
import type { SourceRef } from '../ports/git.js';
import type { PersistedService, PersistedState, StateStore } from '../ports/state-store.js';
import { checkoutOf } from './reconcile.js';
import { freeze, rollback, unfreeze } from './operator-actions.js';
import { webhookKey } from '../upstream/upstream.js';
import type { ServiceRecord } from './service.js';
import type { StoreNeeds } from './store-sweep.js';
import { pinOf, Tracker, type TrackerDeps } from './tracker.js';

export { UnknownServiceError };

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

function sourceKey(s: SourceRef): string {
  return JSON.stringify([s.upstream, s.branch, s.tokenFile ?? '', s.sshKey ?? '', s.knownHosts ?? '']);
}

/** Where `spec`'s tracker fetches from: upstream, branch and the credentials that go with them. */
function sourceOf(spec: ServiceSpec): SourceRef {
  return { upstream: spec.upstream, branch: spec.branch, tokenFile: spec.tokenFile, sshKey: spec.sshKey, knownHosts: spec.knownHosts };
}

/** A tracker with the handle that stops it. */
interface Running {
  readonly tracker: Tracker;
  abort: AbortController;
  loop: Promise<void> | undefined;
}

/** What {@link Agent.reconfigure} did, by service name. */
export interface ReconfigureResult {
  readonly added: string[];
  readonly removed: string[];
  readonly changed: string[];
  readonly unchanged: string[];
}

/** The agent: trackers for this host's services. */
export class Agent implements Control {
  private readonly trackers = new Map<string, Running>();
  private quietPolls = true;
  private readonly byService = new Map<string, { tracker: Tracker; record: ServiceRecord }>();
  private started = false;
  private saving: Promise<void> = Promise.resolve();
  private dirty = false;

  /** @param services this host's services (unique names, see `servicesForHost`). */
  constructor(services: readonly ServiceSpec[], private readonly deps: AgentDeps) {
    for (const spec of services) this.track(spec, deps.saved?.services[spec.service]);
  }

  /** Number of distinct upstream branches tracked (= fetches per full pass). */
  get sources(): number {
    return this.trackers.size;
  }

  /** Start every tracker (first pass at once). Idempotent. */
  start(): void {
    this.started = true;
    for (const t of this.trackers.values()) this.launch(t);
  }

  /** Resolves when every tracker finished its first pass. */
  async ready(): Promise<void> {
    await Promise.all([...this.trackers.values()].map((t) => t.tracker.ready()));
  }

  /** Stop every tracker after its current step and flush the state file; resolves when done. */
  async stop(): Promise<void> {
    this.started = false;
    for (const t of this.trackers.values()) t.abort.abort();
    await Promise.all([...this.trackers.values()].map((t) => t.loop));
    for (const t of this.trackers.values()) t.loop = undefined;
    await this.saving;
  }

  /**
   * Apply a new set of this host's services in place (live config): new services start, removed
   * ones stop being tracked and their mounts are removed, changed ones (upstream, branch, dirs,
   * user, action, …) keep their state and history and are reconciled at once (re-checkout,
   * re-mount, unmount stale targets); unchanged ones are not touched.
   */
  async reconfigure(services: readonly ServiceSpec[]): Promise<ReconfigureResult> {
    const result: ReconfigureResult = { added: [], removed: [], changed: [], unchanged: [] };
    const next = new Map(services.map((s) => [s.service, s]));
    for (const [name, { tracker, record }] of [...this.byService]) {
      if (next.has(name)) continue;
      await tracker.remove(name);
      this.byService.delete(name);
      await this.unmount(record.spec, []);
      result.removed.push(name);
    }
    for (const spec of services) {
      const cur = this.byService.get(spec.service);
      if (!cur) {
        this.track(spec);
        result.added.push(spec.service);
      } else if (JSON.stringify(cur.record.spec) === JSON.stringify(spec)) {
        result.unchanged.push(spec.service);
        continue;
      } else {
        await this.replace(cur, spec);
        result.changed.push(spec.service);
      }
      this.byService.get(spec.service)!.tracker.pull(spec.service);
    }
    for (const [key, t] of [...this.trackers]) {
      if (t.tracker.records.size > 0) continue;
      t.abort.abort();
      await t.loop;
      this.trackers.delete(key);
    }
    this.saveSoon();
    return result;
  }

  /** Put `spec` in the tracker of its source (made and started if new). */
  private track(spec: ServiceSpec, saved?: PersistedService, runtime?: ServiceRecord['runtime']): void {
    const source = sourceOf(spec);
    const key = sourceKey(source);
    let t = this.trackers.get(key);
    if (!t) {
      t = { tracker: new Tracker(source, [], this.deps, {}, () => this.saveSoon()), abort: new AbortController(), loop: undefined };
      t.tracker.setQuietPolls(this.quietPolls);
      this.trackers.set(key, t);
      if (this.started) this.launch(t);
    }
    const record = t.tracker.add(spec, saved, runtime);
    this.byService.set(spec.service, { tracker: t.tracker, record });
  }

  /** A changed service: unmount what its new dirs no longer mount, then carry its state over. */
  private async replace(cur: { tracker: Tracker; record: ServiceRecord }, spec: ServiceSpec): Promise<void> {
    const { tracker, record } = cur;
    const forced = { pendingAction: true, forceCheckout: true };
    if (sourceKey(tracker.source) === sourceKey(sourceOf(spec))) {
      await record.exclusive(async () => {
        await this.unmount(record.spec, spec.dirs.map((d) => ({ local: d.local, source: `${checkoutOf(spec).dir}/${d.link}` })));
        record.spec = spec;
        record.runtime = forced;
      });
      return;
    }
    await tracker.remove(spec.service);
    await this.unmount(record.spec, spec.dirs.map((d) => ({ local: d.local, source: `${checkoutOf(spec).dir}/${d.link}` })));
    this.track(spec, record.snapshot(), forced);
  }

  /** Remove `old`'s mounts except those that stay the same (same target, same source). */
  private async unmount(old: ServiceSpec, keep: { local: string; source: string }[]): Promise<void> {
    const dir = checkoutOf(old).dir;
    for (const d of old.dirs) {
      const source = `${dir}/${d.link}`;
      if (keep.some((k) => k.local === d.local && k.source === source)) continue;
      const r = await this.deps.mounts.remove(source, d.local).catch((err: unknown) => err);
      this.deps.onUnmount?.(old.service, d.local, r);
    }
  }

  private launch(t: Running): void {
    if (t.loop) return;
    if (t.abort.signal.aborted) t.abort = new AbortController();
    t.loop = t.tracker.run(t.abort.signal);
  }

  hostname(): string {
    return this.deps.hostname;
  }

  machines(): string[] {
    return [...new Set([...this.byService.values()].map((v) => v.record.spec.machine))];
  }

  services(): ServiceInfo[] {
    return [...this.byService.keys()].map((name) => this.service(name));
  }

  service(name: string): ServiceInfo {
    const { record } = this.find(name);
    const s = record.status;
    return {
      service: name,
      machine: record.spec.machine,
      state: s.state,
      info: s.info,
      since: s.since,
      commit: s.commit,
      upstream: record.spec.upstream,
      branch: record.spec.branch,
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
      for (const t of this.trackers.values()) t.tracker.pull(undefined, actor?.by);
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
    for (const t of this.trackers.values()) {
      if (t.tracker.source.branch !== branch || !keys.has(webhookKey(t.tracker.source.upstream))) continue;
      t.tracker.pull(undefined, 'webhook');
      pulled.push(...t.tracker.records.keys());
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
    this.quietPolls = allowed;
    for (const t of this.trackers.values()) t.tracker.setQuietPolls(allowed);
  }

  /** Every service's checkout paths that a drift watcher should watch (`<mount>/<service>/<link>`). */
  watchedPaths(): { service: string; paths: string[] }[] {
    return [...this.byService.entries()].map(([service, { record }]) => {
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
    for (const { record } of this.byService.values()) {
      upstreams.add(record.spec.upstream);
      for (const c of [record.status.commit, pinOf(record), record.lastGood ?? '', ...record.history().map((h) => h.commit)]) if (c !== '') commits.add(c);
    }
    return { upstreams: [...upstreams], commits: [...commits] };
  }

  history(name: string): HistoryEntry[] {
    return this.find(name).record.history();
  }

  private find(name: string): { tracker: Tracker; record: ServiceRecord } {
    const found = this.byService.get(name);
    if (!found) throw new UnknownServiceError(name);
    return found;
  }

  /** Save the state file after the current save (coalesced: many changes, one write). */
  private saveSoon(): void {
    const store = this.deps.store;
    if (!store || this.dirty) return;
    this.dirty = true;
    this.saving = this.saving.then(async () => {
      this.dirty = false;
      const services = Object.fromEntries([...this.byService.entries()].map(([n, v]) => [n, v.record.snapshot()]));
      try {
        await store.save({ version: 1, services });
      } catch (err) {
        this.deps.onSaveError?.(err);
      }
    });
  }
}
