/**
 * The `age_identity` key (ours; docs/trust-and-rollout.md "Secrets in the repository", docs/config.md
 * `age_identity`): the host's age identity file that decrypts `*.age` files under a service's links.
 * Set in `[global]` and/or per service; a service's own value wins, else `[global]`'s (as `token_file`);
 * "" means unset. Resolved against the config file's directory. Pure: the file is only read at checkout
 * (`src/adapters/git/secrets-identity.ts`), so a missing identity is a BROKEN service, not a bad config.
 */
import type { At } from './error.js';
import { optString, orInherit } from './fields.js';
import { resolveFromConfig, type Fields } from './validate.js';

/** The key's name, as written in the TOML. */
export const AGE_IDENTITY_KEY = 'age_identity';

/** The secrets keys of `[global]` or of a service; `ageIdentity` undefined (or absent) = not set. */
export interface SecretKeys {
  /** The age identity file as written (after merge) or absolute (after {@link resolveSecretKeys}). */
  readonly ageIdentity?: string | undefined;
}

/**
 * `[global]`'s `age_identity` as written ("" = unset), read from `g` at `at`.
 * @throws ConfigError when it is not a string
 */
export function globalSecretKeys(g: Fields, at: At): SecretKeys {
  const own = orInherit(optString(g, AGE_IDENTITY_KEY, at), '');
  return own === '' ? {} : { ageIdentity: own };
}

/**
 * A service's `age_identity`: its own value, else `global`'s ("" = unset, so inherited).
 * @throws ConfigError when the service's value is not a string
 */
export function serviceSecretKeys(s: Fields, at: At, global: SecretKeys): SecretKeys {
  const value = orInherit(optString(s, AGE_IDENTITY_KEY, at), global.ageIdentity ?? '');
  return value === '' ? {} : { ageIdentity: value };
}

/**
 * `keys` with `age_identity` resolved against the directory of the config `file` (a relative path is
 * taken from there, as every path of the config is: docs/config.md), normalised.
 */
export function resolveSecretKeys(keys: SecretKeys, file: string): SecretKeys {
  return keys.ageIdentity === undefined ? {} : { ageIdentity: resolveFromConfig(file, keys.ageIdentity) };
}
