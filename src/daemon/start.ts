/**
 * Stage 3 of the daemon: makes the built daemon run. The API (HTTPS, or plain HTTP on loopback)
 * and `/metrics` listen, the agent starts, readiness is told to systemd (READY=1, sd_notify(3))
 * once every service had its first pass and both ports listen, the store sweep begins after it,
 * and the config file is watched (live config, see reload.ts). Also the idle start (no services).
 */
import { once } from 'node:events';
import type { Server } from 'node:http';
import { metricsApp } from '../http/metrics-app.js';
import { splitAddr } from '../http/listen-address.js';
import { startApiServer } from '../http/server.js';
import type { Logger } from '../telemetry/log.js';
import { summarizeStates } from '../adapters/systemd/notify.js';
import { watchFile } from '../adapters/watch/config.js';
import type { Built, Loaded, Running } from './daemon.js';
import { StartupError } from './startup-error.js';
import { reloader } from './reload.js';

/** Ends the process with a message (exit 1); the caller's, called at once from a listener's `error` event. */
export type Fatal = (message: string) => never;

/** Listen with `app` on `addr` (`host:port`, `:port` = all interfaces); logs `listening` with `what`; a listen error is fatal. */
function listen(app: ReturnType<typeof metricsApp>, addr: string, what: string, log: Logger, fatal: Fatal): Server {
  const { host, port } = splitAddr(addr);
  const server = host === '' ? app.listen(port) : app.listen(port, host);
  server.on('error', (err) => fatal(`cannot listen on ${addr} (${what}): ${err.message}`));
  server.on('listening', () => log.info({ addr: server.address(), what }, 'listening'));
  return server;
}

/** No service of the config is this host's: log it and tell systemd READY=1 (sd_notify(3)); nothing else runs. */
export async function idle(loaded: Loaded): Promise<void> {
  loaded.log.info({ hosts: loaded.hosts, config: loaded.configFile }, 'no services for this host in the config: nothing to do');
  await loaded.notifier.ready('no services for this host in the config: nothing to do');
}

/**
 * Start `d`; resolves once the API listens (the rest comes up in the background). Throws
 * StartupError `API (-s ADDR): …` when the API cannot start; a `/metrics` listen error later goes
 * to `fatal`.
 */
export async function start(d: Built, fatal: Fatal): Promise<Running> {
  const { opts, log, agent, notifier, drift, sweeper } = d;
  const api = await startApiServer(agent, { addr: opts.api, insecureHttp: opts.insecureHttp, tlsCert: opts.tlsCert, tlsKey: opts.tlsKey, stateDir: opts.stateDir, hosts: d.hosts, keys: d.keys, log: d.http, open: [d.webhook] }).catch((err: Error) => {
    throw new StartupError(`API (-s ${opts.api}): ${err.message}`);
  });
  const servers = [listen(metricsApp(d.metrics.registry), opts.metric, 'metrics', log, fatal), api];
  log.info({ hosts: d.hosts, services: d.config.services.map((s) => s.service), sources: agent.sources, duration: opts.durationSeconds }, 'starting');
  agent.start();
  const sweeping = new AbortController();
  // readiness (sd_notify READY=1): every service had its first pass and the ports listen
  const listening = servers.map((s) => (s.listening ? undefined : once(s, 'listening')));
  void Promise.all([agent.ready(), ...listening])
    .then(() => drift.set(agent.watchedPaths()))
    .then(() => {
      log.info({ services: agent.services().map((v) => ({ service: v.service, state: v.state, commit: v.commit.slice(0, 8) })) }, 'ready');
      void sweeper.run(sweeping.signal); // after the first pass: stores of the config are in use by then
      return notifier.ready(summarizeStates(agent.services().map((v) => v.state)));
    });

  const reload = reloader(d);
  const watch = watchFile(d.configFile, reload, (err) => log.child({ component: 'config' }).warn({ err: String(err) }, 'config watch error'));

  return {
    stop: async (signal, code) => {
      log.info({ signal }, 'stopping');
      await notifier.stopping(code === 2 ? 'SIGHUP: exiting 2 to restart with the new config' : `${signal}: stopping`);
      await watch.close();
      await drift.close();
      sweeping.abort();
      await d.ports.git.close(); // a first fetch or compaction in a child ends now, not after it finished
      await agent.stop();
      await d.notify.close(); // queued notifications get a short, bounded time
      d.ports.units.close();
      for (const server of servers) server.close();
      await notifier.close();
    },
  };
}
