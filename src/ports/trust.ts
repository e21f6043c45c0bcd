/**
 * What the core asks before it deploys a commit it was not told to deploy by an operator: is the
 * commit signed by a signer the config allows, and does the fleet's own health let this host move
 * (`docs/trust-and-rollout.md`). Adapters: `src/adapters/verify/` (SSH and OpenPGP signatures) and
 * `src/adapters/prometheus/` (the rollout gate). Nothing here does I/O.
 */
import type { VerifySpec } from '../config/spec.js';
import type { SourceRef } from './git.js';

/** Outcome of a signature check: who signed, or why the commit is not accepted. */
export type SignatureVerdict =
  | { readonly ok: true; readonly signer: string }
  | { readonly ok: false; readonly reason: string };

/** Commit signatures (git's `gpgsig` header: SSH signatures or OpenPGP). */
export interface SignaturePort {
  /**
   * Check the signature of `commit` (full id, present in `source`'s object store) against `policy`
   * at time `at` (for `valid-after`/`valid-before` in an allowed signers file). A missing, malformed
   * or untrusted signature is a verdict (`ok: false` with a reason an operator can act on), never a
   * throw; throws only when the commit or a policy file cannot be read at all.
   */
  verify(source: SourceRef, commit: string, policy: VerifySpec, at: Date): Promise<SignatureVerdict>;
}

/** The result of one PromQL instant query, as the rollout gate needs it. */
export interface GateResult {
  /** Number of series (vector elements) the query returned; 0 = the bad condition is absent. */
  readonly series: number;
  /** Up to three of the returned series as `{label="value",…} value`, for the state info. */
  readonly sample: readonly string[];
}

/** PromQL instant queries against the fleet's Prometheus (the rollout gate). */
export interface GatePort {
  /**
   * Run `query` at `prometheus` (base URL, e.g. `http://prometheus:9090`) now. Throws when the
   * server cannot be reached, answers an error, or the result is not an instant vector (the gate
   * then holds: it fails closed).
   */
  query(prometheus: string, query: string): Promise<GateResult>;
}
