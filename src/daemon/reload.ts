/**
 * Live config: the config file read again after it changed, and each config accepted pushed to
 * every consumer. With `-r`, and always with self-bootstrap (the config lives in a checkout the
 * agent updates), a config is accepted when it loads and the agent took its services
 * (`Agent.reconfigure`); then the key list, the webhook secret and the `[[notify]]` targets take it too. Without `-r` only
 * the key list follows the file (docs/security.md: adding or revoking a key needs no restart, with
 * or without `-r`). A refused config changes nothing: every consumer keeps the last good one.
 */
import { loadConfig, type LoadedConfig } from '../config/file.js';
import type { Built } from './daemon.js';
import { configProblem } from './startup-error.js';
import { setTargets } from './notify.js';

/** One reload: read the config file again and apply it (queued: reloads run one at a time). Never throws. */
export type Reload = () => void;

/** Push `next` to the consumers besides the agent: the API's key ring, the webhook secret and the notification targets. */
function acceptAround(d: Built, next: LoadedConfig): void {
  d.keys.set(next.global.keys);
  d.webhookSecret.set(next.global.hookSecretFile);
  setTargets(d.notify, next.notify, d.metrics);
}

/**
 * A full reload: load, log the warnings, reconfigure the agent, push the key list and the webhook
 * secret, update the metrics (`gitopper_config_last_reload_successful` and the services), the
 * drift watch and the store sweep; log `config applied` with what changed. A refused config (a
 * ConfigError, ConfigReadError) is logged once as `config refused: keeping the running one`,
 * anything else that failed as `config change failed` (with its stack), both at error level.
 */
function fullReload(d: Built): () => Promise<void> {
  const { agent, metrics, configFile, hosts, extra } = d;
  const cfgLog = d.log.child({ component: 'config' });
  return async () => {
    try {
      const next = await loadConfig(configFile, hosts, extra);
      for (const w of next.warnings) cfgLog.warn({ config: configFile }, w);
      const result = await agent.reconfigure(next.services);
      acceptAround(d, next);
      metrics.configLoaded(true, new Date());
      metrics.syncServices(agent.services());
      await d.drift.set(agent.watchedPaths());
      if (result.removed.length > 0 || result.changed.length > 0) void d.sweeper.once();
      cfgLog.info({ config: configFile, ...result }, 'config applied');
    } catch (err) {
      metrics.configLoaded(false, new Date());
      const problem = configProblem(err);
      if (problem) cfgLog.error({ config: configFile, err: problem }, 'config refused: keeping the running one');
      else cfgLog.error({ config: configFile, err: err instanceof Error ? (err.stack ?? err.message) : String(err) }, 'config change failed');
    }
  };
}

/**
 * Without `-r`: only the key list follows the config file. A config that does not load keeps the
 * last good list, logged once (`component: "http"`, warn) as the key ring did when it read the file.
 */
function keysReload(d: Built): () => Promise<void> {
  return async () => {
    try {
      d.keys.set((await loadConfig(d.configFile, d.hosts, d.extra)).global.keys);
    } catch (err) {
      d.http.warn({ err: (err as Error).message, keys: d.keys.current().length }, 'cannot read the key list: keeping the last one');
    }
  };
}

/** The reload of `d`: full with `-r` or self-bootstrap, else the key list only. Runs are queued, one at a time. */
export function reloader(d: Built): Reload {
  const run = d.opts.restart || d.boot ? fullReload(d) : keysReload(d);
  let reloading = Promise.resolve();
  return () => {
    reloading = reloading.then(run);
  };
}
