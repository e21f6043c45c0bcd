/**
 * `gitopper --check`: the config the daemon would load, checked without starting anything (as
 * `nginx -t`, `sshd -t`). Reads the file and nothing else: no root check, no logger, no state dir,
 * no D-Bus, no listeners, no fetch. Every problem is reported at once, in the daemon's format
 * (`<file>: <entry>: key "<key>": <problem>. Fix: <fix>`), then the warnings and a one-line summary.
 * With `-U` the config of the self-bootstrap checkout is checked when it is already there; --check
 * never fetches it. docs/daemon.md, "Checking a config".
 */
import { existsSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { bootstrapConfigPath, selfService, type BootstrapOptions } from '../core/bootstrap.js';
import { checkConfigFile } from '../config/file.js';
import type { DaemonOptions } from './flags.js';

/** What {@link checkConfig} found, ready to print. */
export interface CheckReport {
  /** True when the config is valid for this host (exit 0); false: exit 1. */
  readonly ok: boolean;
  /** The config file checked (absolute). */
  readonly file: string;
  /** Every problem, each a whole message naming file, entry, key and fix; empty when `ok`. */
  readonly errors: readonly string[];
  /** Accepted but worth fixing (the daemon logs them at warn). */
  readonly warnings: readonly string[];
  /** One line: `config OK: …` or `config invalid: …`. */
  readonly summary: string;
}

/** `n thing`/`n things`. */
function count(n: number, thing: string): string {
  return `${n} ${thing}${n === 1 ? '' : 's'}`;
}

/**
 * Check the config `opts` names for this host (`hostname` and `-h`, as the daemon picks them). With
 * `-U`, the config is `<-M>/gitopper/<-D>/<-c>` when that checkout exists; otherwise the report says
 * it is not checked out yet and how to check it (never a fetch). Never throws for a bad config.
 */
export async function checkConfig(opts: DaemonOptions, hostname: string = os.hostname()): Promise<CheckReport> {
  const hosts = [...new Set([...opts.hosts, hostname])];
  const names = hosts.join(', ');
  const boot: BootstrapOptions | undefined = opts.upstream === '' ? undefined : { upstream: opts.upstream, branch: opts.branch, mount: opts.mount, directory: opts.directory, machine: hostname };
  const invalid = (file: string, errors: string[], warnings: readonly string[] = []): CheckReport =>
    ({ ok: false, file, errors, warnings, summary: `config invalid: ${count(errors.length, 'error')} in ${file}` });
  if (boot && opts.mount === '') return invalid('', ['-U needs -M: the directory to check the config repository out into']);
  const file = boot ? bootstrapConfigPath(boot, opts.config || 'config.toml') : path.resolve(opts.config);
  if (boot && !existsSync(file)) {
    return invalid(file, [`${file}: not there: the self-bootstrap checkout of ${boot.upstream} (branch ${boot.branch}) has not been made yet, `
      + `and --check does not fetch. Fix: start gitopper -U once (or run this check after the first start), or check a clone of the repository: gitopper --check -c <clone>/${boot.directory}/${opts.config || 'config.toml'}`]);
  }
  const result = await checkConfigFile(file, hosts, boot ? [selfService(boot)] : []);
  if (result.errors.length > 0) return invalid(file, [...result.errors], result.warnings);
  const mine = result.services.length - (boot ? 1 : 0);
  const self = boot ? ' (and the self-bootstrap service gitopper)' : '';
  return {
    ok: true,
    file,
    errors: [],
    warnings: result.warnings,
    summary: `config OK: ${count(mine, 'service')}${self} for this host (${names}), ${result.total} in the file${result.warnings.length > 0 ? `; ${count(result.warnings.length, 'warning')}` : ''}`,
  };
}
