/**
 * Where a config problem is and what it is: {@link ConfigError} (the one error the config parser throws),
 * {@link ConfigWarning} (accepted, but worth a log line), {@link At} (a place in the file that throws or
 * warns), and the labels of service and `dirs` entries. Pure.
 */
import { Problem } from './validate.js';
import { GitopperError } from '../errors/gitopper-error.js';

/** Structured data of a {@link ConfigError}. */
export interface ConfigErrorData {
  /** The config file, as given to `parseConfig`. */
  readonly file: string;
  /** Where in the file: `top level`, `global`, `global.keys[1]`, `services[2] "grafana-server"`,
   *  `services[1].dirs[0] (service "docker-compose@caddy")`, or `line 3, column 7` for TOML syntax. */
  readonly entry?: string;
  /** The offending key: canonical lower-case name, or as written for unknown / repeated keys. */
  readonly key?: string;
  /** What to change. */
  readonly fix?: string;
}

/**
 * A config that cannot be used. Stable `code` 'CONFIG'; the message reads
 * `<file>: <entry>: key "<key>": <problem>. Fix: <fix>` (parts absent from `data` are left out).
 */
export class ConfigError extends GitopperError<ConfigErrorData> {
  readonly code = 'CONFIG';
  override readonly name = 'ConfigError';
  override readonly data: ConfigErrorData;
  constructor(problem: string, data: ConfigErrorData) {
    super(located(problem, data));
    this.data = data;
  }
}

/**
 * Something a config says that the agent accepts but ignores (or treats differently), because gitopper
 * accepted it too: the file still starts, and the caller logs `message` at warn level. `message` has the
 * form of a {@link ConfigError}'s: `<file>: <entry>: key "<key>": <what happens>. Fix: <what to do>`.
 */
export interface ConfigWarning {
  readonly message: string;
  readonly data: ConfigErrorData;
  /** Index of the `[[services]]` entry it is about; absent for `[global]` (it concerns every host). */
  readonly service?: number;
}

/** `<file>: <entry>: key "<key>": <problem>. Fix: <fix>`, leaving out what `data` lacks. */
function located(problem: string, data: ConfigErrorData): string {
  const where = [data.file, data.entry, data.key === undefined ? undefined : `key "${data.key}"`].filter((p) => p !== undefined);
  return `${where.join(': ')}: ${problem}${data.fix === undefined ? '' : `. Fix: ${data.fix}`}`;
}

/** A place in the file; its methods throw {@link ConfigError}s located there. */
export class At {
  constructor(readonly file: string, readonly entry: string) {}
  /** Throw a ConfigError at this entry about `key` (undefined: about the entry itself). */
  fail(key: string | undefined, problem: string, fix: string): never {
    throw new ConfigError(problem, { file: this.file, entry: this.entry, ...(key === undefined ? {} : { key }), fix });
  }
  /** A {@link ConfigWarning} at this entry about `key`; `service` is the index of the service entry it concerns. */
  warning(key: string, problem: string, fix: string, service?: number): ConfigWarning {
    const data: ConfigErrorData = { file: this.file, entry: this.entry, key, fix };
    return { message: located(problem, data), data, ...(service === undefined ? {} : { service }) };
  }
  /** The value of a rule's result, or throw its Problem against `key`. */
  check<T>(key: string, result: T | Problem): T {
    if (result instanceof Problem) this.fail(result.key ?? key, result.problem, result.fix);
    return result;
  }
}

/**
 * Where the parser puts the {@link ConfigError}s it meets. With `all` true (for `gitopper --check`) every
 * one is collected, in the order the parser meets them, and the parse goes on; with `all` false (the
 * default: the daemon, `-r`) the first is thrown at once, as a parse that stops at the first problem does.
 * One error per entry and key: a later one at the same `entry` and `key` (a follow-on of the first,
 * such as "set twice" and then "unknown key") is dropped.
 */
export class ConfigProblems {
  /** @param all collect every error (true) or throw the first at once (false). */
  constructor(readonly all = false) {}
  readonly #errors: ConfigError[] = [];
  /** `[entry, key]` of every error kept (all of one file), for the one-per-place rule and {@link has}. */
  readonly #places = new Set<string>();
  /** The errors collected so far, in order. */
  get errors(): readonly ConfigError[] {
    return this.#errors;
  }
  /** Keep `err` unless an error at the same file, entry and key is already kept; without `all`, throw it. */
  add(err: ConfigError): void {
    if (!this.all) throw err;
    const place = JSON.stringify([err.data.file, err.data.entry ?? null, err.data.key ?? null]);
    if (this.#places.has(place)) return;
    this.#places.add(place);
    this.#errors.push(err);
  }
  /** `fn()`, or `fallback` after keeping the ConfigError it threw (see {@link add}); any other error is thrown on. */
  attempt<T>(fn: () => T, fallback: T): T {
    try {
      return fn();
    } catch (err) {
      if (!(err instanceof ConfigError)) throw err;
      this.add(err);
      return fallback;
    }
  }
  /** True when a kept error is at `entry` about `key`. */
  has(entry: string, key: string): boolean {
    return this.#errors.some((e) => e.data.entry === entry && e.data.key === key);
  }
}

/** Label of service entry `i` for messages: `services[2] "grafana-server"`, or `services[2]` without a usable name. */
export function serviceEntry(i: number, name: unknown): string {
  return typeof name === 'string' && name !== '' ? `services[${i}] ${JSON.stringify(name)}` : `services[${i}]`;
}

/** Label of `dirs` entry `j` of service entry `i` for messages: `services[1].dirs[0] (service "caddy")`. */
export function dirEntry(i: number, j: number, name: string): string {
  return `services[${i}].dirs[${j}]${name === '' ? '' : ` (service ${JSON.stringify(name)})`}`;
}
