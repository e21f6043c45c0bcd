/**
 * Prometheus metrics on a private prom-client Registry (comin's pattern: nothing global).
 * gitopper's series keep their names, types, labels and values (DESIGN.md §2):
 *   gitopper_service_state{service}                 gauge: OK 0, FREEZE 1, ROLLBACK 2, BROKEN 3, DIFF 4
 *   gitopper_service_change_time_seconds{service}   gauge: unix time of the last real transition
 *   gitopper_machine_git_ops_total                  counter: git network operations (fetches)
 *   gitopper_machine_git_errors_total               counter: failed git network operations
 */
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import { stateValue, type ServiceStatus } from './state.js';

/** Typed handles on the agent's metrics. */
export class Metrics {
  /** The registry to serve on `/metrics`. */
  readonly registry = new Registry();
  private readonly state = new Gauge({ name: 'gitopper_service_state', help: 'Current state of the service: OK 0, FREEZE 1, ROLLBACK 2, BROKEN 3, DIFF 4.', labelNames: ['service'], registers: [this.registry] });
  private readonly changeTime = new Gauge({ name: 'gitopper_service_change_time_seconds', help: 'Unix time of the last state transition of the service.', labelNames: ['service'], registers: [this.registry] });
  private readonly gitOps = new Counter({ name: 'gitopper_machine_git_ops_total', help: 'Git network operations (fetches) made.', registers: [this.registry] });
  private readonly gitErrors = new Counter({ name: 'gitopper_machine_git_errors_total', help: 'Git network operations that failed.', registers: [this.registry] });
  private readonly passSeconds = new Histogram({ name: 'gitopper_service_pass_duration_seconds', help: 'Wall time of one reconcile pass of a service, in seconds.', labelNames: ['service'], buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60], registers: [this.registry] });

  /** Record a service's status (state value and the time of its last transition). */
  setStatus(service: string, status: ServiceStatus): void {
    this.state.set({ service }, stateValue(status.state));
    this.changeTime.set({ service }, Math.floor(status.since.getTime() / 1000));
  }

  /** Count one git network operation and whether it failed. */
  gitOp(failed: boolean): void {
    this.gitOps.inc();
    if (failed) this.gitErrors.inc();
  }

  /** Observe a reconcile pass's wall time in seconds. */
  pass(service: string, seconds: number): void {
    this.passSeconds.observe({ service }, seconds);
  }
}
