/**
 * Stage 1 of the daemon: from parsed options to the config accepted at start. Checks root, makes
 * the logger (journal-aware) and the systemd notifier (watchdog pings start here), the real
 * adapters, prepares the state dir once (before the self-bootstrap fetches into it, or before the
 * agent runs), bootstraps with `-U`, and reads the config file: the one place it is read at start.
 */
import { chmodSync, mkdirSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { bootstrap, bootstrapConfigPath, selfService, type BootstrapOptions } from '../core/bootstrap.js';
import { loadConfig, type LoadedConfig } from '../config/file.js';
import { chooseLogFormat, createLogger, isJournalStream, type Logger } from '../telemetry/log.js';
import { SystemdNotifier } from '../adapters/systemd/notify.js';
import type { Loaded } from './daemon.js';
import { configProblem, StartupError } from './startup-error.js';
import type { DaemonOptions } from './flags.js';
import { hostPorts } from './host-ports.js';

/**
 * The state dir: mode 0711 (traversable, not listable) so hooks running as a service's user can
 * reach their staged copy under `stage/`; everything secret inside is 0600/0700 itself. Throws
 * the file system's error when it cannot be made.
 */
function prepareStateDir(dir: string, log: Logger): void {
  mkdirSync(dir, { recursive: true, mode: 0o711 });
  const mode = statSync(dir).mode & 0o777;
  if ((mode & 0o011) !== 0o011) {
    chmodSync(dir, mode | 0o011);
    log.info({ dir, from: mode.toString(8), to: (mode | 0o011).toString(8) }, 'state dir made traversable for hooks run as service users');
  }
}

/**
 * Load the daemon for `opts` in `env` (`JOURNAL_STREAM`, `NOTIFY_SOCKET`, `WATCHDOG_USEC`,
 * `DBUS_SESSION_BUS_ADDRESS`). The state dir is prepared only when something will use it: with
 * `-U` (before the bootstrap), or when the config has services for this host. Throws StartupError
 * (not root with `-o`, `-U` without `-M`, `--user` without a bus, a config or bootstrap problem:
 * its message; anything else unexpected in bootstrap or config: its stack); the state dir's own
 * file system error as is.
 */
export async function load(opts: DaemonOptions, env: NodeJS.ProcessEnv): Promise<Loaded> {
  if (opts.root && process.getuid?.() !== 0) throw new StartupError('must run as root (bind mounts and systemd need it); -o=false to try without');
  const log = createLogger(opts.debug, process.stdout, isJournalStream(env.JOURNAL_STREAM, 1), chooseLogFormat(opts.logFormat, process.stdout.isTTY === true));
  const notifier = SystemdNotifier.fromEnv(env, { onError: (err) => log.warn({ err: err.message, ...err.data }, 'cannot notify systemd') });
  notifier.startWatchdog();
  const hostname = os.hostname();
  const hosts = [...new Set([...opts.hosts, hostname])];
  const boot: BootstrapOptions | undefined = opts.upstream === '' ? undefined : { upstream: opts.upstream, branch: opts.branch, mount: opts.mount, directory: opts.directory, machine: hostname };
  if (boot && opts.mount === '') throw new StartupError('-U needs -M: the directory to check the config repository out into');
  const configFile = boot ? bootstrapConfigPath(boot, opts.config || 'config.toml') : path.resolve(opts.config);
  const extra = boot ? [selfService(boot)] : [];
  const ports = hostPorts(opts, env.DBUS_SESSION_BUS_ADDRESS, log);

  let config: LoadedConfig;
  try {
    if (boot) {
      prepareStateDir(opts.stateDir, log);
      await bootstrap(boot, opts.pull, ports);
      log.info({ upstream: boot.upstream, branch: boot.branch, config: configFile }, 'bootstrapped');
    }
    config = await loadConfig(configFile, hosts, extra);
    for (const w of config.warnings) log.warn({ component: 'config', config: configFile }, w);
  } catch (err) {
    throw new StartupError(configProblem(err) ?? (err instanceof Error ? (err.stack ?? err.message) : String(err)));
  }
  if (!boot && config.services.length > 0) prepareStateDir(opts.stateDir, log);
  return { opts, log, notifier, hostname, hosts, boot, configFile, extra, ports, config };
}
