/**
 * Admission: what the agent checks before it deploys a commit other than the deployed one
 * (docs/trust-and-rollout.md). In order:
 *
 * 1. **Signature** (`verify`): every target, the operator's rollbacks included, must be signed by an
 *    allowed signer (Flux's and comin's rule); else it is refused.
 * 2. **Anti-rollback** (`anti_rollback`, on by default with `verify`): a target the agent moves to
 *    on its own (a poll, startup, a pull, unfreeze) must descend from the deployed commit; a
 *    force-push to older or unrelated history is refused unless the operator rolls back to it
 *    explicitly (comin's rule). Off, the agent follows force-pushes as gitopper does.
 * 3. **Window** (`window`): automatic moves wait for the deployment window (Argo CD's sync windows).
 * 4. **Rollout** (`rollout`): automatic moves wait until the commit has been visible upstream for
 *    `bake` seconds, then until the Prometheus gate query has returned nothing for `for` seconds.
 *
 * "Automatic" means a timer poll, startup, or a pull nobody signed (a push webhook): an operator's
 * pull, unfreeze or rollback is never held, and nothing is held at a service's first setup. A
 * rollback, an automatic rollback and a frozen service's pin are explicit choices: no anti-rollback.
 * Drift checks (the deployed commit again) are not admitted at all. Pure: no I/O imports.
 */
import type { GitPort, SourceRef } from '../ports/git.js';
import type { Clock } from '../ports/host.js';
import type { GatePort, SignaturePort } from '../ports/trust.js';
import type { ServiceSpec } from '../config/config.js';
import { isOpen, nextOpening } from '../config/window.js';
import type { Trigger } from './control.js';
import { reason, short } from './pass-context.js';

/** Why a commit was refused: its signature, or anti-rollback. */
export type RefusalKind = 'signature' | 'not-descendant';
/** What holds a new commit back: the deployment window, the bake time, or the Prometheus gate. */
export type HoldKind = 'window' | 'bake' | 'gate';

/**
 * What a service's record remembers for admission between passes, in memory: the last refusal and
 * hold reported (each is reported once per commit and kind) and since when the gate has been clear.
 */
export interface AdmissionMemory {
  readonly refused?: { readonly commit: string; readonly kind: RefusalKind };
  readonly held?: { readonly commit: string; readonly kind: HoldKind };
  readonly gateClear?: { readonly commit: string; readonly since: Date };
}

/** The verdict on one target. */
export type Admission =
  | { readonly kind: 'deploy' }
  | { readonly kind: 'refuse'; readonly refusal: RefusalKind; readonly reason: string }
  | { readonly kind: 'hold'; readonly hold: HoldKind; readonly reason: string; readonly until?: Date };

/** The ports admission uses; `signatures` and `gate` are needed only by services that configure them. */
export interface AdmissionDeps {
  readonly git: GitPort;
  readonly clock: Clock;
  readonly signatures?: SignaturePort;
  readonly gate?: GatePort;
}

/** One decision's inputs besides the ports. */
export interface AdmissionInput {
  readonly spec: ServiceSpec;
  /** Full id of the commit to deploy. */
  readonly target: string;
  /** The deployed commit ("" before the first checkout). */
  readonly deployed: string;
  readonly trigger: Trigger;
  /** Who asked: an operator's key, `webhook`, `gitopper`; undefined for timer passes. */
  readonly by: string | undefined;
  /** True while the service is frozen (only its pin is deployed then: an explicit choice). */
  readonly frozen: boolean;
  /** When this host first saw `target` as the upstream tip; undefined = not seen as a tip (now is used). */
  readonly seenAt: Date | undefined;
  /** Since when the gate query has returned nothing for `target` (kept by the caller between passes). */
  readonly gateClearSince: Date | undefined;
}

/** A decision, and the gate's clear-since to remember for the next pass (undefined = forget). */
export interface Decision {
  readonly admission: Admission;
  readonly gateClearSince: Date | undefined;
}

const DEPLOY: Admission = { kind: 'deploy' };

/** Decide whether `input.target` may be deployed now (see the file's docstring). Never throws. */
export async function admit(input: AdmissionInput, deps: AdmissionDeps): Promise<Decision> {
  const { spec, target, deployed, trigger } = input;
  const plain = (admission: Admission): Decision => ({ admission, gateClearSince: undefined });
  if (trigger === 'drift' || target === deployed) return plain(DEPLOY);
  const source: SourceRef = { upstream: spec.upstream, branch: spec.branch, tokenFile: spec.tokenFile };
  const now = deps.clock.now();
  if (spec.verify) {
    const refused = await checkSignature(source, target, spec, now, deps);
    if (refused) return plain(refused);
  }
  const explicit = trigger === 'rollback' || trigger === 'auto-rollback' || input.frozen;
  if (deployed !== '' && !explicit && (spec.antiRollback ?? spec.verify !== undefined)) {
    const refused = await checkDescends(source, deployed, target, deps);
    if (refused) return plain(refused);
  }
  const automatic = trigger === 'poll' || trigger === 'startup' || (trigger === 'pull' && (input.by === undefined || input.by === 'webhook'));
  if (deployed === '' || explicit || !automatic) return plain(DEPLOY);
  if (spec.window && !isOpen(spec.window, now)) {
    const until = nextOpening(spec.window, now);
    return plain({ kind: 'hold', hold: 'window', reason: `${short(target)} waits for the deployment window${until ? ` (opens ${until.toISOString()})` : ''}`, ...(until ? { until } : {}) });
  }
  if (!spec.rollout) return plain(DEPLOY);
  const seen = input.seenAt ?? now;
  const baked = new Date(seen.getTime() + spec.rollout.bakeSeconds * 1000);
  if (baked > now) return plain({ kind: 'hold', hold: 'bake', reason: `${short(target)} bakes until ${baked.toISOString()} (rollout.bake ${spec.rollout.bakeSeconds}s)`, until: baked });
  return spec.rollout.gate ? checkGate(input, now, deps) : plain(DEPLOY);
}

/** The gate query with `$commit`, `$short`, `$service` and `$machine` replaced (GateSpec). */
export function gateQuery(query: string, spec: ServiceSpec, commit: string): string {
  const values: Record<string, string> = { commit, short: commit.slice(0, 8), service: spec.service, machine: spec.machine };
  return query.replace(/\$(commit|short|service|machine)\b/g, (_m, name: string) => values[name]!);
}

async function checkSignature(source: SourceRef, target: string, spec: ServiceSpec, now: Date, deps: AdmissionDeps): Promise<Admission | undefined> {
  if (!deps.signatures) return { kind: 'refuse', refusal: 'signature', reason: 'verify is configured but this agent cannot check signatures' };
  try {
    const verdict = await deps.signatures.verify(source, target, spec.verify!, now);
    return verdict.ok ? undefined : { kind: 'refuse', refusal: 'signature', reason: verdict.reason };
  } catch (err) {
    return { kind: 'refuse', refusal: 'signature', reason: `cannot check its signature: ${reason(err)}` };
  }
}

async function checkDescends(source: SourceRef, deployed: string, target: string, deps: AdmissionDeps): Promise<Admission | undefined> {
  let descends: boolean;
  try {
    descends = await deps.git.isAncestor(source, deployed, target);
  } catch (err) {
    return { kind: 'refuse', refusal: 'not-descendant', reason: `cannot tell whether it descends from the deployed ${short(deployed)} (${reason(err)}): roll back to it explicitly to accept it` };
  }
  if (descends) return undefined;
  return { kind: 'refuse', refusal: 'not-descendant', reason: `not a descendant of the deployed ${short(deployed)} (the branch was force-pushed to older or unrelated history): roll back to it explicitly to accept it` };
}

async function checkGate(input: AdmissionInput, now: Date, deps: AdmissionDeps): Promise<Decision> {
  const { spec, target } = input;
  const gate = spec.rollout!.gate!;
  const hold = (why: string, clear: Date | undefined): Decision => ({ admission: { kind: 'hold', hold: 'gate', reason: `${short(target)} held by the rollout gate: ${why}` }, gateClearSince: clear });
  if (!deps.gate) return hold('this agent has no Prometheus client', undefined);
  let series: number;
  let sample: readonly string[];
  try {
    ({ series, sample } = await deps.gate.query(gate.prometheus, gateQuery(gate.query, spec, target)));
  } catch (err) {
    return hold(`query failed (${reason(err)})`, undefined);
  }
  if (series > 0) return hold(`query returned ${series} series: ${sample.join(', ')}`, undefined);
  const since = input.gateClearSince ?? now;
  const clearFor = (now.getTime() - since.getTime()) / 1000;
  if (clearFor < gate.forSeconds) return hold(`clear for ${Math.floor(clearFor)}s of ${gate.forSeconds}s`, since);
  return { admission: DEPLOY, gateClearSince: undefined };
}
