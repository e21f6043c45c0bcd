#!/usr/bin/env node
/**
 * gitopper daemon entry and composition root: argv → options → (self-bootstrap) → config → real
 * adapters → agent; config changes → live reconfigure; signals → exit code (0 after SIGINT/SIGTERM,
 * 2 after SIGHUP so systemd's Restart=on-failure restarts it, 1 on a fatal error with a message on
 * stderr). gitopper's contract (DESIGN.md §2).
 */
import { once } from 'node:events';
import { chmodSync, mkdirSync, readFileSync, statSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import type { Server } from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import dbus from 'dbus-next';
import { Agent } from '../src/core/agent.js';
import { bootstrap, bootstrapConfigPath, BootstrapError, selfService, type BootstrapOptions } from '../src/core/bootstrap.js';
import { ConfigError, type ServiceSpec } from '../src/config/config.js';
import { ConfigReadError, loadConfig } from '../src/config/file.js';
import { hookRouter } from '../src/http/webhook/app.js';
import { FlagError, parseDaemonFlags, splitAddr, usage, type DaemonOptions } from '../src/daemon/flags.js';
import { createLogger, isJournalStream, type Logger } from '../src/telemetry/log.js';
import { Metrics } from '../src/telemetry/metrics.js';
import { observer } from '../src/telemetry/observer.js';
import { metricsApp } from '../src/http/metrics-app.js';
import { keysOfConfig } from '../src/http/keyring.js';
import { startApiServer } from '../src/http/server.js';
import { systemClock } from '../src/adapters/host/clock.js';
import { watchFile } from '../src/adapters/watch/config.js';
import { CheckoutWatcher } from '../src/adapters/watch/checkout.js';
import { IsoGit } from '../src/adapters/git/iso-git.js';
import { StoreDirectory } from '../src/adapters/git/stores.js';
import { StoreSweeper } from '../src/core/store-sweep.js';
import { BindMounter } from '../src/adapters/mount/bind.js';
import { FileStateStore } from '../src/adapters/state/state-file.js';
import { SystemdManager } from '../src/adapters/systemd/manager.js';
import { GetentUsers } from '../src/adapters/host/users.js';
import { SystemPackages } from '../src/adapters/host/packages.js';
import { SystemdNotifier, summarizeStates } from '../src/adapters/systemd/notify.js';
import { SpawnCommands } from '../src/adapters/host/commands.js';
import { FetchProbe } from '../src/adapters/host/probe.js';
import { IsoStage } from '../src/adapters/git/stage.js';

/** Exits 1 with `message` on stderr; under systemd with stderr to the journal at priority err (`<3>`, sd-daemon(3)). */
function fatal(message: string): never {
  const prefix = isJournalStream(process.env.JOURNAL_STREAM, 2) ? '<3>' : '';
  process.stderr.write(`${prefix}gitopper: ${message.replaceAll('\n', `\n${prefix}`)}\n`);
  process.exit(1);
}

function options(): DaemonOptions {
  try {
    return parseDaemonFlags(process.argv.slice(2));
  } catch (err) {
    if (err instanceof FlagError) fatal(err.message);
    throw err;
  }
}

function listen(app: ReturnType<typeof metricsApp>, addr: string, what: string, log: Logger): Server {
  const { host, port } = splitAddr(addr);
  const server = host === '' ? app.listen(port) : app.listen(port, host);
  server.on('error', (err) => fatal(`cannot listen on ${addr} (${what}): ${err.message}`));
  server.on('listening', () => log.info({ addr: server.address(), what }, 'listening'));
  return server;
}

/**
 * The state dir: mode 0711 (traversable, not listable) so hooks running as a service's user can
 * reach their staged copy under `stage/`; everything secret inside is 0600/0700 itself.
 */
function prepareStateDir(dir: string, log: Logger): void {
  mkdirSync(dir, { recursive: true, mode: 0o711 });
  const mode = statSync(dir).mode & 0o777;
  if ((mode & 0o011) !== 0o011) {
    chmodSync(dir, mode | 0o011);
    log.info({ dir, from: mode.toString(8), to: (mode | 0o011).toString(8) }, 'state dir made traversable for hooks run as service users');
  }
}

function configProblem(err: unknown): string | undefined {
  return err instanceof ConfigError || err instanceof ConfigReadError || err instanceof BootstrapError ? err.message : undefined;
}

async function main(): Promise<void> {
  const opts = options();
  if (opts.help) {
    process.stdout.write(`${usage(fileURLToPath(new URL('../../docs', import.meta.url)))}\n`);
    return;
  }
  if (opts.root && process.getuid?.() !== 0) fatal('must run as root (bind mounts and systemd need it); -o=false to try without');
  const log = createLogger(opts.debug, process.stdout, isJournalStream(process.env.JOURNAL_STREAM, 1));
  const notifier = SystemdNotifier.fromEnv(process.env, { onError: (err) => log.warn({ err: err.message, ...err.data }, 'cannot notify systemd') });
  notifier.startWatchdog();
  const hostname = os.hostname();
  const hosts = [...new Set([...opts.hosts, hostname])];
  const boot: BootstrapOptions | undefined = opts.upstream === '' ? undefined : { upstream: opts.upstream, branch: opts.branch, mount: opts.mount, directory: opts.directory, machine: hostname };
  if (boot && opts.mount === '') fatal('-U needs -M: the directory to check the config repository out into');
  const configFile = boot ? bootstrapConfigPath(boot, opts.config || 'config.toml') : path.resolve(opts.config);
  const extra: ServiceSpec[] = boot ? [selfService(boot)] : [];

  const busAddress = process.env.DBUS_SESSION_BUS_ADDRESS;
  if (opts.user && !busAddress) fatal("--user needs DBUS_SESSION_BUS_ADDRESS (the user manager's bus)");
  const units = new SystemdManager(() => (opts.user ? dbus.sessionBus({ busAddress }) : dbus.systemBus()));
  const notice = log.child({ component: 'git' });
  const ports = { git: new IsoGit(opts.stateDir, (msg, data, level) => notice[level](data, msg), { fetchInChild: true, idleTimeoutMs: opts.fetchTimeoutSeconds * 1000 }), mounts: new BindMounter(), units, users: new GetentUsers(), clock: systemClock, packages: new SystemPackages(), commands: new SpawnCommands(), stage: new IsoStage(), scratchDir: path.join(opts.stateDir, 'stage'), probe: new FetchProbe() };

  let services: ServiceSpec[];
  let hookSecretFile: string | undefined;
  try {
    if (boot) {
      prepareStateDir(opts.stateDir, log);
      await bootstrap(boot, opts.pull, ports);
      log.info({ upstream: boot.upstream, branch: boot.branch, config: configFile }, 'bootstrapped');
    }
    let warnings: string[];
    ({ services, global: { hookSecretFile }, warnings } = await loadConfig(configFile, hosts, extra));
    for (const w of warnings) log.warn({ component: 'config', config: configFile }, w);
  } catch (err) {
    fatal(configProblem(err) ?? (err instanceof Error ? (err.stack ?? err.message) : String(err)));
  }
  if (services.length === 0) {
    log.info({ hosts, config: configFile }, 'no services for this host in the config: nothing to do');
    await notifier.ready('no services for this host in the config: nothing to do');
    return;
  }
  prepareStateDir(opts.stateDir, log);

  const metrics = new Metrics({ version: (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version });
  metrics.configLoaded(true, new Date());
  const store = new FileStateStore(path.join(opts.stateDir, 'state.json'), (msg, data) => log.warn(data, msg), { onWrite: (ok) => metrics.stateWritten(ok) });
  const saved = await store.load().catch((err: Error) => fatal(`cannot read state file: ${err.message}`));
  const agent = new Agent(services, {
    ...ports,
    random: Math.random,
    intervalSeconds: opts.durationSeconds,
    verifyEveryPolls: opts.verifyEvery,
    events: observer(log, metrics),
    hostname,
    store,
    saved,
    onSaveError: (err) => log.error({ err: (err as Error).message }, 'cannot save the state file'),
    onUnmount: (service, target, result) => log.info({ service, target, result: result instanceof Error ? result.message : result }, 'mount removed (no longer configured)'),
  });
  metrics.syncServices(agent.services());
  const http = log.child({ component: 'http' });
  const hook = hookRouter({
    pullPushed: (urls, branch) => agent.pullPushed(urls, branch),
    secret: async () => (hookSecretFile === undefined ? '' : (await readFile(hookSecretFile, 'utf8')).trim()),
    log: (e) => (e.status === 202 ? http.info(e, 'webhook') : http.warn(e, 'webhook refused')),
  });
  const api = await startApiServer(agent, { addr: opts.api, insecureHttp: opts.insecureHttp, tlsCert: opts.tlsCert, tlsKey: opts.tlsKey, stateDir: opts.stateDir, hosts, keys: keysOfConfig(configFile), log: http, open: [hook] }).catch((err: Error) => fatal(`API (-s ${opts.api}): ${err.message}`));
  const servers = [listen(metricsApp(metrics.registry), opts.metric, 'metrics', log), api];
  log.info({ hosts, services: services.map((s) => s.service), sources: agent.sources, duration: opts.durationSeconds }, 'starting');
  const drift = new CheckoutWatcher(
    (service) => {
      try {
        agent.checkDrift(service);
      } catch {
        /* the service left the config meanwhile */
      }
    },
    (err) => {
      // without the watch, local edits would wait for the Nth poll: every poll is a full pass from now on
      agent.setQuietPolls(false);
      log.warn({ component: 'drift', err: String(err) }, 'checkout watch error: every poll is a full pass from now on (restart to watch again)');
    },
  );
  agent.start();
  const sweeping = new AbortController();
  const sweeper = new StoreSweeper(
    new StoreDirectory(opts.stateDir, ports.git),
    () => agent.storeNeeds(),
    systemClock,
    opts.storeRetentionSeconds,
    (r) => {
      for (const s of r.removed) notice.info({ store: s.name, lastUsed: s.lastUsed.toISOString() }, 'object store removed: no configured service uses its upstream');
      for (const k of r.kept) notice.debug(k, 'unused object store kept');
    },
    (err) => notice.warn({ err: err instanceof Error ? err.message : String(err) }, 'object store sweep failed'),
  );
  // readiness (sd_notify READY=1): every service had its first pass and the ports listen
  const listening = servers.map((s) => (s.listening ? undefined : once(s, 'listening')));
  void Promise.all([agent.ready(), ...listening])
    .then(() => drift.set(agent.watchedPaths()))
    .then(() => {
      log.info({ services: agent.services().map((v) => ({ service: v.service, state: v.state, commit: v.commit.slice(0, 8) })) }, 'ready');
      void sweeper.run(sweeping.signal); // after the first pass: stores of the config are in use by then
      return notifier.ready(summarizeStates(agent.services().map((v) => v.state)));
    });

  // live config: -r, and always with self-bootstrap (the config lives in a checkout the agent updates)
  const cfgLog = log.child({ component: 'config' });
  let reloading = Promise.resolve();
  const reload = () => {
    reloading = reloading.then(async () => {
      try {
        const next = await loadConfig(configFile, hosts, extra);
        for (const w of next.warnings) cfgLog.warn({ config: configFile }, w);
        const result = await agent.reconfigure(next.services);
        hookSecretFile = next.global.hookSecretFile;
        metrics.configLoaded(true, new Date());
        metrics.syncServices(agent.services());
        await drift.set(agent.watchedPaths());
        if (result.removed.length > 0 || result.changed.length > 0) void sweeper.once();
        cfgLog.info({ config: configFile, ...result }, 'config applied');
      } catch (err) {
        metrics.configLoaded(false, new Date());
        const problem = configProblem(err);
        if (problem) cfgLog.error({ config: configFile, err: problem }, 'config refused: keeping the running one');
        else cfgLog.error({ config: configFile, err: err instanceof Error ? (err.stack ?? err.message) : String(err) }, 'config change failed');
      }
    });
  };
  const watch = opts.restart || boot ? watchFile(configFile, reload, (err) => cfgLog.warn({ err: String(err) }, 'config watch error')) : undefined;

  const stop = async (signal: NodeJS.Signals, code: number): Promise<void> => {
    log.info({ signal }, 'stopping');
    await notifier.stopping(code === 2 ? 'SIGHUP: exiting 2 to restart with the new config' : `${signal}: stopping`);
    await watch?.close();
    await drift.close();
    sweeping.abort();
    await ports.git.close(); // a first fetch or compaction in a child ends now, not after it finished
    await agent.stop();
    units.close();
    for (const server of servers) server.close();
    await notifier.close();
    process.exit(code);
  };
  process.once('SIGINT', () => void stop('SIGINT', 0));
  process.once('SIGTERM', () => void stop('SIGTERM', 0));
  process.once('SIGHUP', () => void stop('SIGHUP', 2));
}

main().catch((err: unknown) => fatal(err instanceof Error ? (err.stack ?? err.message) : String(err)));
