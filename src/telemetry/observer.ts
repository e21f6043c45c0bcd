/**
 * TrackerEvents that log (pino) and count (metrics): the one place pass outcomes are logged.
 *
 * Events → series (docs/metrics.md):
 *   fetched    → git_ops/git_errors, sync_duration_seconds{phase="fetch"}
 *   reconciled → service_pass_duration_seconds, sync_duration_seconds{phase=checkout|mount|unit},
 *                service_reloads_total{result} (one per systemd job waited for),
 *                service_drift (from Outcome.drift, the files that differ after the pass)
 *   status     → service_state, service_change_time_seconds, service_info; a `state` line only for
 *                a transition (state or info changed: info for OK, warn for the others)
 *   upstream   → service_upstream_ahead
 *   skipped    → service_passes_skipped_total (and a debug line "pass skipped")
 *   refused    → service_refused_commits_total{reason} (and a warn line "commit refused")
 *   held       → service_held{reason} 1 (and an info line "commit held"); reconciled sets it to 0
 *   rolledBack → service_rollbacks_total{reason}, service_failed_commit_info{commit}
 */
import type { Logger } from './log.js';
import type { Metrics } from './metrics.js';
import type { SourceRef } from '../ports/git.js';
import type { Outcome } from '../core/reconcile.js';
import type { HealthFailure } from '../core/health-check.js';
import type { ServiceStatus } from '../core/state.js';
import type { HoldKind, RefusalKind, Trigger, TrackerEvents } from '../core/tracker.js';

/** Build the agent's TrackerEvents from a logger and the metrics. */
export function observer(log: Logger, metrics: Metrics): TrackerEvents {
  const git = log.child({ component: 'git' });
  const svc = log.child({ component: 'tracker' });
  return {
    fetched(source: SourceRef, seconds: number, tip: string | undefined, error: unknown): void {
      metrics.gitOp(error !== undefined);
      metrics.phase('fetch', seconds);
      if (error !== undefined) git.warn({ upstream: source.upstream, branch: source.branch, seconds, err: message(error) }, 'fetch failed');
      else git.debug({ upstream: source.upstream, branch: source.branch, seconds, tip }, 'fetched');
    },
    reconciled(service: string, outcome: Outcome, trigger: Trigger, seconds: number): void {
      metrics.pass(service, seconds);
      if (trigger !== 'drift') metrics.trust.release(service);
      for (const phase of ['checkout', 'mount', 'unit'] as const) {
        const s = outcome.phases[phase];
        if (s !== undefined) metrics.phase(phase, s);
      }
      if (outcome.job) metrics.reload(service, outcome.job.result);
      // drift: a non-empty list is always a finding; an empty one only counts from a pass that got
      // through (a pass that failed before looking reports none)
      if (outcome.drift.length > 0 || outcome.state === 'OK') metrics.setDrift(service, outcome.drift.length);
      const data = { service, trigger, seconds, state: outcome.state, commit: outcome.commit, changed: outcome.changed, mounted: outcome.mounted, actions: outcome.actions, drift: outcome.drift, reverted: outcome.reverted, hooks: outcome.hooks, ...(outcome.job ? { job: outcome.job } : {}) };
      if (outcome.changed.length > 0 || outcome.mounted > 0 || outcome.actions.length > 0 || outcome.reverted.length > 0 || outcome.hooks.length > 0) svc.info(data, 'pass applied');
      else svc.debug(data, 'pass done');
    },
    skipped(service: string, tip: string): void {
      metrics.skipped(service);
      svc.debug({ service, trigger: 'poll', commit: tip }, 'pass skipped');
    },
    rolledBack(service: string, failure: HealthFailure, from: string, to: string | undefined): void {
      metrics.rollback(service, failure.kind);
      metrics.trust.failedHealth(service, from);
      svc.warn({ service, check: failure.kind, reason: failure.reason, from, to }, to ? 'health check failed: rolling back' : 'health check failed: no good commit to roll back to');
    },
    refused(service: string, commit: string, kind: RefusalKind, reason: string): void {
      metrics.trust.refusal(service, kind);
      svc.warn({ service, commit, refusal: kind, reason }, 'commit refused');
    },
    held(service: string, commit: string, kind: HoldKind, reason: string, until: Date | undefined): void {
      metrics.trust.hold(service, kind);
      svc.info({ service, commit, hold: kind, reason, ...(until ? { until: until.toISOString() } : {}) }, 'commit held');
    },
    upstream(service: string, tip: string, deployed: string): void {
      metrics.upstream(service, tip, deployed);
    },
    status(service: string, status: ServiceStatus, prev: ServiceStatus): void {
      metrics.setStatus(service, status);
      // A `state` line is a transition (state or info changed, as `since` in state.ts): a status
      // update that only moved the commit (OK → OK at a new commit, logged as "pass applied") or
      // the freeze record is not one.
      if (status.state === prev.state && status.info === prev.info) return;
      const data = { service, state: status.state, info: status.info, commit: status.commit, from: prev.state, ...(prev.info !== status.info ? { fromInfo: prev.info } : {}) };
      if (status.state === 'OK') svc.info(data, 'state');
      else svc.warn(data, 'state');
    },
  };
}

function message(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
