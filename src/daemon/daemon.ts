/**
 * What the daemon's stages hand each other: `load.ts` → {@link Loaded}, `build.ts` → {@link Built},
 * `start.ts` → {@link Running}; `cmd/gitopper.ts` runs them in turn and owns argv, signals and exit
 * codes (docs/daemon.md, "Signals and exit codes"). Also the error a stage throws for a startup problem, and which errors are
 * config problems (reported by their message alone).
 */
import type { Router } from 'express';
import type { Agent } from '../core/agent.js';
import type { BootstrapOptions } from '../core/bootstrap.js';
import type { StoreSweeper } from '../core/store-sweep.js';
import type { ServiceSpec } from '../config/config.js';
import type { LoadedConfig } from '../config/file.js';
import type { KeyList } from '../http/keyring.js';
import type { WebhookSecret } from '../http/webhook/app.js';
import type { Logger } from '../telemetry/log.js';
import type { Metrics } from '../telemetry/metrics.js';
import type { SystemdNotifier } from '../adapters/systemd/notify.js';
import type { CheckoutWatcher } from '../adapters/watch/checkout.js';
import type { Notifier } from '../adapters/notify/notifier.js';
import type { DaemonOptions } from './flags.js';
import type { HostPorts } from './host-ports.js';

/** Stage 1 (`load`): the options, the process's logger and systemd notifier, the real adapters, and the config accepted at start. */
export interface Loaded {
  readonly opts: DaemonOptions;
  readonly log: Logger;
  /** sd_notify(3) to the service manager; its watchdog is already pinging. */
  readonly notifier: SystemdNotifier;
  /** The real hostname (always one of {@link hosts}). */
  readonly hostname: string;
  /** `-h` names and the hostname: the `machine` values whose services are this host's. */
  readonly hosts: readonly string[];
  /** Self-bootstrap (`-U`), or undefined. */
  readonly boot: BootstrapOptions | undefined;
  /** The config file's absolute path (inside the bootstrap checkout with `-U`). */
  readonly configFile: string;
  /** Services added to the config's own: the self-bootstrap service with `-U`. */
  readonly extra: readonly ServiceSpec[];
  readonly ports: HostPorts;
  /** The config accepted at start: this host's services (then {@link extra}), `[global]`, warnings (already logged). */
  readonly config: LoadedConfig;
}

/** Stage 2 (`build`): the agent and everything around it, constructed but not started or listening. */
export interface Built extends Loaded {
  readonly metrics: Metrics;
  readonly agent: Agent;
  /** The API's logger (`component: "http"`). */
  readonly http: Logger;
  /** `[global].keys` of the accepted config, read by the API's key ring. */
  readonly keys: KeyList;
  /** The webhook's secret: `[global].hook_secret_file` of the accepted config, read by `POST /hook`. */
  readonly webhookSecret: WebhookSecret;
  /** The webhook's `POST /hook` router (served before the API's signature check). */
  readonly webhook: Router;
  /** Watches the services' checkouts for local edits (drift). */
  readonly drift: CheckoutWatcher;
  /** Removes object stores no configured service uses. */
  readonly sweeper: StoreSweeper;
  /** Delivers notifications to the `[[notify]]` targets of the accepted config. */
  readonly notify: Notifier;
}

/** Stage 3 (`start`): the running daemon. */
export interface Running {
  /**
   * Stop after `signal`: log `stopping`, tell systemd STOPPING=1 (with `code` 2: the SIGHUP restart
   * text), close the watchers, end child fetches, stop the agent, drain the notifications (5 s at
   * most), close D-Bus and the listeners.
   * The caller exits with `code` after it resolves.
   */
  stop(signal: NodeJS.Signals, code: number): Promise<void>;
}
