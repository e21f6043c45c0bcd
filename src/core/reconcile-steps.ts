/**
 * The named steps of a reconcile pass, in the order `reconcile.ts` runs them over one
 * {@link PassContext} (docs/architecture.md, "One pass"): package → owner → prepare → deployed → changed paths → local
 * edits → checkout (pre hooks first) → mounts → systemd → post hooks. A step that fails throws a
 * {@link StepError} (DIFF for git, BROKEN for package, user, hooks, mounts and systemd), which ends
 * the pass. Pure logic: no I/O imports.
 */
import type { CommandPort } from '../ports/host.js';
import { runHooks } from './hooks.js';
import { list, short, step, StepError, type PassContext } from './pass-context.js';

/** Unit name systemd knows: gitopper's service names omit `.service`. */
export function unitName(service: string): string {
  return /\.(service|socket|target|timer|path|mount|slice|scope)$/.test(service) ? service : `${service}.service`;
}

/** True for a template instance (`name@inst`), which gitopper enables once its mounts exist. */
export function isTemplateInstance(service: string): boolean {
  return /^[^@]+@[^@.]+/.test(service) && !service.includes('@.');
}

/** One step of a pass: reads and fills in the context; throws StepError to end the pass. */
export type Step = (ctx: PassContext) => Promise<void>;

/** gitopper installs the package first: it often creates the service's user. Once per process. */
export const installPackage: Step = async (ctx) => {
  const { spec, deps } = ctx;
  if (spec.package === '' || !deps.packages || ctx.packageReady) return;
  const pkgs = deps.packages;
  const r = await step('BROKEN', `installing package ${spec.package}`, () => pkgs.ensure(spec.package));
  if (r === 'installed') ctx.actions.push(`install ${spec.package}`);
  ctx.packageReady = true;
};

/** The service's user: files are theirs; a user that does not exist stops the pass (BROKEN). */
export const resolveOwner: Step = async (ctx) => {
  const { spec, deps } = ctx;
  if (spec.user === '') return;
  const owner = await step('BROKEN', `looking up user ${spec.user}`, () => deps.users.lookup(spec.user));
  if (!owner) throw new StepError('BROKEN', `user "${spec.user}" does not exist on this host: nothing is checked out (create the user or change "user")`);
  ctx.owner = owner;
};

/** The checkout directory wired to its object store (made when missing). */
export const prepareCheckout: Step = async (ctx) => {
  await step('DIFF', `preparing checkout ${ctx.co.dir}`, () => ctx.deps.git.prepare(ctx.co, ctx.owner));
};

/** HEAD: the deployed commit (undefined before the first checkout). */
export const readDeployed: Step = async (ctx) => {
  ctx.deployed = await step('DIFF', 'reading deployed commit', () => ctx.deps.git.deployed(ctx.co));
  ctx.commit = ctx.deployed ?? '';
};

/** The paths under the links that the tip changes (every link at first setup). */
export const compareWithTip: Step = async (ctx) => {
  const { deployed, tip, co } = ctx;
  if (deployed === undefined) ctx.changed = [...co.links];
  else if (deployed !== tip) ctx.changed = await step('DIFF', `comparing ${short(deployed)}..${short(tip)}`, () => ctx.deps.git.changedPaths(co, deployed, tip));
};

/**
 * Local edits: reverted with `drift = "revert"`, else reported; an edit the tip would overwrite
 * stops the pass (DIFF) unless it already is the tip's version.
 */
export const handleLocalEdits: Step = async (ctx) => {
  const { deployed, tip, co, deps } = ctx;
  if (deployed === undefined) return;
  ctx.drift = await step('DIFF', 'looking for local edits', () => deps.git.drift(co, deployed));
  if (ctx.drift.length > 0 && ctx.spec.drift === 'revert') {
    const edits = ctx.drift;
    await step('DIFF', `reverting local edits to ${list(edits)}`, () => deps.git.restore(co, deployed, edits, ctx.owner));
    ctx.reverted = edits;
    ctx.drift = [];
    ctx.pendingAction = true;
  }
  const touched = ctx.drift.filter((p) => ctx.changed.includes(p));
  // an edit that already is the tip's version is no clash (a checkout cut short before HEAD moved)
  const same = touched.length > 0 ? await step('DIFF', 'comparing local edits with the tip', () => deps.git.matching(co, tip, touched)) : [];
  const clash = touched.filter((p) => !same.includes(p));
  if (clash.length > 0) {
    throw new StepError('DIFF', `local edits to ${list(clash)} would be overwritten by ${short(tip)}: restore those files or commit the edits upstream (or set drift = "revert")`);
  }
};

/**
 * The tip's files written (after the `pre` hooks accepted it) when anything under the links
 * changes, or only HEAD moved when nothing does; ends the checkout phase.
 */
export const checkoutTip: Step = async (ctx) => {
  const { tip, co, deps } = ctx;
  if (ctx.firstSetup || ctx.changed.length > 0 || ctx.forceCheckout) {
    if (ctx.refused?.commit === tip) throw new StepError('BROKEN', ctx.refused.reason);
    const failure = await preHooks(ctx);
    if (failure) {
      ctx.refused = { commit: tip, reason: failure };
      throw new StepError('BROKEN', failure);
    }
    ctx.refused = undefined;
    await step('DIFF', `checking out ${short(tip)}`, () => deps.git.checkout(co, ctx.deployed, tip, ctx.owner));
    ctx.applied = true;
    if (!ctx.firstSetup) ctx.pendingAction = true;
    ctx.forceCheckout = false;
  } else if (ctx.deployed !== tip) {
    await step('DIFF', `moving HEAD to ${short(tip)}`, () => deps.git.markDeployed(co, tip));
  }
  ctx.commit = tip;
  ctx.applied ||= ctx.reverted.length > 0;
  ctx.lap('checkout');
};

/** Every `dirs` entry bind-mounted on its `local` target; ends the mount phase. */
export const mountDirs: Step = async (ctx) => {
  for (const dir of ctx.spec.dirs) {
    const source = `${ctx.co.dir}/${dir.link}`;
    const made = await step('BROKEN', `bind-mounting ${source} on ${dir.local}`, () => ctx.deps.mounts.ensure(source, dir.local, { file: dir.file, owner: ctx.owner }));
    if (made === 'mounted') ctx.mounted++;
  }
  ctx.lap('mount');
};

/**
 * systemd told when mounts were made, files changed, or an earlier start is owed: mounts made
 * (first setup, reboot) start the unit, or run the action when it is already active; changed files
 * run the action. daemon-reload comes first so changed unit files are seen. Times the unit phase.
 */
export const tellSystemd: Step = async (ctx) => {
  const { spec } = ctx;
  if (spec.action !== '' && (ctx.mounted > 0 || ctx.pendingAction || ctx.pendingStart)) {
    ctx.pendingStart ||= ctx.mounted > 0;
    try {
      await runUnitAction(ctx);
    } finally {
      ctx.lap('unit');
    }
  }
  ctx.pendingAction = false;
  ctx.pendingStart = false;
};

/** The `post` hooks, when this pass changed the deployed files. */
export const runPostHooks: Step = async (ctx) => {
  if (!ctx.applied || (ctx.spec.hooks?.post.length ?? 0) === 0) return;
  const dir = await stageFor(ctx, ctx.commit, ctx.spec.hooks?.post ?? [], 'post');
  const r = await step('BROKEN', 'running post hooks', () => runHooks('post', ctx.spec, { hookDir: dir, cwd: ctx.co.dir, commit: ctx.commit, previous: ctx.deployed ?? '', changed: ctx.changed, owner: ctx.owner }, needCommands(ctx)));
  ctx.hooks.push(...r.runs);
  if (r.failure) throw new StepError('BROKEN', r.failure);
};

/** Every step of a pass, in order. */
export const STEPS: readonly Step[] = [installPackage, resolveOwner, prepareCheckout, readDeployed, compareWithTip, handleLocalEdits, checkoutTip, mountDirs, tellSystemd, runPostHooks];

/**
 * Stage the tip's links and `pre` hook files outside the live checkout and run the hooks there
 * (working directory: the staged copy), so a refused commit never reaches the services. Returns
 * why the hooks refused it, or undefined.
 */
async function preHooks(ctx: PassContext): Promise<string | undefined> {
  const pre = ctx.spec.hooks?.pre ?? [];
  if (pre.length === 0) return undefined;
  const dir = await stageFor(ctx, ctx.tip, [...ctx.co.links, ...pre], 'pre');
  const r = await step('BROKEN', 'running pre hooks', () => runHooks('pre', ctx.spec, { hookDir: dir, cwd: dir, commit: ctx.tip, previous: ctx.deployed ?? '', changed: ctx.changed, owner: ctx.owner }, needCommands(ctx)));
  ctx.hooks.push(...r.runs);
  return r.failure;
}

function needCommands(ctx: PassContext): CommandPort {
  if (!ctx.deps.commands) throw new Error('hooks are configured but this agent has no command runner');
  return ctx.deps.commands;
}

/** `paths` of `commit` written to `<scratchDir>/<service>.<phase>` (hook files are not in the sparse checkout). */
async function stageFor(ctx: PassContext, commit: string, paths: readonly string[], phase: 'pre' | 'post'): Promise<string> {
  const { stage, scratchDir } = ctx.deps;
  if (!stage || !scratchDir) throw new StepError('BROKEN', 'hooks are configured but this agent has no staging area');
  const dir = `${scratchDir}/${ctx.spec.service}.${phase}`;
  await step('DIFF', `staging ${short(commit)} for ${phase} hooks`, () => stage.stage(ctx.co, commit, paths, dir, ctx.owner));
  return dir;
}

/** daemon-reload, then (for mounts made) enable a template instance and start an inactive unit, else the action; waits for the job. */
async function runUnitAction(ctx: PassContext): Promise<void> {
  const { spec, deps: { units } } = ctx;
  const unit = unitName(spec.service);
  await step('BROKEN', 'systemd daemon-reload', () => units.daemonReload());
  ctx.actions.push('daemon-reload');
  let verb = spec.action as string;
  if (ctx.pendingStart) {
    if (isTemplateInstance(spec.service)) {
      await step('BROKEN', `enabling ${unit}`, () => units.enable(unit));
      ctx.actions.push('enable');
    }
    const active = await step('BROKEN', `reading state of ${unit}`, () => units.isActive(unit));
    if (!active && spec.action !== 'stop') verb = 'start';
  }
  const outcome = await step('BROKEN', `systemd ${verb} ${unit}`, () => units.run(unit, verb));
  ctx.actions.push(verb);
  ctx.job = { action: verb, result: outcome.result };
  if (outcome.result !== 'done') {
    throw new StepError('BROKEN', `systemd ${verb} ${unit}: job ${outcome.result} (ActiveState=${outcome.activeState}, Result=${outcome.unitResult})`);
  }
}
