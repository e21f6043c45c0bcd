/**
 * Prometheus metrics on a private prom-client Registry (comin's pattern: nothing global).
 * Reference of every series: docs/metrics.md.
 *
 * gitopper's series keep their names, types, labels and values (docs/metrics.md, "Compatibility
 * with miekg/gitopper"):
 *   gitopper_service_state{service}                 gauge: OK 0, FREEZE 1, ROLLBACK 2, BROKEN 3, DIFF 4
 *   gitopper_service_change_time_seconds{service}   gauge: unix time of the last real transition
 *   gitopper_machine_git_ops_total                  counter: git network operations (fetches)
 *   gitopper_machine_git_errors_total               counter: failed git network operations
 * New series (this project): service info/upstream_ahead/drift/reloads, the sync histogram, config
 * reload status, build info, and prom-client's process and Node.js metrics minus the three that
 * `promtool check metrics` rejects (see {@link PROMTOOL_REJECTED}).
 */
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import { stateValue, type State } from '../core/state.js';
import { TrustMetrics } from './trust-metrics.js';

/**
 * The phases of `gitopper_sync_duration_seconds`: the fetch of an upstream branch (once per
 * tracker pass, shared by its services), then per service the checkout, the bind mounts, and the
 * systemd step (daemon-reload + action, waiting for the job).
 */
export const SYNC_PHASES = ['fetch', 'checkout', 'mount', 'unit'] as const;
/** One of {@link SYNC_PHASES}. */
export type SyncPhase = (typeof SYNC_PHASES)[number];

/**
 * prom-client default metrics left out: gauges named `_total` (promtool: "non-counter metrics
 * should not have _total suffix"). Nothing is lost: each is the sum over the `type` label of the
 * gauge of the same name without `_total` (`nodejs_active_handles{type}` etc.), which stays.
 */
export const PROMTOOL_REJECTED = ['nodejs_active_handles_total', 'nodejs_active_requests_total', 'nodejs_active_resources_total'] as const;

/** systemd job results counted from 0 for every known service, so `rate()`/`increase()` work from the start. */
const INITIAL_RESULTS = ['done', 'failed'] as const;

/** Buckets of the sync histogram, seconds: loopback fetches take milliseconds, a slow unit reload a minute or more. */
const SYNC_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120];

/**
 * What {@link Metrics.addService} needs to know about a service: its name, tracked branch and
 * current status. `ServiceInfo` (`agent.services()`) has all of these.
 */
export interface ServiceView {
  readonly service: string;
  /** The branch the service tracks (label `branch` of `gitopper_service_info`). */
  readonly branch: string;
  readonly state: State;
  /** Last real state transition. */
  readonly since: Date;
  /** Full id of the deployed commit, "" before the first checkout. */
  readonly commit: string;
}

/** The part of a status update {@link Metrics.setStatus} uses (a `ServiceStatus` fits). */
export interface StatusView {
  readonly state: State;
  /** Last real state transition: `gitopper_service_change_time_seconds` follows it and nothing else. */
  readonly since: Date;
  /** Full id of the deployed commit, "" before the first checkout. */
  readonly commit: string;
}

/** Options of {@link Metrics}. */
export interface MetricsOptions {
  /** The agent's version for `gitopper_build_info{version}`; default `unknown`. */
  readonly version?: string;
  /** Collect process and Node.js metrics (`process_*`, `nodejs_*`); default true. */
  readonly processMetrics?: boolean;
}

/** What the metrics remember per service to keep `gitopper_service_info` at one series. */
interface Known {
  branch: string;
  /** Deployed commit shown in `gitopper_service_info` ("" = no info series). */
  commit: string;
  /** Upstream tip at the last successful fetch, if any. */
  tip: string | undefined;
  /** Job results with a `gitopper_service_reloads_total` series. */
  results: Set<string>;
  /** addService() initialised its series. */
  added: boolean;
}

/** Unix seconds (whole) of `d`, gitopper's resolution. */
function unixSeconds(d: Date): number {
  return Math.floor(d.getTime() / 1000);
}

/**
 * Typed handles on the agent's metrics. Event methods never throw: an unknown service is added (label
 * `branch` "" until {@link Metrics.addService}), a removed one is ignored until added again.
 */
export class Metrics {
  /** The registry to serve on `/metrics`. */
  readonly registry = new Registry();
  private readonly known = new Map<string, Known>();
  /** Services removed by removeService: late events for them must not bring their series back. */
  private readonly removed = new Set<string>();
  // gitopper's series (names, labels and values as gitopper's: docs/metrics.md)
  private readonly state = new Gauge({ name: 'gitopper_service_state', help: 'Current state of the service: OK 0, FREEZE 1, ROLLBACK 2, BROKEN 3, DIFF 4.', labelNames: ['service'], registers: [this.registry] });
  private readonly changeTime = new Gauge({ name: 'gitopper_service_change_time_seconds', help: 'Unix time of the last state transition of the service.', labelNames: ['service'], registers: [this.registry] });
  private readonly gitOps = new Counter({ name: 'gitopper_machine_git_ops_total', help: 'Git network operations (fetches) made.', registers: [this.registry] });
  private readonly gitErrors = new Counter({ name: 'gitopper_machine_git_errors_total', help: 'Git network operations that failed.', registers: [this.registry] });
  // this project's series
  private readonly info = new Gauge({ name: 'gitopper_service_info', help: 'Deployed commit of the service (value 1): hash = first 8 hex digits, commit = full id, branch = tracked branch.', labelNames: ['service', 'hash', 'commit', 'branch'], registers: [this.registry] });
  private readonly ahead = new Gauge({ name: 'gitopper_service_upstream_ahead', help: 'Whether the upstream tip differed from the deployed commit after the last successful fetch (1) or not (0).', labelNames: ['service'], registers: [this.registry] });
  private readonly drift = new Gauge({ name: 'gitopper_service_drift', help: 'Number of deployed files that differ from the deployed commit (local edits).', labelNames: ['service'], registers: [this.registry] });
  private readonly rollbacks = new Counter({ name: 'gitopper_service_rollbacks_total', help: 'Automatic rollbacks after a failed health check, by what failed (unit, exec, http).', labelNames: ['service', 'reason'], registers: [this.registry] });
  private readonly reloads = new Counter({ name: 'gitopper_service_reloads_total', help: 'Systemd jobs the agent ran for the service and waited for, by job result (done, failed, timeout, canceled, dependency, skipped).', labelNames: ['service', 'result'], registers: [this.registry] });
  private readonly sync = new Histogram({ name: 'gitopper_sync_duration_seconds', help: 'Wall time of the phases of a sync: fetch (per upstream branch), checkout, mount and unit (per service).', labelNames: ['phase'], buckets: SYNC_BUCKETS, registers: [this.registry] });
  private readonly skippedPasses = new Counter({ name: 'gitopper_service_passes_skipped_total', help: 'Quiet polls that skipped the service: the upstream tip had not moved and the service was OK at it (a full pass runs every --verify-every polls).', labelNames: ['service'], registers: [this.registry] });
  private readonly passSeconds = new Histogram({ name: 'gitopper_service_pass_duration_seconds', help: 'Wall time of one reconcile pass of a service, in seconds.', labelNames: ['service'], buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60], registers: [this.registry] });
  private stateRegistered = false;
  private readonly stateWriteErrors = new Counter({ name: 'gitopper_state_file_write_errors_total', help: 'Writes of the state file (state.json) that failed (full or read-only file system); a failed write is retried every 5 s.', registers: [] });
  private readonly stateWriteOk = new Gauge({ name: 'gitopper_state_file_last_write_successful', help: 'Whether the last write of the state file succeeded (1) or not (0): while 0, freezes and history made since are not on disk.', registers: [] });
  // registered on the first configLoaded(): an unset unlabelled gauge would read 0 = "reload failed"
  private readonly configOk = new Gauge({ name: 'gitopper_config_last_reload_successful', help: 'Whether the last configuration load succeeded (1) or not (0).', registers: [] });
  private readonly configAt = new Gauge({ name: 'gitopper_config_last_reload_success_timestamp_seconds', help: 'Unix time of the last successful configuration load.', registers: [] });
  private configRegistered = false;
  /** Admission and rollout series (`trust-metrics.ts`). */
  readonly trust = new TrustMetrics(this.registry, (service) => this.entry(service) !== undefined);

  /** A fresh registry holding every series; `gitopper_build_info` is set at once. */
  constructor(opts: MetricsOptions = {}) {
    const build = new Gauge({ name: 'gitopper_build_info', help: 'Build of the running agent (value 1).', labelNames: ['version'], registers: [this.registry] });
    build.set({ version: opts.version ?? 'unknown' }, 1);
    for (const phase of SYNC_PHASES) this.sync.zero({ phase });
    if (opts.processMetrics ?? true) {
      collectDefaultMetrics({ register: this.registry });
      for (const name of PROMTOOL_REJECTED) this.registry.removeSingleMetric(name);
    }
  }

  /**
   * Make a service known before its first pass, so every scrape shows it: state and change time
   * from its status (restored from the state file or initial), its info series when a commit is
   * deployed, upstream_ahead 0, drift 0, reloads_total{result="done"|"failed"} 0. cmd calls it for
   * every service through {@link syncServices}. Calling it again for a known service updates its
   * status and branch and keeps its counters, drift and upstream_ahead.
   */
  addService(s: ServiceView): void {
    this.removed.delete(s.service);
    const old = this.known.get(s.service);
    if (old && old.branch !== s.branch) {
      this.infoOff(s.service, old);
      old.branch = s.branch;
      this.infoOn(s.service, old);
    }
    const k = this.entry(s.service, s.branch)!;
    this.setStatus(s.service, s);
    if (k.added) return;
    k.added = true;
    this.ahead.set({ service: s.service }, 0);
    this.drift.set({ service: s.service }, 0);
    for (const result of INITIAL_RESULTS) {
      this.reloads.inc({ service: s.service, result }, 0);
      k.results.add(result);
    }
    this.skippedPasses.inc({ service: s.service }, 0);
    this.trust.add(s.service);
  }

  /**
   * Make the known services exactly `services`: {@link addService} each (new ones get their series,
   * known ones their status and branch), {@link removeService} every other known one. The one call
   * cmd needs at startup and after each live-config change: `metrics.syncServices(agent.services())`.
   */
  syncServices(services: readonly ServiceView[]): void {
    const keep = new Set(services.map((s) => s.service));
    for (const name of [...this.known.keys()]) if (!keep.has(name)) this.removeService(name);
    for (const s of services) this.addService(s);
  }

  /**
   * Drop every per-service series of `service` (live config removed it); events still in flight for
   * it are ignored until it is added again. Unknown names are ignored.
   */
  removeService(service: string): void {
    const k = this.known.get(service);
    if (!k) return;
    this.removed.add(service);
    this.infoOff(service, k);
    for (const result of k.results) this.reloads.remove({ service, result });
    for (const reason of ['unit', 'exec', 'http']) this.rollbacks.remove({ service, reason });
    for (const g of [this.state, this.changeTime, this.ahead, this.drift]) g.remove({ service });
    this.passSeconds.remove({ service });
    this.skippedPasses.remove({ service });
    this.trust.remove(service);
    this.known.delete(service);
  }

  /**
   * Record a service's status: its state value, the time of its last real transition (`since`,
   * which moves only when state or info changed), and its deployed commit (the one
   * `gitopper_service_info` series is relabelled when the commit changes).
   */
  setStatus(service: string, status: StatusView): void {
    const k = this.entry(service);
    if (!k) return;
    this.state.set({ service }, stateValue(status.state));
    this.changeTime.set({ service }, unixSeconds(status.since));
    if (status.commit !== k.commit) {
      this.infoOff(service, k);
      k.commit = status.commit;
      this.infoOn(service, k);
      // between fetch events: unfreeze deploys the last tip (not behind); a rollback deploys an
      // older commit and freezes (behind). A normal pass moving to a newer tip changes nothing here:
      // the upstream() that follows it sets the value, so scrapes see no spurious 1 during a rollout.
      if (k.tip !== undefined && k.commit !== '') {
        if (k.commit === k.tip) this.ahead.set({ service }, 0);
        else if (status.state === 'FREEZE' || status.state === 'ROLLBACK') this.ahead.set({ service }, 1);
      }
    }
  }

  /**
   * After a successful fetch: `tip` is the upstream branch tip, `deployed` the service's deployed
   * commit ("" before the first checkout). upstream_ahead = 1 when they differ (a frozen service
   * that fell behind, a failing checkout), else 0.
   */
  upstream(service: string, tip: string, deployed: string): void {
    const k = this.entry(service);
    if (!k) return;
    k.tip = tip;
    this.ahead.set({ service }, tip !== deployed ? 1 : 0);
  }

  /** Set the number of deployed files of `service` that differ from its deployed commit (the drift detector's count). */
  setDrift(service: string, files: number): void {
    if (!this.entry(service)) return;
    this.drift.set({ service }, files);
  }

  /** Count one systemd job the agent waited for, by its result (`done`, `failed`, `timeout`, …). */
  reload(service: string, result: string): void {
    const k = this.entry(service);
    if (!k) return;
    k.results.add(result);
    this.reloads.inc({ service, result });
  }

  /** Count one automatic rollback of `service` because its `reason` check failed (`unit`, `exec`, `http`). */
  rollback(service: string, reason: 'unit' | 'exec' | 'http'): void {
    if (!this.entry(service)) return;
    this.rollbacks.inc({ service, reason });
  }

  /** Observe one phase's wall time in seconds in `gitopper_sync_duration_seconds`. */
  phase(phase: SyncPhase, seconds: number): void {
    this.sync.observe({ phase }, seconds);
  }

  /**
   * Record a configuration load (Prometheus' own convention): `gitopper_config_last_reload_successful`
   * = 1 or 0, and on success `…_success_timestamp_seconds` = `at`. Both series appear on the first
   * call (cmd calls it once the config is read; live config calls it on every reload).
   */
  configLoaded(ok: boolean, at: Date): void {
    if (!this.configRegistered) {
      this.registry.registerMetric(this.configOk);
      this.registry.registerMetric(this.configAt);
      this.configRegistered = true;
    }
    this.configOk.set(ok ? 1 : 0);
    if (ok) this.configAt.set(unixSeconds(at));
  }

  /** Record one write of the state file and whether it succeeded. */
  stateWritten(ok: boolean): void {
    // registered on the first write: an unset gauge would read 0 = "write failed"
    if (!this.stateRegistered) {
      this.registry.registerMetric(this.stateWriteOk);
      this.registry.registerMetric(this.stateWriteErrors);
      this.stateRegistered = true;
    }
    this.stateWriteOk.set(ok ? 1 : 0);
    if (!ok) this.stateWriteErrors.inc();
  }

  /** Count one git network operation and whether it failed. */
  gitOp(failed: boolean): void {
    this.gitOps.inc();
    if (failed) this.gitErrors.inc();
  }

  /** Observe a reconcile pass's wall time in seconds. */
  pass(service: string, seconds: number): void {
    if (!this.entry(service)) return;
    this.passSeconds.observe({ service }, seconds);
  }

  /** A quiet poll skipped `service` (TrackerEvents.skipped): `gitopper_service_passes_skipped_total` + 1. */
  skipped(service: string): void {
    if (!this.entry(service)) return;
    this.skippedPasses.inc({ service });
  }

  /**
   * The service's record, added when new (`branch` "" when an event arrives before addService);
   * undefined for a removed service (its late events are dropped).
   */
  private entry(service: string, branch = ''): Known | undefined {
    if (this.removed.has(service)) return undefined;
    let k = this.known.get(service);
    if (!k) {
      k = { branch, commit: '', tip: undefined, results: new Set(), added: false };
      this.known.set(service, k);
    }
    return k;
  }

  /** Set the service's one info series (none while nothing is deployed). */
  private infoOn(service: string, k: Known): void {
    if (k.commit !== '') this.info.set(infoLabels(service, k), 1);
  }

  /** Remove the service's info series, if it has one. */
  private infoOff(service: string, k: Known): void {
    if (k.commit !== '') this.info.remove(infoLabels(service, k));
  }
}

/** Labels of `gitopper_service_info` for a deployed commit. */
function infoLabels(service: string, k: Known): { service: string; hash: string; commit: string; branch: string } {
  return { service, hash: k.commit.slice(0, 8), commit: k.commit, branch: k.branch };
}
