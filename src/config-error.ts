/**
 * Where a config problem is and what it is: {@link ConfigError} (the one error the config parser throws),
 * {@link At} (a place in the file that throws it), and the labels of service and `dirs` entries. Pure.
 */
import { Problem } from './config-validate.js';

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
export class ConfigError extends Error {
  readonly code = 'CONFIG';
  override readonly name = 'ConfigError';
  readonly data: ConfigErrorData;
  constructor(problem: string, data: ConfigErrorData) {
    const where = [data.file, data.entry, data.key === undefined ? undefined : `key "${data.key}"`].filter((p) => p !== undefined);
    super(`${where.join(': ')}: ${problem}${data.fix === undefined ? '' : `. Fix: ${data.fix}`}`);
    this.data = data;
  }
}

/** A place in the file; its methods throw {@link ConfigError}s located there. */
export class At {
  constructor(readonly file: string, readonly entry: string) {}
  /** Throw a ConfigError at this entry about `key` (undefined: about the entry itself). */
  fail(key: string | undefined, problem: string, fix: string): never {
    throw new ConfigError(problem, { file: this.file, entry: this.entry, ...(key === undefined ? {} : { key }), fix });
  }
  /** The value of a rule's result, or throw its Problem against `key`. */
  check<T>(key: string, result: T | Problem): T {
    if (result instanceof Problem) this.fail(result.key ?? key, result.problem, result.fix);
    return result;
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
