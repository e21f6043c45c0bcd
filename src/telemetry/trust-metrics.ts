/**
 * The series of admission and rollout (docs/metrics.md, docs/trust-and-rollout.md), on the agent's
 * registry (`metrics.ts` owns it and drops a removed service's series through {@link TrustMetrics.remove}):
 *   gitopper_service_refused_commits_total{service,reason}  counter: commits refused (signature, not-descendant)
 *   gitopper_service_held{service,reason}                   gauge: 1 while a new commit is held (window, bake, gate)
 *   gitopper_service_failed_commit_info{service,commit}     gauge: the last commit that failed its health check here (value 1)
 */
import { Counter, Gauge, type Registry } from 'prom-client';
import type { HoldKind, RefusalKind } from '../core/tracker.js';

const REFUSALS: readonly RefusalKind[] = ['signature', 'not-descendant'];
const HOLDS: readonly HoldKind[] = ['window', 'bake', 'gate'];

/** Handles on the admission and rollout series. Methods never throw. */
export class TrustMetrics {
  private readonly refused: Counter<'service' | 'reason'>;
  private readonly held: Gauge<'service' | 'reason'>;
  private readonly failed: Gauge<'service' | 'commit'>;
  /** The commit each service's failed_commit_info series carries. */
  private readonly failedCommit = new Map<string, string>();

  /**
   * Registers the series on `registry`. `tracked(service)` is false for a service removed from the
   * config: its late events must not bring its series back (`metrics.ts`).
   */
  constructor(registry: Registry, private readonly tracked: (service: string) => boolean = () => true) {
    this.refused = new Counter({ name: 'gitopper_service_refused_commits_total', help: 'Commits the agent refused to check out, by reason: signature (not signed by an allowed signer), not-descendant (anti-rollback: a force-push).', labelNames: ['service', 'reason'], registers: [registry] });
    this.held = new Gauge({ name: 'gitopper_service_held', help: 'Whether a new commit is held back (1) or not (0), by what holds it: window, bake, gate.', labelNames: ['service', 'reason'], registers: [registry] });
    this.failed = new Gauge({ name: 'gitopper_service_failed_commit_info', help: 'The last commit that failed its health check on this host (value 1; commit = full id): the rollout gate of later waves asks for it.', labelNames: ['service', 'commit'], registers: [registry] });
  }

  /** Zeroed series of a new service, so every scrape shows them. */
  add(service: string): void {
    for (const reason of REFUSALS) this.refused.inc({ service, reason }, 0);
    for (const reason of HOLDS) this.held.set({ service, reason }, 0);
  }

  /** A commit was refused. */
  refusal(service: string, reason: RefusalKind): void {
    if (!this.tracked(service)) return;
    this.refused.inc({ service, reason });
  }

  /** A new commit is held by `reason` (the others are cleared). */
  hold(service: string, reason: HoldKind): void {
    if (!this.tracked(service)) return;
    for (const r of HOLDS) this.held.set({ service, reason: r }, r === reason ? 1 : 0);
  }

  /** Nothing holds the service (a pass ran). */
  release(service: string): void {
    if (!this.tracked(service)) return;
    for (const reason of HOLDS) this.held.set({ service, reason }, 0);
  }

  /** `commit` failed its health check on this host (replaces the service's earlier one). */
  failedHealth(service: string, commit: string): void {
    if (!this.tracked(service)) return;
    const old = this.failedCommit.get(service);
    if (old !== undefined) this.failed.remove({ service, commit: old });
    this.failed.set({ service, commit }, 1);
    this.failedCommit.set(service, commit);
  }

  /** Drop every series of `service`. */
  remove(service: string): void {
    for (const reason of REFUSALS) this.refused.remove({ service, reason });
    for (const reason of HOLDS) this.held.remove({ service, reason });
    const old = this.failedCommit.get(service);
    if (old !== undefined) this.failed.remove({ service, commit: old });
    this.failedCommit.delete(service);
  }
}
