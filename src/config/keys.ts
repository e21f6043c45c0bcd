/**
 * `[global].keys`, the OpenSSH public keys allowed to use the API, for `config.ts`: read, the old
 * top-level `[keys]` format refused, and (stage two) required and resolved against the config file. Pure.
 */
import { At, type ConfigProblems } from './error.js';
import { fields, optBool, optString, optTables } from './fields.js';
import { isTable, resolveFromConfig, type Fields } from './validate.js';

/** One `[global].keys` entry: an OpenSSH public key file allowed to use the API. */
export interface KeySpec {
  /** Absolute path (relative paths in the file are resolved against the config file's directory). */
  readonly path: string;
  /** Read-only key: may use read routes only. */
  readonly ro: boolean;
}

/** How to write `keys`, for fixes. */
export const KEYS_EXAMPLE = 'keys = [{ path = "keys/operator.pub" }, { path = "/etc/gitopper/ci.pub", ro = true }]';
const KEY_KEYS = ['path', 'ro'] as const;

/** Throws at `top` when the document has a top-level `keys` (gitopper v0.0.1's `[keys]` table, or a misplaced array). */
export function refuseTopLevelKeys(doc: Record<string, unknown>, top: At): void {
  const legacy = Object.keys(doc).find((k) => k.toLowerCase() === 'keys');
  if (legacy !== undefined) {
    const what = isTable(doc[legacy]) ? 'a top-level [keys] table is the old (gitopper v0.0.1) format' : 'keys belong in [global]';
    top.fail(legacy, `${what}; keys now go in [global] as keys = [{ path = "..." }]`, `move them into [global] as ${KEYS_EXAMPLE}`);
  }
}

/**
 * `[global]`'s `keys` as written (`g` read at `gAt`): paths unresolved, possibly empty; `ro` defaults to false.
 * Each problem is kept in `problems` (every entry and key is read); a key that is wrong there reads as
 * `path` "?" / `ro` false, so no follow-on problem is reported about it.
 */
export function mergeKeys(g: Fields, gAt: At, file: string, problems: ConfigProblems): KeySpec[] {
  return problems.attempt(() => optTables(g, 'keys', gAt, KEYS_EXAMPLE), undefined)?.map((raw, i): KeySpec => {
    const at = new At(file, `global.keys[${i}]`);
    const k = fields(raw, KEY_KEYS, at, undefined, problems);
    return { path: problems.attempt(() => optString(k, 'path', at) ?? '', '?'), ro: problems.attempt(() => optBool(k, 'ro', at) ?? false, false) };
  }) ?? [];
}

/**
 * Stage two: at least one key (gitopper's message, thrown at `gAt`), each with a non-empty `path`,
 * resolved against the config `file`'s directory (ours).
 */
export function resolveKeys(keys: readonly KeySpec[], file: string, gAt: At): KeySpec[] {
  if (keys.length === 0) {
    gAt.fail('keys', 'at least one public key should be specified', `add to [global]: ${KEYS_EXAMPLE} (OpenSSH public key files; relative paths are relative to this file)`);
  }
  return keys.map((k, i): KeySpec => {
    if (k.path === '') new At(file, `global.keys[${i}]`).fail('path', 'is missing or empty', 'set path to an OpenSSH public key file, e.g. path = "keys/operator.pub"');
    return { path: resolveFromConfig(file, k.path), ro: k.ro };
  });
}
