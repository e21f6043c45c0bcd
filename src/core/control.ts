/**
 * What operators can ask of the agent (the REST API's view of it). Implemented by `Agent`;
 * `src/http/` depends only on this interface. Methods throw the errors of `src/core/errors.ts`.
 */
import type { State } from './state.js';

/** Why a pass or a deployment happened. */
export type Trigger = 'startup' | 'poll' | 'pull' | 'rollback' | 'unfreeze' | 'drift' | 'auto-rollback';

/** One deployment attempt in a service's history (bounded: the last 100 are kept). */
export interface HistoryEntry {
  /** Full commit id the pass aimed at. */
  readonly commit: string;
  readonly time: Date;
  readonly trigger: Trigger;
  /** State the service ended in. */
  readonly state: State;
  readonly info: string;
  /** Wall time of the pass, seconds. */
  readonly seconds: number;
  /** Who asked (`SHA256:… comment` of the signing key, or `gitopper` for automatic rollbacks); absent for timer passes. */
  readonly by?: string;
}

/** A service as operators see it. */
export interface ServiceInfo {
  readonly service: string;
  readonly machine: string;
  readonly state: State;
  /** State info (gitopper `stateinfo`): the reason for BROKEN/DIFF, `ROLLBACK: <hash>`, the freeze reason. */
  readonly info: string;
  /** Last real state transition. */
  readonly since: Date;
  /** Full id of the deployed commit ("" before the first checkout). */
  readonly commit: string;
  readonly upstream: string;
  readonly branch: string;
  /** The branch's tip as the last successful fetch found it; absent before the first. `tip` ≠ `commit`: the service is behind its upstream. */
  readonly tip?: string;
  /** Who froze or rolled back, when frozen. */
  readonly by?: string;
  /** Paths under the service's links whose files differ from the deployed commit (local edits); absent = none known. */
  readonly drift?: readonly string[];
}

/** Who is asking, for the record (history, logs). */
export interface Actor {
  /** The signing key's fingerprint and comment (`SHA256:… miek@limos`). */
  readonly by: string;
}

/** The operator's control surface. */
export interface Control {
  /** This host's real hostname. */
  hostname(): string;
  /** The machine names (config `machine`) this host acts as, one per distinct name of its services. */
  machines(): string[];
  /** Every service in config order. */
  services(): ServiceInfo[];
  /** One service. Throws UnknownServiceError. */
  service(name: string): ServiceInfo;
  /** Stop pulling; files and unit stay. Throws UnknownServiceError, ConflictError when already frozen. */
  freeze(name: string, actor: Actor, reason?: string): Promise<ServiceInfo>;
  /** Back to the branch tip at once, reconcile. Throws UnknownServiceError, ConflictError when not frozen. */
  unfreeze(name: string, actor: Actor): Promise<ServiceInfo>;
  /**
   * Deploy `hash` (4–40 hex, a commit in the tracked branch's history) and freeze there with info
   * `ROLLBACK: <hash>`. Throws UnknownServiceError, BadRequestError (syntax), ConflictError (not in history).
   */
  rollback(name: string, hash: string, actor: Actor): Promise<ServiceInfo>;
  /** Immediate pass of one service or all; never blocks. Throws UnknownServiceError. */
  pull(name: string | undefined, actor: Actor): void;
  /** Deployments of a service, newest first. Throws UnknownServiceError. */
  history(name: string): HistoryEntry[];
}
