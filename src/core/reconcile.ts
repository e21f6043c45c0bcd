/**
 * One reconcile pass for one service, over the ports: bring the checkout to the upstream tip,
 * bind-mount its links, and tell systemd when files changed. Pure logic: no I/O imports.
 *
 * Flow: the named steps of `reconcile-steps.ts` run in order over one
 * `PassContext` (changed paths under the links → checkout → mounts → daemon-reload + action,
 * waiting for the job). Git failures give DIFF; user, mount and systemd failures give BROKEN.
 */
import type { CheckoutRef } from '../ports/git.js';
import type { ServiceSpec } from '../config/config.js';
import type { Outcome, ReconcileDeps, Runtime } from './pass-types.js';
import { PassContext, reason, short, list, StepError } from './pass-context.js';
import { STEPS } from './reconcile-steps.js';

export type { Outcome, Phases, ReconcileDeps, Runtime } from './pass-types.js';
export { isTemplateInstance, unitName } from './reconcile-steps.js';

/** The checkout of a service: `<mount>/<service>` holding its links (gitopper's layout). */
export function checkoutOf(spec: ServiceSpec): CheckoutRef {
  return {
    upstream: spec.upstream,
    branch: spec.branch,
    tokenFile: spec.tokenFile,
    // blobs a checkout lacks are fetched with the service's credentials (a partial store)
    sshKey: spec.sshKey,
    knownHosts: spec.knownHosts,
    dir: `${spec.mount.replace(/\/+$/, '')}/${spec.service}`,
    links: [...spec.dirs.map((d) => d.link), ...(spec.links ?? [])],
    ageIdentity: spec.ageIdentity,
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
