/**
 * Reads the config file and picks this host's services: the daemon's one way to (re)load config.
 * Errors: ConfigError (names file, entry, key, fix) or ConfigReadError (the file cannot be read).
 */
import { readFile } from 'node:fs/promises';
import { ConfigProblems, hostServices, parseAll, parseConfig, servicesForHost, type GlobalSpec, type NotifySpec, type ServiceSpec } from './config.js';
import { GitopperError } from '../errors/gitopper-error.js';

/** The config file could not be read. */
export class ConfigReadError extends GitopperError {
  readonly code = 'CONFIG_READ';
}

/**
 * Parse `file` and return the services for `hosts`, with `extra` (the self-bootstrap service)
 * appended. Throws ConfigError or ConfigReadError; has no side effects.
 */
export async function loadServices(file: string, hosts: readonly string[], extra: readonly ServiceSpec[] = []): Promise<ServiceSpec[]> {
  return (await loadConfig(file, hosts, extra)).services;
}

/** What {@link loadConfig} returns. */
export interface LoadedConfig {
  /** This host's services, then the `extra` ones. */
  readonly services: ServiceSpec[];
  readonly global: GlobalSpec;
  /** The `[[notify]]` targets (every host sends to all of them). */
  readonly notify: readonly NotifySpec[];
  /**
   * Messages about what the file says but has no effect (`ConfigSpec.warnings`): those about `[global]`,
   * and those about this host's service entries (another host's entries are that host's to report).
   * Each reads `<file>: <entry>: key "<key>": <what happens>. Fix: <what to do>`; the caller logs them at warn level.
   */
  readonly warnings: string[];
}

/** Like {@link loadServices}, with the config's `[global]` (for daemon-wide keys such as `hook_secret_file`) and its warnings. */
export async function loadConfig(file: string, hosts: readonly string[], extra: readonly ServiceSpec[] = []): Promise<LoadedConfig> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    throw new ConfigReadError(`cannot read config ${file}: ${(err as Error).message}`);
  }
  const config = parseConfig(text, file);
  const services = servicesForHost(config, hosts);
  const clash = extraClash(file, services, extra);
  if (clash) throw clash;
  const warnings = config.warnings.filter((w) => w.service === undefined || services.some((s) => s.index === w.service)).map((w) => w.message);
  return { services: [...services, ...extra], global: config.global, notify: config.notify, warnings };
}

/** The error for a service of `services` named as one of `extra` (the self-bootstrap service), or undefined. */
function extraClash(file: string, services: readonly ServiceSpec[], extra: readonly ServiceSpec[]): ConfigReadError | undefined {
  const clash = extra.find((e) => services.some((s) => s.service === e.service));
  return clash ? new ConfigReadError(`${file}: a service named "${clash.service}" clashes with the self-bootstrap service of the same name: rename it`) : undefined;
}

/** What {@link checkConfigFile} found. Valid when `errors` is empty. */
export interface ConfigCheck {
  /** Every problem of the file (the messages {@link loadConfig} throws: file, entry, key, fix), in file order; the first is the one {@link loadConfig} throws. */
  readonly errors: readonly string[];
  /** The warnings {@link loadConfig} returns (about `[global]` and this host's entries). */
  readonly warnings: readonly string[];
  /** This host's services, then the `extra` ones (as {@link loadConfig}); incomplete when there are errors. */
  readonly services: readonly ServiceSpec[];
  /** How many `[[services]]` entries the file has, for every host. */
  readonly total: number;
}

/**
 * {@link loadConfig} for `gitopper --check`: reads and checks `file` for `hosts` the same way, but
 * reports every problem instead of throwing the first. Has no side effects; never throws for a bad or
 * unreadable file (the problem is in `errors`).
 */
export async function checkConfigFile(file: string, hosts: readonly string[], extra: readonly ServiceSpec[] = []): Promise<ConfigCheck> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    return { errors: [new ConfigReadError(`cannot read config ${file}: ${(err as Error).message}`).message], warnings: [], services: [], total: 0 };
  }
  const problems = new ConfigProblems(true);
  const config = parseAll(text, file, problems);
  if (config === undefined) return { errors: problems.errors.map((e) => e.message), warnings: [], services: [], total: 0 };
  const services = hostServices(config, hosts, problems);
  const errors = problems.errors.map((e) => e.message);
  const clash = extraClash(file, services, extra);
  if (clash) errors.push(clash.message);
  const warnings = config.warnings.filter((w) => w.service === undefined || services.some((s) => s.index === w.service)).map((w) => w.message);
  return { errors, warnings, services: [...services, ...extra], total: config.services.length };
}
