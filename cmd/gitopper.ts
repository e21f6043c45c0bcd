#!/usr/bin/env node
/**
 * gitopper daemon entry and composition root: argv → options → config → real adapters → agent;
 * signals → exit code (0 after SIGINT/SIGTERM, 2 after SIGHUP so systemd's Restart=on-failure
 * restarts it, 1 on a fatal error with a message on stderr). gitopper's contract (DESIGN.md §2).
 */
import { mkdirSync, readFileSync } from 'node:fs';
import type { Server } from 'node:http';
import os from 'node:os';
import path from 'node:path';
import dbus from 'dbus-next';
import { Agent } from '../src/agent.js';
import { ConfigError, parseConfig, servicesForHost } from '../src/config.js';
import { FlagError, parseDaemonFlags, splitAddr, USAGE, type DaemonOptions } from '../src/flags.js';
import { createLogger, type Logger } from '../src/log.js';
import { Metrics } from '../src/metrics.js';
import { observer } from '../src/observer.js';
import { metricsApp } from '../src/http/metrics-app.js';
import { createApiApp } from '../src/http/app.js';
import { systemClock } from '../src/adapters/clock.js';
import { IsoGit } from '../src/adapters/git.js';
import { BindMounter } from '../src/adapters/mount.js';
import { FileStateStore } from '../src/adapters/store.js';
import { SystemdManager } from '../src/adapters/systemd.js';
import { GetentUsers } from '../src/adapters/users.js';

function fatal(message: string): never {
  process.stderr.write(`gitopper: ${message}\n`);
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

function loadServices(opts: DaemonOptions, hosts: string[]) {
  const file = path.resolve(opts.config);
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    fatal(`cannot read config ${file}: ${(err as Error).message}`);
  }
  try {
    const config = parseConfig(text, opts.config);
    return servicesForHost(config, hosts);
  } catch (err) {
    if (err instanceof ConfigError) fatal(err.message);
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

async function main(): Promise<void> {
  const opts = options();
  if (opts.help) {
    process.stdout.write(`${USAGE}\n`);
    return;
  }
  if (opts.upstream !== '') fatal('self-bootstrap (-U/-M) is not available in this version yet; use -c with a config file');
  if (opts.root && process.getuid?.() !== 0) fatal('must run as root (bind mounts and systemd need it); -o=false to try without');
  const log = createLogger(opts.debug);
  const hosts = [...new Set([...opts.hosts, os.hostname()])];
  const services = loadServices(opts, hosts);
  if (services.length === 0) {
    log.info({ hosts, config: opts.config }, 'no services for this host in the config: nothing to do');
    return;
  }
  if (opts.restart) log.warn('-r/--restart is accepted but watching the config is not available yet: restart the daemon after editing it');
  mkdirSync(opts.stateDir, { recursive: true, mode: 0o700 });

  const metrics = new Metrics();
  const notice = log.child({ component: 'git' });
  const busAddress = process.env.DBUS_SESSION_BUS_ADDRESS;
  if (opts.user && !busAddress) fatal('--user needs DBUS_SESSION_BUS_ADDRESS (the user manager\'s bus)');
  const store = new FileStateStore(path.join(opts.stateDir, 'state.json'), (msg, data) => log.warn(data, msg));
  const saved = await store.load().catch((err: Error) => fatal(`cannot read state file: ${err.message}`));
  const units = new SystemdManager(() => (opts.user ? dbus.sessionBus({ busAddress }) : dbus.systemBus()));
  const agent = new Agent(services, {
    git: new IsoGit(opts.stateDir, (msg, data) => notice.warn(data, msg)),
    mounts: new BindMounter(),
    units,
    users: new GetentUsers(),
    clock: systemClock,
    random: Math.random,
    intervalSeconds: opts.durationSeconds,
    events: observer(log, metrics),
    hostname: os.hostname(),
    store,
    saved,
    onSaveError: (err) => log.error({ err: (err as Error).message }, 'cannot save the state file'),
  });
  const http = log.child({ component: 'http' });
  const servers = [
    listen(metricsApp(metrics.registry), opts.metric, 'metrics', log),
    listen(createApiApp(agent, { log: (e) => http.error({ err: e.err, method: e.method, path: e.path }, e.msg) }), opts.api, 'api', log),
  ];
  log.info({ hosts, services: services.map((s) => s.service), sources: agent.sources, duration: opts.durationSeconds }, 'starting');
  agent.start();
  void agent.ready().then(() => log.info({ services: agent.services().map((v) => ({ service: v.service, state: v.state, commit: v.commit.slice(0, 8) })) }, 'ready'));

  const stop = async (signal: NodeJS.Signals, code: number): Promise<void> => {
    log.info({ signal }, 'stopping');
    await agent.stop();
    units.close();
    for (const server of servers) server.close();
    process.exit(code);
  };
  process.once('SIGINT', () => void stop('SIGINT', 0));
  process.once('SIGTERM', () => void stop('SIGTERM', 0));
  process.once('SIGHUP', () => void stop('SIGHUP', 2));
}

main().catch((err: unknown) => fatal(err instanceof Error ? (err.stack ?? err.message) : String(err)));
