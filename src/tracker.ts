/**
 * The loop that tracks one upstream branch for the services that use it (gitopper's
 * `trackUpstream`, one per (upstream, branch, token) instead of one per service, so a pass
 * fetches once however many services share the upstream).
 *
 * One wait point: the jittered timer (`[d, 1.5d)`, gitopper's jitter), a pull-now request, or
 * abort. Each pass: fetch once, then reconcile every service of this upstream towards the tip.
 * This is the only place a service's status is set. No I/O imports.
 */
import type { ServiceSpec } from './config.js';
import type { Clock, GitPort, Pass, SourceRef } from './ports.js';
import { reconcile, type Outcome, type ReconcileDeps, type Runtime } from './reconcile.js';
import { applyOutcome, initialStatus, passMayApply, type ServiceStatus } from './state.js';

/** Why a pass ran. */
export type Trigger = 'startup' | 'poll' | 'pull';

/** What a tracker reports; the agent turns these into logs and metrics. Must not throw. */
export interface TrackerEvents {
  /** A fetch finished; `error` is set when it failed. `seconds` is its wall time. */
  fetched(source: SourceRef, seconds: number, tip: string | undefined, error: unknown): void;
  /** A service's pass finished (also called when the status did not change). */
  reconciled(service: string, outcome: Outcome, trigger: Trigger, seconds: number): void;
  /** A service's status changed (`prev` is the status before). */
  status(service: string, status: ServiceStatus, prev: ServiceStatus): void;
}

/** Everything a tracker needs. */
export interface TrackerDeps extends ReconcileDeps {
  readonly git: GitPort;
  readonly clock: Clock;
  /** Uniform random number in [0, 1), for the jitter. */
  readonly random: () => number;
  /** Base pull interval `d` in seconds (gitopper `-t/--duration`). */
  readonly intervalSeconds: number;
  readonly events: TrackerEvents;
}

interface Entry {
  readonly spec: ServiceSpec;
  status: ServiceStatus;
  runtime: Runtime;
}

/** Wait time in milliseconds before the next poll: uniform in `[d, 1.5d)` (gitopper's jitter). */
export function jitteredDelayMs(intervalSeconds: number, random: () => number): number {
  return intervalSeconds * 1000 * (1 + 0.5 * random());
}

/** Tracks one (upstream, branch, token) for a set of services. */
export class Tracker {
  private readonly entries = new Map<string, Entry>();
  private readonly pending = new Set<string>();
  private wake: AbortController = new AbortController();
  private firstPass: Promise<void>;
  private resolveFirstPass!: () => void;

  /**
   * @param source the upstream branch every service in `services` uses
   * @param services the services (all with this `source`), unique by name
   */
  constructor(readonly source: SourceRef, services: readonly ServiceSpec[], private readonly deps: TrackerDeps) {
    const now = deps.clock.now();
    for (const spec of services) this.entries.set(spec.service, { spec, status: initialStatus(now), runtime: { pendingAction: false } });
    this.firstPass = new Promise((resolve) => (this.resolveFirstPass = resolve));
  }

  /** Names of the services this tracker owns. */
  services(): string[] {
    return [...this.entries.keys()];
  }

  /** Current status of `service`, or undefined if it is not tracked here. */
  status(service: string): ServiceStatus | undefined {
    return this.entries.get(service)?.status;
  }

  /** Resolves once the first pass (fetch + every service) has finished, whatever its outcome. */
  ready(): Promise<void> {
    return this.firstPass;
  }

  /**
   * Ask for an immediate pass of `service` (or of every service when omitted). Never blocks: a
   * pass in progress finishes first, then the requested one runs (requests made meanwhile merge).
   */
  pull(service?: string): void {
    for (const name of service === undefined ? this.entries.keys() : [service]) {
      if (this.entries.has(name)) this.pending.add(name);
    }
    this.wake.abort();
  }

  /** Run until `signal` aborts: a first pass at once, then a pass per timer tick or pull. */
  async run(signal: AbortSignal): Promise<void> {
    let trigger: Trigger = 'startup';
    let targets = this.services();
    while (!signal.aborted) {
      this.pending.clear();
      await this.pass(targets, trigger);
      if (trigger === 'startup') this.resolveFirstPass();
      if (signal.aborted) break;
      if (this.pending.size === 0) {
        const woken = await this.waitPoint(signal);
        if (signal.aborted) break;
        trigger = woken ? 'pull' : 'poll';
      } else {
        trigger = 'pull';
      }
      targets = trigger === 'pull' ? [...this.pending] : this.services();
    }
    this.resolveFirstPass();
  }

  /** The one wait point: true when woken by a pull, false on timer; returns on abort. */
  private async waitPoint(signal: AbortSignal): Promise<boolean> {
    this.wake = new AbortController();
    if (this.pending.size > 0) return true;
    const both = AbortSignal.any([signal, this.wake.signal]);
    try {
      await this.deps.clock.sleep(jitteredDelayMs(this.deps.intervalSeconds, this.deps.random), both);
      return false;
    } catch {
      return this.wake.signal.aborted && !signal.aborted;
    }
  }

  /** One pass: fetch once, reconcile each target service that is not frozen. */
  private async pass(targets: readonly string[], trigger: Trigger): Promise<void> {
    const live = targets.map((n) => this.entries.get(n)).filter((e): e is Entry => e !== undefined && passMayApply(e.status.state));
    if (live.length === 0) return;
    const pass: Pass = { cache: {} };
    const started = this.deps.clock.now().getTime();
    let tip: string;
    try {
      tip = await this.deps.git.fetch(this.source, pass);
      this.deps.events.fetched(this.source, seconds(started, this.deps.clock), tip, undefined);
    } catch (err) {
      this.deps.events.fetched(this.source, seconds(started, this.deps.clock), undefined, err);
      const info = `fetching ${this.source.branch} from ${this.source.upstream}: ${err instanceof Error ? err.message : String(err)}`;
      for (const e of live) this.setStatus(e, { state: 'DIFF', info, commit: e.status.commit });
      return;
    }
    await Promise.all(live.map((e) => this.reconcileOne(e, tip, trigger, pass)));
  }

  private async reconcileOne(e: Entry, tip: string, trigger: Trigger, pass: Pass): Promise<void> {
    const started = this.deps.clock.now().getTime();
    const outcome = await reconcile(e.spec, tip, e.runtime, this.deps, pass);
    e.runtime = outcome.runtime;
    this.deps.events.reconciled(e.spec.service, outcome, trigger, seconds(started, this.deps.clock));
    this.setStatus(e, outcome);
  }

  /** The only place a status changes. */
  private setStatus(e: Entry, next: { state: 'OK' | 'BROKEN' | 'DIFF'; info: string; commit: string }): void {
    const prev = e.status;
    const status = applyOutcome(prev, next, this.deps.clock.now());
    if (status === prev) return;
    e.status = status;
    this.deps.events.status(e.spec.service, status, prev);
  }
}

function seconds(startedMs: number, clock: Clock): number {
  return (clock.now().getTime() - startedMs) / 1000;
}
