/**
 * What happens after a pass deployed something new (issue "beyond every peer": health checks with
 * automatic rollback): run the service's `health` checks; on success remember the commit as the
 * last good one, on failure decide the roll back to it and freeze there (or, with `auto_rollback =
 * "retry-next-commit"`, until the tip moves). The rollback itself is deployed by `deploy.ts`, the
 * one deploy path. No I/O imports.
 */
import { checkHealth, type HealthFailure } from './health-check.js';
import type { Owner, ProbePort } from '../ports/host.js';
import { checkoutOf, unitName, type ReconcileDeps } from './reconcile.js';
import type { ServiceRecord } from './service.js';

/** The events the gate reports (a subset of the tracker's TrackerEvents, same shapes). */
export interface GateEvents {
  /** A health check failed; `to` is the commit rolled back to (undefined: none to go back to). */
  rolledBack?(service: string, failure: HealthFailure, from: string, to: string | undefined): void;
}

/** Ports the gate needs: those of a reconcile pass plus the probe for `health.http`. */
export interface GateDeps extends ReconcileDeps {
  readonly events: GateEvents;
  /** For `health.http` checks; omitted = no health checks run (every apply counts as good). */
  readonly probe?: ProbePort;
}

/** Who an automatic rollback is by (history `by`, the freeze's `by`). */
export const AUTO_ROLLBACK_BY = 'gitopper';

/** What the health checks of a fresh apply found: undefined = healthy (or nothing to check). */
export type HealthVerdict = HealthFailure | { readonly notRun: string } | undefined;

/** The state info a failed verdict gives the apply's history row; undefined when healthy. */
export function verdictInfo(v: HealthVerdict): string | undefined {
  if (v === undefined) return undefined;
  return 'notRun' in v ? v.notRun : `health check failed: ${v.reason}`;
}

/**
 * Act on `verdict` (from {@link checkApplied}) for the fresh apply of `commit`: remember a healthy
 * commit as good (`r.lastGood`), or freeze for an automatic rollback to the last good one and return
 * that commit (the caller deploys it with trigger `auto-rollback`, by `gitopper`), or stay BROKEN
 * when there is none. Call inside `r.exclusive`. Never throws for a failed check (that is a state,
 * not an error).
 * @returns the commit to roll back to, or undefined when there is nothing to deploy
 */
export function settleApplied(r: ServiceRecord, commit: string, verdict: HealthVerdict, deps: GateDeps): string | undefined {
  if (verdict === undefined) return void r.healthy(commit);
  if ('notRun' in verdict) return void healthNotRun(r, verdict.notRun, deps);
  return autoRollback(r, commit, verdict, deps);
}

/**
 * A pass that found nothing to do at `commit`, which failed its health check with no good commit to
 * roll back to (`r.unhealthy`): check again. Returns the BROKEN info while it still fails (or the
 * checks cannot run), undefined once it passes (the commit is then remembered as good).
 * Call inside `r.exclusive`.
 */
export async function recheckUnhealthy(r: ServiceRecord, commit: string, deps: GateDeps): Promise<string | undefined> {
  if (r.unhealthy?.commit !== commit) return undefined;
  const result = await checkApplied(r, deps);
  if (result === undefined) {
    r.healthy(commit);
    return undefined;
  }
  return 'notRun' in result ? result.notRun : noGoodCommitInfo(result);
}

/**
 * The service's health checks after a fresh apply, run as its user: undefined when healthy (or
 * nothing to check: no `health`, or no commands/probe ports), the first failure, or why they could
 * not run. Never throws for a failed check.
 */
export async function checkApplied(r: ServiceRecord, deps: GateDeps): Promise<HealthVerdict> {
  const health = r.spec.health;
  if (!health || !deps.commands || !deps.probe) return undefined;
  let owner: Owner | undefined;
  if (r.spec.user !== '' && (health.exec?.length ?? 0) > 0) {
    // the health command runs as the service's user or not at all (never as the daemon's user)
    const found = await deps.users.lookup(r.spec.user).then((o) => o ?? 'no such user', (err: unknown) => `lookup failed: ${err instanceof Error ? err.message : String(err)}`);
    if (typeof found === 'string') return { notRun: `health check not run: user "${r.spec.user}" (${found}); the command never runs as another user` };
    owner = found;
  }
  return checkHealth(health, r.spec.action === '' ? undefined : unitName(r.spec.service), owner, checkoutOf(r.spec).dir, { units: deps.units, commands: deps.commands, probe: deps.probe, clock: deps.clock });
}

/** The BROKEN info of a failed check with nothing to roll back to. */
function noGoodCommitInfo(failure: HealthFailure): string {
  return `health check failed: ${failure.reason}; no earlier good commit to roll back to`;
}

/**
 * The apply could not be health-checked (the service's user is gone): BROKEN with
 * `info`, not remembered as good, and the next pass applies again (and checks again) instead of
 * taking the files already there as confirmed.
 */
function healthNotRun(r: ServiceRecord, info: string, deps: GateDeps): void {
  r.healthNotChecked(info, deps.clock.now());
}

/**
 * After a failed health check: freeze for a rollback to the last good commit with info
 * `AUTO-ROLLBACK from <new> to <good>: <reason>` and return it (the deploy path deploys it; a
 * rollback that itself fails is BROKEN, still frozen, with both reasons). Without a good commit the
 * service is BROKEN (nothing to go back to), recorded as an `auto-rollback` row, and undefined is
 * returned.
 */
function autoRollback(r: ServiceRecord, bad: string, failure: HealthFailure, deps: GateDeps): string | undefined {
  const good = r.lastGood;
  const now = () => deps.clock.now();
  deps.events.rolledBack?.(r.name, failure, bad, good === bad ? undefined : good);
  if (!good || good === bad) {
    // it stays BROKEN at this commit until a check passes (recheckUnhealthy), not only for this pass
    r.unhealthyAt(bad, failure.reason, noGoodCommitInfo(failure), now());
    r.record({ commit: bad, time: now(), trigger: 'auto-rollback', state: r.status.state, info: r.status.info, seconds: 0, by: AUTO_ROLLBACK_BY });
    return undefined;
  }
  r.autoRollback(bad, good, failure.reason, r.spec.autoRollback ?? 'freeze', AUTO_ROLLBACK_BY, now());
  return good;
}
