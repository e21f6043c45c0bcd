/**
 * All trackers of this host: groups the host's services by upstream branch (one tracker, hence
 * one fetch per pass, per distinct (upstream, branch, token_file)), runs them, keeps the state
 * file current, and implements the operator's {@link Control}. No I/O imports.
 */
import type { ServiceSpec } from './config.js';
import type { Actor, Control, HistoryEntry, ServiceInfo } from './control.js';
import { UnknownServiceError } from './errors.js';
import type { PersistedState, SourceRef, StateStore } from './ports.js';
import type { ServiceRecord } from './service.js';
import { Tracker, type TrackerDeps } from './tracker.js';

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
}

function sourceKey(s: SourceRef): string {
  return JSON.stringify([s.upstream, s.branch, s.tokenFile ?? '']);
}

/** The agent: trackers for this host's services. */
export class Agent implements Control {
  private readonly trackers: Tracker[] = [];
  private readonly byService = new Map<string, { tracker: Tracker; record: ServiceRecord }>();
  private abort = new AbortController();
  private running: Promise<void>[] = [];
  private saving: Promise<void> = Promise.resolve();
  private dirty = false;

  /** @param services this host's services (unique names, see `servicesForHost`). */
  constructor(services: readonly ServiceSpec[], private readonly deps: AgentDeps) {
    const groups = new Map<string, ServiceSpec[]>();
    for (const s of services) {
      const key = sourceKey({ upstream: s.upstream, branch: s.branch, tokenFile: s.tokenFile });
      groups.set(key, [...(groups.get(key) ?? []), s]);
    }
    for (const group of groups.values()) {
      const first = group[0]!;
      const source = { upstream: first.upstream, branch: first.branch, tokenFile: first.tokenFile };
      const tracker = new Tracker(source, group, deps, deps.saved?.services ?? {}, () => this.saveSoon());
      this.trackers.push(tracker);
      for (const spec of group) this.byService.set(spec.service, { tracker, record: tracker.records.get(spec.service)! });
    }
  }

  /** Number of distinct upstream branches tracked (= fetches per full pass). */
  get sources(): number {
    return this.trackers.length;
  }

  /** Start every tracker (first pass at once). Idempotent. */
  start(): void {
    if (this.running.length > 0) return;
    this.abort = new AbortController();
    this.running = this.trackers.map((t) => t.run(this.abort.signal));
  }

  /** Resolves when every tracker finished its first pass. */
  async ready(): Promise<void> {
    await Promise.all(this.trackers.map((t) => t.ready()));
  }

  /** Stop every tracker after its current step and flush the state file; resolves when done. */
  async stop(): Promise<void> {
    this.abort.abort();
    await Promise.all(this.running);
    this.running = [];
    await this.saving;
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
    };
  }

  async freeze(name: string, actor: Actor, reason = ''): Promise<ServiceInfo> {
    const { tracker, record } = this.find(name);
    await tracker.freeze(record, actor, reason);
    return this.service(name);
  }

  async unfreeze(name: string, actor: Actor): Promise<ServiceInfo> {
    const { tracker, record } = this.find(name);
    await tracker.unfreeze(record, actor);
    return this.service(name);
  }

  async rollback(name: string, hash: string, actor: Actor): Promise<ServiceInfo> {
    const { tracker, record } = this.find(name);
    await tracker.rollback(record, hash, actor);
    return this.service(name);
  }

  pull(name?: string, _actor?: Actor): void {
    if (name === undefined) {
      for (const t of this.trackers) t.pull();
      return;
    }
    this.find(name).tracker.pull(name);
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
