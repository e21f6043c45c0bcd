/**
 * Reads the config file and picks this host's services: the daemon's one way to (re)load config.
 * Errors: ConfigError (names file, entry, key, fix) or ConfigReadError (the file cannot be read).
 */
import { readFile } from 'node:fs/promises';
import { parseConfig, servicesForHost, type GlobalSpec, type ServiceSpec } from './config.js';
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
  const clash = extra.find((e) => services.some((s) => s.service === e.service));
  if (clash) throw new ConfigReadError(`${file}: a service named "${clash.service}" clashes with the self-bootstrap service of the same name: rename it`);
  const warnings = config.warnings.filter((w) => w.service === undefined || services.some((s) => s.index === w.service)).map((w) => w.message);
  return { services: [...services, ...extra], global: config.global, warnings };
}
