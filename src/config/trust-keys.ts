/**
 * The trust and rollout keys of `[global]` and of a service, together, for `config.ts`: `verify`
 * (`verify.ts`), `age_identity` (`secrets.ts`), `anti_rollback`, `rollout` and `window`
 * (`admission.ts`). A service's own value replaces `[global]`'s (a table whole). Reference:
 * docs/trust-and-rollout.md. Pure.
 */
import type { At, ConfigProblems } from './error.js';
import { readAntiRollback, readRollout, readWindows } from './admission.js';
import { globalSecretKeys, resolveSecretKeys, serviceSecretKeys } from './secrets.js';
import type { ServiceSpec } from './spec.js';
import type { Fields } from './validate.js';
import { inheritVerify, mergeVerify, resolveVerify, verifyField } from './verify.js';

/** The trust and rollout keys as a spec carries them (absent keys are left out). */
export type TrustKeys = Pick<ServiceSpec, 'verify' | 'ageIdentity' | 'antiRollback' | 'rollout' | 'window'>;

/**
 * The keys of `f` read at `at`: `[global]`'s when `global` is undefined, else a service's with
 * `global`'s where it has none. Problems go to `problems` (a wrong value reads as absent).
 */
export function mergeTrustKeys(f: Fields, at: At, global: TrustKeys | undefined, problems: ConfigProblems): TrustKeys {
  const get = <T>(fn: () => T, fallback: T): T => problems.attempt(fn, fallback);
  const inherited = global ?? {};
  const antiRollback = get(() => readAntiRollback(f, at), undefined) ?? inherited.antiRollback;
  const rollout = get(() => readRollout(f, at), undefined) ?? inherited.rollout;
  const window = get(() => readWindows(f, at), undefined) ?? inherited.window;
  const secrets = global === undefined ? get(() => globalSecretKeys(f, at), {}) : get(() => serviceSecretKeys(f, at, global), {});
  const verify = inheritVerify(get(() => mergeVerify(f, at), undefined), inherited.verify);
  return {
    ...(antiRollback === undefined ? {} : { antiRollback }),
    ...(rollout ? { rollout } : {}),
    ...(window ? { window } : {}),
    ...secrets,
    ...verifyField(verify),
  };
}

/** `keys` with their file paths (`verify`'s, `age_identity`) resolved against the config `file`'s directory. */
export function resolveTrustKeys(keys: TrustKeys, file: string): TrustKeys {
  return {
    ...(keys.antiRollback === undefined ? {} : { antiRollback: keys.antiRollback }),
    ...(keys.rollout ? { rollout: keys.rollout } : {}),
    ...(keys.window ? { window: keys.window } : {}),
    ...resolveSecretKeys(keys, file),
    ...verifyField(resolveVerify(keys.verify, file)),
  };
}
