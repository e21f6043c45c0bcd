/**
 * Typed readers of one TOML table's fields, for the config sections: each returns the value (undefined
 * when the key is absent) or throws a `ConfigError` through {@link At} naming the key, the type it got
 * and how to write it. Pure.
 */
import type { At, ConfigProblems } from './error.js';
import { describeType, foldKeys, isTable, Problem, type Fields } from './validate.js';
import { parseDuration } from './duration.js';

/**
 * `raw`'s keys read case-insensitively (see `foldKeys`); an unknown or repeated key is thrown at `at`.
 * With `problems`, every unknown or repeated key is kept there instead (in the order `foldKeys` meets
 * them) and left out, and the other keys are returned.
 */
export function fields(raw: Record<string, unknown>, allowed: readonly string[], at: At, hints?: Record<string, string>, problems?: ConfigProblems): Fields {
  if (problems === undefined) return at.check('', foldKeys(raw, allowed, hints));
  const rest: Record<string, unknown> = Object.assign(Object.create(null) as Record<string, unknown>, raw);
  for (;;) {
    const folded = foldKeys(rest, allowed, hints);
    if (!(folded instanceof Problem)) return folded;
    problems.attempt(() => at.check('', folded), undefined);
    if (folded.key === undefined || !Object.hasOwn(rest, folded.key)) return new Map();
    delete rest[folded.key];
  }
}

/** Field `name` as a string, or undefined when absent. */
export function optString(f: Fields, name: string, at: At): string | undefined {
  const v = f.get(name)?.value;
  if (v === undefined || typeof v === 'string') return v;
  return at.fail(name, `expected a string, got ${describeType(v)}`, `quote the value: ${name} = "..."`);
}

/** Field `name` as a boolean, or undefined when absent. */
export function optBool(f: Fields, name: string, at: At): boolean | undefined {
  const v = f.get(name)?.value;
  if (v === undefined || typeof v === 'boolean') return v;
  return at.fail(name, `expected a boolean, got ${describeType(v)}`, `write ${name} = true or ${name} = false (unquoted)`);
}

/** Field `name` as an array of tables, or undefined when absent; `example` shows the right form. */
export function optTables(f: Fields, name: string, at: At, example: string): Record<string, unknown>[] | undefined {
  const v = f.get(name)?.value;
  if (v === undefined) return undefined;
  if (Array.isArray(v) && v.every(isTable)) return v;
  const got = Array.isArray(v) ? `an array holding ${v.filter((e) => !isTable(e)).map(describeType)[0]} values` : `a ${describeType(v)}`;
  return at.fail(name, `expected an array of tables, got ${got}`, `write it as ${example}`);
}

/** Field `name` as a table, or undefined when absent; `example` shows the right form. */
export function optTable(f: Fields, name: string, at: At, example: string): Record<string, unknown> | undefined {
  const v = f.get(name)?.value;
  if (v === undefined || isTable(v)) return v;
  return at.fail(name, `expected a table, got ${describeType(v)}`, `write it as ${example}`);
}

/** Field `name` as an array of strings (repository paths), or undefined when absent. */
export function optStrings(f: Fields, name: string, at: At): string[] | undefined {
  const v = f.get(name)?.value;
  if (v === undefined) return undefined;
  if (Array.isArray(v) && v.every((x) => typeof x === 'string')) return v;
  return at.fail(name, `expected an array of strings, got ${describeType(v)}`, `write ${name} = ["path/in/repo/script.sh"]`);
}

/** Field `name`, a positive Go duration string, in seconds; `fallback` when absent. */
export function optDuration(f: Fields, name: string, at: At, fallback: number): number {
  const v = optString(f, name, at);
  if (v === undefined) return fallback;
  try {
    const seconds = parseDuration(v);
    if (seconds > 0) return seconds;
  } catch {
    /* reported below */
  }
  return at.fail(name, `"${v}" is not a positive duration`, `use Go syntax such as ${name} = "30s" or "2m"`);
}

/** `own`, or `inherited` when unset. Empty means unset (gitopper's merge treats a Go zero value "" as "not given"). */
export function orInherit(own: string | undefined, inherited: string): string {
  return own === undefined || own === '' ? inherited : own;
}
