/**
 * What a tracker (`tracker.ts`) needs and what it reports: its ports and settings
 * ({@link TrackerDeps}), its events ({@link TrackerEvents}) and the agent-wide bound on a pass
 * ({@link PASS_CONCURRENCY}). Types and constants only; no I/O imports.
 */
import type { Trigger } from './control.js';
import type { GitPort, SourceRef } from '../ports/git.js';
import type { Clock, ProbePort } from '../ports/host.js';
import type { Outcome, ReconcileDeps } from './reconcile.js';
import type { StatusListener } from './service.js';
import type { HealthFailure } from './health-check.js';
import type { AdmissionDeps, HoldKind, RefusalKind } from './admission.js';
import type { DeployDeps } from './deploy.js';

/** What a tracker reports; the agent turns these into logs and metrics. Must not throw. */
export interface TrackerEvents {
  /** A fetch finished; `error` is set when it failed. `seconds` is its wall time. */
  fetched(source: SourceRef, seconds: number, tip: string | undefined, error: unknown): void;
  /** A service's pass finished (also called when the status did not change). */
  reconciled(service: string, outcome: Outcome, trigger: Trigger, seconds: number): void;
  /** A service's status changed (`prev` is the status before). */
  status: StatusListener;
  /**
   * After every successful fetch, per service of the tracker (frozen ones too): the upstream tip and
   * the deployed commit ("" before the first checkout), so "upstream is ahead" can be shown.
   */
  upstream(service: string, tip: string, deployed: string): void;
  /**
   * A quiet poll skipped `service` (OK at the unchanged tip, nothing pending; see `tracker.ts`'s
   * file docstring). Optional.
   */
  skipped?(service: string, tip: string): void;
  /** A health check failed after an apply and the agent rolled back (or could not). Optional. */
  rolledBack?(service: string, failure: HealthFailure, from: string, to: string | undefined): void;
  /**
   * A commit was refused (never checked out): `kind` is `signature` (not signed by an allowed signer)
   * or `not-descendant` (anti-rollback: a force-push). Once per (service, commit, kind). Optional.
   */
  refused?(service: string, commit: string, kind: RefusalKind, reason: string): void;
  /**
   * A new commit is held back (`window`, `bake` or `gate`), `until` when known (window, bake); once
   * per (service, commit, kind). The hold ends with the next `reconciled` of the service. Optional.
   */
  held?(service: string, commit: string, kind: HoldKind, reason: string, until: Date | undefined): void;
}

/**
 * Everything a tracker needs. `passSlot` (from `DeployDeps`) runs the reconcile of a pass's deploy
 * when a slot is free; the agent shares one among all its trackers ({@link PASS_CONCURRENCY} slots).
 */
export interface TrackerDeps extends ReconcileDeps, AdmissionDeps, Pick<DeployDeps, 'passSlot'> {
  readonly git: GitPort;
  readonly clock: Clock;
  /** Uniform random number in [0, 1), for the jitter. */
  readonly random: () => number;
  /** Base pull interval `d` in seconds (gitopper `-t/--duration`). */
  readonly intervalSeconds: number;
  readonly events: TrackerEvents;
  /** For `health.http` checks; omitted = HTTP checks are skipped (tests). */
  readonly probe?: ProbePort;
  /**
   * Full pass every Nth quiet poll (default `DEFAULT_VERIFY_EVERY` of `quiet-polls.ts`); 1 = every poll is a
   * full pass (gitopper's behaviour). `--verify-every`.
   */
  readonly verifyEveryPolls?: number;
}

/**
 * Services one agent reconciles at once in its passes (all trackers together). A first setup of
 * 100 services at once held 100 checkouts' trees and buffers in memory together (a 350 MiB peak,
 * docs/performance.md); the work is I/O on libuv's 4 threads and one JS thread, so more at once
 * does not finish sooner. Only a pass's reconcile holds a slot: its health checks, operator actions
 * (API, gitopperctl), drift checks and automatic rollbacks never wait for one (deploy.ts `SLOTTED`).
 */
export const PASS_CONCURRENCY = 8;
