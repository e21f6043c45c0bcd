/**
 * The `verify` key of `[global]` and of a service (ours; docs/trust-and-rollout.md "Signed commits"):
 * `verify = { allowed_signers = "/etc/gitopper/allowed_signers", openpgp_keys = "/etc/gitopper/keys.asc" }`.
 * Read, inherited (a service's own table replaces `[global]`'s whole) and resolved against the config
 * file's directory, for `config.ts`. Pure: the files are read by the adapter (src/adapters/verify/).
 */
import { At } from './error.js';
import { fields, optString, optTable } from './fields.js';
import type { VerifySpec } from './spec.js';
import { resolveFromConfig, type Fields } from './validate.js';

const VERIFY_KEYS = ['allowed_signers', 'openpgp_keys'] as const;
/** How `verify` is written, for fixes. */
export const VERIFY_EXAMPLE = 'verify = { allowed_signers = "/etc/gitopper/allowed_signers" } (SSH signatures) or verify = { openpgp_keys = "/etc/gitopper/keys.asc" } (OpenPGP)';

/**
 * The `verify` table of `[global]` or of a service (`f`, read at `at`) as written, or undefined when
 * absent. Each key a non-empty string; at least one of them; no other key.
 * @throws ConfigError at `<entry>.verify` naming the key and the fix (or at `at`, key `verify`, when it is not a table).
 */
export function mergeVerify(f: Fields, at: At): VerifySpec | undefined {
  const raw = optTable(f, 'verify', at, VERIFY_EXAMPLE);
  if (raw === undefined) return undefined;
  const vAt = new At(at.file, `${at.entry}.verify`);
  const v = fields(raw, VERIFY_KEYS, vAt);
  const path = (key: (typeof VERIFY_KEYS)[number]) => {
    const value = optString(v, key, vAt);
    if (value === '') vAt.fail(key, 'is empty', `name the file, e.g. ${key} = "/etc/gitopper/${key === 'allowed_signers' ? 'allowed_signers' : 'keys.asc'}", or remove the key`);
    return value;
  };
  const allowedSigners = path('allowed_signers');
  const openpgpKeys = path('openpgp_keys');
  if (allowedSigners === undefined && openpgpKeys === undefined) {
    at.fail('verify', 'names no keys file, so no commit could ever be accepted', `write ${VERIFY_EXAMPLE}, or remove verify to deploy unsigned commits`);
  }
  return { ...(allowedSigners === undefined ? {} : { allowedSigners }), ...(openpgpKeys === undefined ? {} : { openpgpKeys }) };
}

/** A service's `verify`: its own table when it has one (replacing `[global]`'s whole), else `[global]`'s, else undefined. */
export function inheritVerify(own: VerifySpec | undefined, global: VerifySpec | undefined): VerifySpec | undefined {
  return own ?? global;
}

/** `spec` with both paths resolved against the config `file`'s directory (like `token_file`); undefined stays undefined. */
export function resolveVerify(spec: VerifySpec | undefined, file: string): VerifySpec | undefined {
  if (spec === undefined) return undefined;
  return {
    ...(spec.allowedSigners === undefined ? {} : { allowedSigners: resolveFromConfig(file, spec.allowedSigners) }),
    ...(spec.openpgpKeys === undefined ? {} : { openpgpKeys: resolveFromConfig(file, spec.openpgpKeys) }),
  };
}

/** `{ verify: spec }`, or `{}` when `spec` is undefined: spread into a spec so an absent `verify` leaves no key. */
export function verifyField(spec: VerifySpec | undefined): { readonly verify?: VerifySpec } {
  return spec === undefined ? {} : { verify: spec };
}
