/**
 * The operator's actions on one service (`Control.freeze`, `unfreeze`, `rollback`), each under the
 * service's lock: the checks that refuse a request, the record's transition (`service.ts`), and
 * the deployment through the one deploy path (`deploy.ts`, via the tracker of the service's branch).
 * `Agent` calls these; the API reaches them only through `Control`. No I/O imports.
 */
import type { Actor, Trigger } from './control.js';
import { BadRequestError, ConflictError } from './errors.js';
import type { GitPort, SourceRef } from '../ports/git.js';
import type { Clock } from '../ports/host.js';
import { checkoutOf, type Outcome } from './reconcile.js';
import type { ServiceRecord } from './service.js';
import { admit, type AdmissionDeps } from './admission.js';

/** What an operator action needs of the tracker that follows the service's branch (`Tracker`). */
export interface Branch {
  /** The upstream branch (with its credentials) the service uses. */
  readonly source: SourceRef;
  /** The tip the last successful fetch found; undefined before the first. */
  readonly tip: string | undefined;
  /** Fetch now (one at a time): the tip, or an Error value saying why not. Never throws. */
  fetch(): Promise<string | Error>;
  /** Deploy `target` to `r` through the one deploy path (`deploy.ts`). Call inside `r.exclusive`. */
  deploy(r: ServiceRecord, target: string, trigger: Trigger, by?: string): Promise<Outcome | undefined>;
}

/** The ports the operator's actions use besides the branch's: history look-ups, the time, signatures. */
export interface OperatorDeps extends AdmissionDeps {
  readonly git: GitPort;
  readonly clock: Clock;
}

/** Freeze: stop pulling, files and unit stay. Throws ConflictError when already frozen. */
export function freeze(r: ServiceRecord, actor: Actor, reason: string, deps: OperatorDeps): Promise<void> {
  return r.exclusive(async () => r.freeze(actor, reason, deps.clock.now()));
}

/**
 * Unfreeze: back to the branch tip at once (fetched now; a failed fetch leaves the service DIFF with
 * the reason). Throws ConflictError when not frozen.
 */
export function unfreeze(branch: Branch, r: ServiceRecord, actor: Actor, deps: OperatorDeps): Promise<void> {
  return r.exclusive(async () => {
    r.unfreeze(deps.clock.now(), actor.by);
    const tip = await branch.fetch();
    if (tip instanceof Error) return r.fetchFailed(tip.message, deps.clock.now());
    await branch.deploy(r, tip, 'unfreeze', actor.by);
  });
}

/**
 * Roll back to `hash` (4–40 hex, in the branch's history), then stay frozen there with info
 * `ROLLBACK: <hash>`; a failed step leaves BROKEN/DIFF and still frozen. Nothing is changed when the
 * target lacks one of the service's links (it would empty the live directories).
 * Throws BadRequestError for a malformed hash, ConflictError when it is not in the history (or the
 * history cannot be fetched), lacks a link, or is not signed by an allowed signer (`verify`).
 */
export function rollback(branch: Branch, r: ServiceRecord, hash: string, actor: Actor, deps: OperatorDeps): Promise<void> {
  if (!/^[0-9a-fA-F]{4,40}$/.test(hash)) return Promise.reject(new BadRequestError(`"${hash}" is not a commit hash: use 4 to 40 hex digits`, { hash }));
  return r.exclusive(async () => {
    let tip = branch.tip;
    if (tip === undefined) {
      const fetched = await branch.fetch();
      if (fetched instanceof Error) throw new ConflictError(`cannot check the history of ${branch.source.branch}: ${fetched.message}`, { service: r.name });
      tip = fetched;
    }
    const commit = await deps.git.findInHistory(branch.source, tip, hash.toLowerCase());
    if (!commit) throw new ConflictError(`${hash} is not a commit in the history of ${branch.source.branch} (or the prefix is ambiguous)`, { service: r.name, hash });
    // checked before anything is touched: a target without the service's links would empty its live directories
    const missing = await deps.git.missingLinks(checkoutOf(r.spec), commit);
    if (missing.length > 0) {
      const targets = r.spec.dirs.filter((d) => missing.includes(d.link)).map((d) => d.local);
      throw new ConflictError(`${commit.slice(0, 8)} does not have ${missing.join(', ')}: rolling back to it would empty ${targets.length > 0 ? targets.join(', ') : 'the checkout'}; nothing was changed (pick a commit that has the service's files)`, { service: r.name, hash, missing });
    }
    // a signed-commits policy covers rollback targets too (docs/trust-and-rollout.md)
    const decision = await admit({ spec: r.spec, target: commit, deployed: r.status.commit, trigger: 'rollback', by: actor.by, frozen: true, seenAt: undefined, gateClearSince: undefined }, deps);
    if (decision.admission.kind === 'refuse') {
      throw new ConflictError(`${commit.slice(0, 8)} is refused: ${decision.admission.reason}; nothing was changed`, { service: r.name, hash, reason: decision.admission.refusal });
    }
    r.rollback(commit, actor, deps.clock.now());
    await branch.deploy(r, commit, 'rollback', actor.by);
  });
}
