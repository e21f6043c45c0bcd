/**
 * One reconcile pass for one service, over the ports: bring the checkout to the upstream tip,
 * bind-mount its links, and tell systemd when files changed. Pure logic: no I/O imports.
 *
 * Flow (DESIGN.md §1): changed paths under the links → checkout → mounts → daemon-reload + action,
 * waiting for the job. Git failures give DIFF; user, mount and systemd failures give BROKEN.
 */
import type { CheckoutRef, GitPort, StagePort } from '../ports/git.js';
import type { Clock, CommandPort, MountPort, Owner, PackagePort, UnitPort, UserPort } from '../ports/host.js';
import type { ServiceSpec } from '../config/config.js';
import type { PassState } from './state.js';
import { runHooks, type HookRun } from './hooks.js';

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

/** Unit name systemd knows: gitopper's service names omit `.service`. */
export function unitName(service: string): string {
  return /\.(service|socket|target|timer|path|mount|slice|scope)$/.test(service) ? service : `${service}.service`;
}

/** True for a template instance (`name@inst`), which gitopper enables once its mounts exist. */
export function isTemplateInstance(service: string): boolean {
  return /^[^@]+@[^@.]+/.test(service) && !service.includes('@.');
}

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

class StepError extends Error {
  constructor(readonly state: PassState, message: string) {
    super(message);
  }
}

function reason(err: unknown): string {
  if (err instanceof Error) {
    const name = (err as { type?: string; code?: string }).type ?? (err as { code?: string }).code;
    return name && !err.message.includes(name) ? `${name}: ${err.message}` : err.message;
  }
  return String(err);
}

async function step<T>(state: PassState, what: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    throw new StepError(state, `${what}: ${reason(err)}`);
  }
}

/**
 * Run one pass of `spec` towards `tip` (the fetched upstream commit).
 * Never throws: every failure becomes an Outcome (DIFF for git, BROKEN for user/mount/systemd).
 */
export async function reconcile(spec: ServiceSpec, tip: string, runtime: Runtime, deps: ReconcileDeps): Promise<Outcome> {
  const co = checkoutOf(spec);
  const actions: string[] = [];
  let commit = '';
  let changed: string[] = [];
  let mounted = 0;
  let pendingAction = runtime.pendingAction;
  let pendingStart = runtime.pendingStart === true;
  let forceCheckout = runtime.forceCheckout === true;
  let packageReady = runtime.packageReady === true;
  const phases: Phases = {};
  const job: { action: string; result: string }[] = [];
  let t = deps.clock.now().getTime();
  const lap = (phase: keyof Phases) => {
    const now = deps.clock.now().getTime();
    phases[phase] = (now - t) / 1000;
    t = now;
  };
  let drift: string[] = [];
  let reverted: string[] = [];
  let applied = false;
  let refused = runtime.refused;
  const hooks: HookRun[] = [];
  const done = (state: PassState, info: string): Outcome => ({
    state, info, commit, changed, mounted, actions, drift, reverted, applied, hooks, job: job[0], phases,
    runtime: { pendingAction, ...(pendingStart ? { pendingStart } : {}), ...(forceCheckout ? { forceCheckout } : {}), ...(packageReady ? { packageReady } : {}), ...(refused ? { refused } : {}) },
  });
  try {
    // gitopper installs the package first: it often creates the service's user
    if (spec.package !== '' && deps.packages && !packageReady) {
      const pkgs = deps.packages;
      const r = await step('BROKEN', `installing package ${spec.package}`, () => pkgs.ensure(spec.package));
      if (r === 'installed') actions.push(`install ${spec.package}`);
      packageReady = true;
    }
    const owner = await resolveOwner(spec, deps.users);
    await step('DIFF', `preparing checkout ${co.dir}`, () => deps.git.prepare(co, owner));
    const deployed = await step('DIFF', 'reading deployed commit', () => deps.git.deployed(co));
    commit = deployed ?? '';
    const firstSetup = deployed === undefined;
    if (firstSetup) changed = [...co.links];
    else if (deployed !== tip) changed = await step('DIFF', `comparing ${short(deployed)}..${short(tip)}`, () => deps.git.changedPaths(co, deployed, tip));
    if (!firstSetup) {
      drift = await step('DIFF', 'looking for local edits', () => deps.git.drift(co, deployed));
      if (drift.length > 0 && spec.drift === 'revert') {
        const edits = drift;
        await step('DIFF', `reverting local edits to ${list(edits)}`, () => deps.git.restore(co, deployed, edits, owner));
        reverted = edits;
        drift = [];
        pendingAction = true;
      }
      const touched = drift.filter((p) => changed.includes(p));
      // an edit that already is the tip's version is no clash (a checkout cut short before HEAD moved)
      const same = touched.length > 0 ? await step('DIFF', 'comparing local edits with the tip', () => deps.git.matching(co, tip, touched)) : [];
      const clash = touched.filter((p) => !same.includes(p));
      if (clash.length > 0) {
        throw new StepError('DIFF', `local edits to ${list(clash)} would be overwritten by ${short(tip)}: restore those files or commit the edits upstream (or set drift = "revert")`);
      }
    }
    if (firstSetup || changed.length > 0 || forceCheckout) {
      if (refused?.commit === tip) throw new StepError('BROKEN', refused.reason);
      const failure = await preHooks(spec, co, tip, deployed ?? '', changed, owner, deps, hooks);
      if (failure) {
        refused = { commit: tip, reason: failure };
        throw new StepError('BROKEN', failure);
      }
      refused = undefined;
      await step('DIFF', `checking out ${short(tip)}`, () => deps.git.checkout(co, tip, owner));
      applied = true;
      if (!firstSetup) pendingAction = true;
      forceCheckout = false;
    } else if (deployed !== tip) {
      await step('DIFF', `moving HEAD to ${short(tip)}`, () => deps.git.markDeployed(co, tip));
    }
    commit = tip;
    applied ||= reverted.length > 0;
    lap('checkout');
    for (const dir of spec.dirs) {
      const source = `${co.dir}/${dir.link}`;
      const made = await step('BROKEN', `bind-mounting ${source} on ${dir.local}`, () => deps.mounts.ensure(source, dir.local, { file: dir.file, owner }));
      if (made === 'mounted') mounted++;
    }
    lap('mount');
    if (spec.action !== '' && (mounted > 0 || pendingAction || pendingStart)) {
      pendingStart ||= mounted > 0;
      try {
        await tellSystemd(spec, pendingStart, pendingAction, deps.units, actions, job);
      } finally {
        lap('unit');
      }
    }
    pendingAction = false;
    pendingStart = false;
    if (applied && (spec.hooks?.post.length ?? 0) > 0) {
      const failure = await postHooks(spec, co, commit, deployed ?? '', changed, owner, deps, hooks);
      if (failure) throw new StepError('BROKEN', failure);
    }
    return done('OK', drift.length > 0 ? `drift: ${drift.length} file(s) differ from ${short(commit)}: ${list(drift)}` : '');
  } catch (err) {
    const e = err instanceof StepError ? err : new StepError('BROKEN', reason(err));
    return done(e.state, e.message);
  }
}

function needCommands(deps: ReconcileDeps): CommandPort {
  if (!deps.commands) throw new Error('hooks are configured but this agent has no command runner');
  return deps.commands;
}

/**
 * Stage the new commit's links and `pre` hook files outside the live checkout and run the hooks
 * there (working directory: the staged copy), so a refused commit never reaches the services.
 */
async function preHooks(spec: ServiceSpec, co: CheckoutRef, tip: string, previous: string, changed: readonly string[], owner: Owner | undefined, deps: ReconcileDeps, runs: HookRun[]): Promise<string | undefined> {
  const pre = spec.hooks?.pre ?? [];
  if (pre.length === 0) return undefined;
  const dir = await stageFor(spec, co, tip, [...co.links, ...pre], 'pre', owner, deps);
  const r = await step('BROKEN', 'running pre hooks', () => runHooks('pre', spec, { hookDir: dir, cwd: dir, commit: tip, previous, changed, owner }, needCommands(deps)));
  runs.push(...r.runs);
  return r.failure;
}

/** Run the `post` hooks (staged from the commit: hook files are not in the sparse checkout) in the live checkout. */
async function postHooks(spec: ServiceSpec, co: CheckoutRef, commit: string, previous: string, changed: readonly string[], owner: Owner | undefined, deps: ReconcileDeps, runs: HookRun[]): Promise<string | undefined> {
  const dir = await stageFor(spec, co, commit, spec.hooks?.post ?? [], 'post', owner, deps);
  const r = await step('BROKEN', 'running post hooks', () => runHooks('post', spec, { hookDir: dir, cwd: co.dir, commit, previous, changed, owner }, needCommands(deps)));
  runs.push(...r.runs);
  return r.failure;
}

async function stageFor(spec: ServiceSpec, co: CheckoutRef, commit: string, paths: readonly string[], phase: 'pre' | 'post', owner: Owner | undefined, deps: ReconcileDeps): Promise<string> {
  const { stage, scratchDir } = deps;
  if (!stage || !scratchDir) throw new StepError('BROKEN', 'hooks are configured but this agent has no staging area');
  const dir = `${scratchDir}/${spec.service}.${phase}`;
  await step('DIFF', `staging ${short(commit)} for ${phase} hooks`, () => stage.stage(co, commit, paths, dir, owner));
  return dir;
}

async function resolveOwner(spec: ServiceSpec, users: UserPort): Promise<Owner | undefined> {
  if (spec.user === '') return undefined;
  const owner = await step('BROKEN', `looking up user ${spec.user}`, () => users.lookup(spec.user));
  if (!owner) {
    throw new StepError('BROKEN', `user "${spec.user}" does not exist on this host: nothing is checked out (create the user or change "user")`);
  }
  return owner;
}

/**
 * Mounts made (first setup, reboot) start the unit, or run the action when it is already active;
 * changed files run the action. daemon-reload comes first so changed unit files are seen.
 */
async function tellSystemd(spec: ServiceSpec, mountsMade: boolean, filesChanged: boolean, units: UnitPort, actions: string[], job: { action: string; result: string }[]): Promise<void> {
  const unit = unitName(spec.service);
  await step('BROKEN', 'systemd daemon-reload', () => units.daemonReload());
  actions.push('daemon-reload');
  let verb = spec.action as string;
  if (mountsMade) {
    if (isTemplateInstance(spec.service)) {
      await step('BROKEN', `enabling ${unit}`, () => units.enable(unit));
      actions.push('enable');
    }
    const active = await step('BROKEN', `reading state of ${unit}`, () => units.isActive(unit));
    if (!active && spec.action !== 'stop') verb = 'start';
  }
  const outcome = await step('BROKEN', `systemd ${verb} ${unit}`, () => units.run(unit, verb));
  actions.push(verb);
  job.push({ action: verb, result: outcome.result });
  if (outcome.result !== 'done') {
    throw new StepError('BROKEN', `systemd ${verb} ${unit}: job ${outcome.result} (ActiveState=${outcome.activeState}, Result=${outcome.unitResult})`);
  }
}

/** At most five paths, then a count of the rest. */
function list(paths: readonly string[]): string {
  return paths.length <= 5 ? paths.join(', ') : `${paths.slice(0, 5).join(', ')} and ${paths.length - 5} more`;
}

function short(commit: string): string {
  return commit.slice(0, 8);
}
