/**
 * TrackerEvents that log (pino) and count (metrics): the one place pass outcomes are logged.
 */
import type { Logger } from './log.js';
import type { Metrics } from './metrics.js';
import type { SourceRef } from './ports.js';
import type { Outcome } from './reconcile.js';
import type { ServiceStatus } from './state.js';
import type { Trigger, TrackerEvents } from './tracker.js';

/** Build the agent's TrackerEvents from a logger and the metrics. */
export function observer(log: Logger, metrics: Metrics): TrackerEvents {
  const git = log.child({ component: 'git' });
  const svc = log.child({ component: 'tracker' });
  return {
    fetched(source: SourceRef, seconds: number, tip: string | undefined, error: unknown): void {
      metrics.gitOp(error !== undefined);
      if (error !== undefined) git.warn({ upstream: source.upstream, branch: source.branch, seconds, err: message(error) }, 'fetch failed');
      else git.debug({ upstream: source.upstream, branch: source.branch, seconds, tip }, 'fetched');
    },
    reconciled(service: string, outcome: Outcome, trigger: Trigger, seconds: number): void {
      metrics.pass(service, seconds);
      const data = { service, trigger, seconds, state: outcome.state, commit: outcome.commit, changed: outcome.changed, mounted: outcome.mounted, actions: outcome.actions };
      if (outcome.changed.length > 0 || outcome.mounted > 0 || outcome.actions.length > 0) svc.info(data, 'pass applied');
      else svc.debug(data, 'pass done');
    },
    upstream(): void {},
    status(service: string, status: ServiceStatus, prev: ServiceStatus): void {
      metrics.setStatus(service, status);
      const data = { service, state: status.state, info: status.info, commit: status.commit, from: prev.state };
      if (status.state === 'OK') svc.info(data, 'state');
      else svc.warn(data, 'state');
    },
  };
}

function message(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
