/**
 * All trackers of this host: groups the host's services by upstream branch (one tracker, hence
 * one fetch per pass, per distinct (upstream, branch, token_file)), runs them, and answers the
 * operator's questions (list, pull). No I/O imports.
 */
import type { ServiceSpec } from './config.js';
import type { SourceRef } from './ports.js';
import type { ServiceStatus } from './state.js';
import { Tracker, type TrackerDeps } from './tracker.js';

/** One row of {@link Agent.list}. */
export interface ServiceView {
  readonly service: string;
  readonly spec: ServiceSpec;
  readonly status: ServiceStatus;
}

/** Thrown for a service name this host does not manage (HTTP maps it to 404). */
export class UnknownServiceError extends Error {
  readonly code = 'UNKNOWN_SERVICE';
  constructor(readonly data: { service: string }) {
    super(`service "${data.service}" is not managed on this host`);
  }
}

function sourceKey(s: SourceRef): string {
  return JSON.stringify([s.upstream, s.branch, s.tokenFile ?? '']);
}

/** The agent: trackers for this host's services. */
export class Agent {
  private readonly trackers: Tracker[] = [];
  private readonly byService = new Map<string, { tracker: Tracker; spec: ServiceSpec }>();
  private abort = new AbortController();
  private running: Promise<void>[] = [];

  /** @param services this host's services (unique names, see `servicesForHost`). */
  constructor(services: readonly ServiceSpec[], deps: TrackerDeps) {
    const groups = new Map<string, ServiceSpec[]>();
    for (const s of services) {
      const key = sourceKey({ upstream: s.upstream, branch: s.branch, tokenFile: s.tokenFile });
      groups.set(key, [...(groups.get(key) ?? []), s]);
    }
    for (const group of groups.values()) {
      const first = group[0]!;
      const tracker = new Tracker({ upstream: first.upstream, branch: first.branch, tokenFile: first.tokenFile }, group, deps);
      this.trackers.push(tracker);
      for (const spec of group) this.byService.set(spec.service, { tracker, spec });
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

  /** Stop every tracker after its current step; resolves when all loops have returned. */
  async stop(): Promise<void> {
    this.abort.abort();
    await Promise.all(this.running);
    this.running = [];
  }

  /** Every service with its status, in config order. */
  list(): ServiceView[] {
    return [...this.byService.entries()].map(([service, { tracker, spec }]) => ({ service, spec, status: tracker.status(service)! }));
  }

  /** One service's view. Throws UnknownServiceError. */
  get(service: string): ServiceView {
    const found = this.byService.get(service);
    if (!found) throw new UnknownServiceError({ service });
    return { service, spec: found.spec, status: found.tracker.status(service)! };
  }

  /** Immediate pass for `service`, or for all services when omitted. Never blocks. Throws UnknownServiceError. */
  pull(service?: string): void {
    if (service === undefined) {
      for (const t of this.trackers) t.pull();
      return;
    }
    const found = this.byService.get(service);
    if (!found) throw new UnknownServiceError({ service });
    found.tracker.pull(service);
  }
}
