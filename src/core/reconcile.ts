/**
 * One reconcile pass for one service, over the ports: bring the checkout to the upstream tip,
 * bind-mount its links, and tell systemd when files changed. Pure logic: no I/O imports.
 *
 * Flow (DESIGN.md §1): the named steps of `reconcile-steps.ts` run in order over one
 * `PassContext` (changed paths under the links → checkout → mounts → daemon-reload + action,
 * waiting for the job). Git failures give DIFF; user, mount and systemd failures give BROKEN.
 */
import type { CheckoutRef, GitPort, StagePort } from '../ports/git.js';
import type { Clock, CommandPort, MountPort, PackagePort, UnitPort, UserPort } from '../ports/host.js';
import type { ServiceSpec } from '../config/config.js';
import type { PassState } from './state.js';
import type { HookRun } from './hooks.js';
import { PassContext, reason, short, list, StepError } from './pass-context.js';
import { STEPS } from './reconcile-steps.js';

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

export { isTemplateInstance, unitName } from './reconcile-steps.js';

/** The checkout of a service: `<mount>/<service>` holding its links (gitopper's layout). */
export function checkoutOf(spec: ServiceSpec): CheckoutRef {
  return {
    upstream: spec.upstream,
    branch: spec.branch,
    tokenFile: spec.tokenFile,
    dir: `${spec.mount.replace(/\/+$/, '')}/${spec.service}`,
    links: [...spec.dirs.map((d) => d.link), ...(spec.links ?? [])],
  };
}

/**
 * Run one pass of `spec` towards `tip` (the fetched upstream commit, or the commit a rollback or
 * pin asks for): every step of `reconcile-steps.ts` in order over one {@link PassContext}.
 * Never throws: every failure becomes an Outcome (DIFF for git, BROKEN for user/mount/systemd).
 */
export async function reconcile(spec: ServiceSpec, tip: string, runtime: Runtime, deps: ReconcileDeps): Promise<Outcome> {
  const ctx = new PassContext(spec, tip, runtime, deps, checkoutOf(spec));
  try {
    for (const run of STEPS) await run(ctx);
    return ctx.outcome('OK', ctx.drift.length > 0 ? `drift: ${ctx.drift.length} file(s) differ from ${short(ctx.commit)}: ${list(ctx.drift)}` : '');
  } catch (err) {
    const e = err instanceof StepError ? err : new StepError('BROKEN', reason(err));
    return ctx.outcome(e.state, e.message);
  }
}
