/**
 * The one context a reconcile pass works on (`reconcile.ts` runs the steps of
 * `reconcile-steps.ts` over it): what the pass knows and did so far, its timings, and what the
 * service remembers for the next pass. Also the step error that decides the pass's state.
 * Pure logic: no I/O imports.
 */
import type { ServiceSpec } from '../config/config.js';
import type { CheckoutRef } from '../ports/git.js';
import type { Owner } from '../ports/host.js';
import type { HookRun } from './hooks.js';
import type { Outcome, Phases, ReconcileDeps, Runtime } from './pass-types.js';
import type { PassState } from './state.js';
import { GitopperError } from '../errors/gitopper-error.js';
import { SecretError } from '../errors/secret-error.js';

/** A failed step: the pass ends in `state` (DIFF for git, BROKEN for the rest) with the message as info. */
export class StepError extends GitopperError<{ readonly state: PassState }> {
  readonly code = 'STEP_FAILED';
  /** @param state the state the pass ends in; `message` becomes its info */
  constructor(readonly state: PassState, message: string) {
    super(message, { state });
  }
}

/** An error as state info: the message, prefixed by its `type`/`code` when the message lacks it. */
export function reason(err: unknown): string {
  if (err instanceof Error) {
    const name = (err as { type?: string; code?: string }).type ?? (err as { code?: string }).code;
    return name && !err.message.includes(name) ? `${name}: ${err.message}` : err.message;
  }
  return String(err);
}

/**
 * Run `fn`; a failure becomes a {@link StepError} in `state` whose info is `<what>: <reason>`, except
 * a {@link SecretError} (an age file that cannot be decrypted: retrying the commit cannot help), which
 * is always BROKEN.
 * @throws StepError
 */
export async function step<T>(state: PassState, what: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    throw new StepError(err instanceof SecretError ? 'BROKEN' : state, `${what}: ${reason(err)}`);
  }
}

/** At most five paths, then a count of the rest. */
export function list(paths: readonly string[]): string {
  return paths.length <= 5 ? paths.join(', ') : `${paths.slice(0, 5).join(', ')} and ${paths.length - 5} more`;
}

/** A commit id as state info shows it (8 hex digits). */
export function short(commit: string): string {
  return commit.slice(0, 8);
}

/** Everything one pass of one service towards `tip` knows and did; the steps fill it in. */
export class PassContext {
  /** The service's checkout (`checkoutOf(spec)`). */
  readonly co: CheckoutRef;
  /** The service's user, once looked up (undefined: no `user`). */
  owner: Owner | undefined;
  /** HEAD before the pass; undefined before the first checkout (and until read). */
  deployed: string | undefined;
  /** Deployed commit as the outcome reports it ("" while unknown). */
  commit = '';
  /** Paths under the links that change in this pass. */
  changed: string[] = [];
  /** Bind mounts made. */
  mounted = 0;
  /** systemd actions (and a package install) run, in order. */
  readonly actions: string[] = [];
  /** Local edits that remain (reported). */
  drift: string[] = [];
  /** Local edits reverted. */
  reverted: string[] = [];
  /** The deployed files changed in this pass. */
  applied = false;
  /** Hooks run, in order. */
  readonly hooks: HookRun[] = [];
  /** The systemd job waited for, if any. */
  job: { readonly action: string; readonly result: string } | undefined;
  /** Phase wall times, seconds. */
  readonly phases: Phases = {};
  // what the service remembers (Runtime), as the pass changes it
  pendingAction: boolean;
  pendingStart: boolean;
  forceCheckout: boolean;
  packageReady: boolean;
  refused: Runtime['refused'];
  private lapStart: number;

  /**
   * @param spec the service
   * @param tip the commit the pass brings the service to
   * @param runtime what the service remembered from its last pass
   * @param co the service's checkout (`checkoutOf(spec)`)
   */
  constructor(readonly spec: ServiceSpec, readonly tip: string, runtime: Runtime, readonly deps: ReconcileDeps, co: CheckoutRef) {
    this.co = co;
    this.pendingAction = runtime.pendingAction;
    this.pendingStart = runtime.pendingStart === true;
    this.forceCheckout = runtime.forceCheckout === true;
    this.packageReady = runtime.packageReady === true;
    this.refused = runtime.refused;
    this.lapStart = deps.clock.now().getTime();
  }

  /** True before the first checkout (nothing deployed). */
  get firstSetup(): boolean {
    return this.deployed === undefined;
  }

  /** End phase `phase`: its time is what passed since the previous lap (or the pass's start). */
  lap(phase: keyof Phases): void {
    const now = this.deps.clock.now().getTime();
    this.phases[phase] = (now - this.lapStart) / 1000;
    this.lapStart = now;
  }

  /** The pass's outcome, ending in `state` with `info`. */
  outcome(state: PassState, info: string): Outcome {
    const { pendingAction, pendingStart, forceCheckout, packageReady, refused } = this;
    return {
      state, info, commit: this.commit, changed: this.changed, mounted: this.mounted, actions: this.actions, drift: this.drift, reverted: this.reverted, applied: this.applied, hooks: this.hooks, job: this.job, phases: this.phases,
      runtime: { pendingAction, ...(pendingStart ? { pendingStart } : {}), ...(forceCheckout ? { forceCheckout } : {}), ...(packageReady ? { packageReady } : {}), ...(refused ? { refused } : {}) },
    };
  }
}
