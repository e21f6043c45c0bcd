/**
 * Stage 2 of the daemon: constructs what runs, from the loaded config, without starting it: the
 * metrics, the state file and the agent over the real adapters with its observer (logs and
 * metrics of every event, and notifications to the `[[notify]]` targets), the key list and webhook
 * secret of the accepted config, the `POST /hook` router, the checkout (drift) watcher and the object-store sweeper.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { Agent } from '../core/agent.js';
import { StoreSweeper } from '../core/store-sweep.js';
import { KeyList } from '../http/keyring.js';
import { webhookRouter, WebhookSecret } from '../http/webhook/app.js';
import { Metrics } from '../telemetry/metrics.js';
import { observer } from '../telemetry/observer.js';
import { StoreDirectory } from '../adapters/git/stores.js';
import { systemClock } from '../adapters/host/clock.js';
import { FileStateStore } from '../adapters/state/state-file.js';
import { CheckoutWatcher } from '../adapters/watch/checkout.js';
import type { Built, Loaded } from './daemon.js';
import { StartupError } from './startup-error.js';
import { makeNotifier, notifyingEvents } from './notify.js';

/** package.json's `version` (the `gitopper_build_info` label and `gitopper --version`), read beside `dist/`. */
export function version(): string {
  return (JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string }).version;
}

/**
 * Build the daemon of `loaded` (whose config has services for this host). Reads the state file
 * (`<state-dir>/state.json`); throws StartupError `cannot read state file: …` when that fails.
 */
export async function build(loaded: Loaded): Promise<Built> {
  const { opts, log, ports, config } = loaded;
  const metrics = new Metrics({ version: version() });
  metrics.configLoaded(true, new Date());
  const store = new FileStateStore(path.join(opts.stateDir, 'state.json'), (msg, data) => log.warn(data, msg), { onWrite: (ok) => metrics.stateWritten(ok) });
  const saved = await store.load().catch((err: Error) => {
    throw new StartupError(`cannot read state file: ${err.message}`);
  });
  const notify = makeNotifier(config.notify, metrics, log);
  let built: Agent | undefined;
  const agent = new Agent(config.services, {
    ...ports,
    random: Math.random,
    intervalSeconds: opts.durationSeconds,
    verifyEveryPolls: opts.verifyEvery,
    events: notifyingEvents(observer(log, metrics), notify, loaded.hostname, () => built),
    hostname: loaded.hostname,
    store,
    saved,
    onSaveError: (err) => log.error({ err: (err as Error).message }, 'cannot save the state file'),
    onUnmount: (service, target, result) => log.info({ service, target, result: result instanceof Error ? result.message : result }, 'mount removed (no longer configured)'),
  });
  built = agent;
  metrics.syncServices(agent.services());

  const http = log.child({ component: 'http' });
  const keys = new KeyList(config.global.keys);
  const webhookSecret = new WebhookSecret(config.global.hookSecretFile);
  const webhook = webhookRouter({
    pullPushed: (urls, branch) => agent.pullPushed(urls, branch),
    secret: () => webhookSecret.read(),
    log: (e) => (e.status === 202 ? http.info(e, 'webhook') : http.warn(e, 'webhook refused')),
  });

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
  const notice = log.child({ component: 'git' });
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
  return { ...loaded, metrics, agent, http, keys, webhookSecret, webhook, drift, sweeper, notify };
}
