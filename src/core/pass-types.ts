/**
 * The shapes of one reconcile pass: the ports it needs (`ReconcileDeps`), what a service remembers
 * between passes (`Runtime`) and what a pass did (`Outcome`, `Phases`). Types only; `reconcile.ts`
 * runs the pass, `pass-context.ts` carries it between the steps.
 */
import type { GitPort, StagePort } from '../ports/git.js';
import type { Clock, CommandPort, MountPort, PackagePort, UnitPort, UserPort } from '../ports/host.js';
import type { PassState } from './state.js';
import type { HookRun } from './hooks.js';

/** The ports one pass needs. */
export interface ReconcileDeps {
  readonly git: GitPort;
  readonly mounts: MountPort;
  readonly units: UnitPort;
  readonly users: UserPort;
  /** For phase timings. */
  readonly clock: Clock;
  /** Installs the service's `package`; omitted = the key is ignored. */
  readonly packages?: PackagePort;
  /** Runs hooks; with `stage` and `scratchDir` needed for services that have `hooks`. */
  readonly commands?: CommandPort;
  readonly stage?: StagePort;
  /** Absolute directory for staging a new commit for `pre` hooks (`<scratchDir>/<service>`). */
  readonly scratchDir?: string;
}

/** Wall time of each phase of a pass, in seconds (absent when the phase did not run). */
export interface Phases {
  checkout?: number;
  mount?: number;
  unit?: number;
}

/**
 * What a service remembers between passes (in memory). `pendingAction` is set while files changed
 * but the unit was not yet told successfully, so a failed reload is retried on the next pass
 * instead of being forgotten once HEAD equals the tip.
 */
export interface Runtime {
  readonly pendingAction: boolean;
  /**
   * Set when the service's spec changed (links, user, upstream): the next pass checks the links
   * out even if the deployed commit equals the tip, and then runs the action.
   */
  readonly forceCheckout?: boolean;
  /**
   * Set while mounts made by an earlier pass (first setup, after a reboot) were not followed by a
   * successful start of the unit (a missing unit, a failed start): the next pass starts it again
   * instead of finding the mounts present and nothing to do.
   */
  readonly pendingStart?: boolean;
  /** The service's `package` was found or installed (done once per process). */
  readonly packageReady?: boolean;
  /** A `pre` hook refused this commit: it is not tried again until the tip moves. */
  readonly refused?: { readonly commit: string; readonly reason: string };
}

/** What a pass did and how it ended. */
export interface Outcome {
  readonly state: PassState;
  /** Reason for BROKEN/DIFF; "" when OK. */
  readonly info: string;
  /** Deployed commit after the pass ("" when nothing is deployed). */
  readonly commit: string;
  /** Repository paths under the links that changed in this pass. */
  readonly changed: readonly string[];
  /** Number of bind mounts made in this pass. */
  readonly mounted: number;
  /** The systemd actions run in this pass, in order (`daemon-reload`, `enable`, `start`, `reload`, …). */
  readonly actions: readonly string[];
  /** Paths under the links that differ from the deployed commit after the pass (drift, `report` mode). */
  readonly drift: readonly string[];
  /** Paths whose local edits this pass reverted (`drift = "revert"`). */
  readonly reverted: readonly string[];
  /** True when this pass changed the deployed files (first setup, new commit, forced, reverted). */
  readonly applied: boolean;
  /** Hooks run in this pass, in order. */
  readonly hooks: readonly HookRun[];
  /** The systemd job this pass waited for, with its result (`done`, `failed`, …), if any. */
  readonly job: { readonly action: string; readonly result: string } | undefined;
  readonly phases: Phases;
  readonly runtime: Runtime;
}
