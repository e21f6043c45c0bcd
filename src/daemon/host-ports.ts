/**
 * The real adapters behind the core's ports (src/ports/) for this host: isomorphic-git object
 * stores under the state dir, bind mounts, systemd over D-Bus (system bus, or with `--user` the
 * session bus of `$DBUS_SESSION_BUS_ADDRESS`), getent users, packages, commands, staged hook
 * copies under `<state-dir>/stage`, the fetch probe, the system clock, the rollout gate and commit signatures.
 */
import path from 'node:path';
import dbus from 'dbus-next';
import type { Clock } from '../ports/host.js';
import { systemClock } from '../adapters/host/clock.js';
import { SpawnCommands } from '../adapters/host/commands.js';
import { SystemPackages } from '../adapters/host/packages.js';
import { FetchProbe } from '../adapters/host/probe.js';
import { GetentUsers } from '../adapters/host/users.js';
import { IsoGit } from '../adapters/git/iso-git.js';
import { IsoStage } from '../adapters/git/stage.js';
import { BindMounter } from '../adapters/mount/bind.js';
import { SystemdManager } from '../adapters/systemd/manager.js';
import { PrometheusGate } from '../adapters/prometheus/gate.js';
import { CommitSignatures } from '../adapters/verify/signatures.js';
import type { Logger } from '../telemetry/log.js';
import type { DaemonOptions } from './flags.js';
import { StartupError } from './startup-error.js';

/** The adapters the agent and the bootstrap use; `git.close()` and `units.close()` are the daemon's to call at stop. */
export interface HostPorts {
  readonly git: IsoGit;
  readonly mounts: BindMounter;
  readonly units: SystemdManager;
  readonly users: GetentUsers;
  readonly clock: Clock;
  readonly packages: SystemPackages;
  readonly commands: SpawnCommands;
  readonly stage: IsoStage;
  /** `<state-dir>/stage`: where hooks' staged copies go. */
  readonly scratchDir: string;
  readonly probe: FetchProbe;
  /** The rollout gate's Prometheus client. */
  readonly gate: PrometheusGate;
  /** Commit signatures (`verify`), read from the git adapter's object stores. */
  readonly signatures: CommitSignatures;
}

/**
 * The adapters for `opts`; git notices go to `log` with `component: "git"`. Nothing connects yet
 * (D-Bus on first use). Throws StartupError for `--user` without `busAddress`.
 */
export function hostPorts(opts: DaemonOptions, busAddress: string | undefined, log: Logger): HostPorts {
  if (opts.user && !busAddress) throw new StartupError("--user needs DBUS_SESSION_BUS_ADDRESS (the user manager's bus)");
  const units = new SystemdManager(() => (opts.user ? dbus.sessionBus({ busAddress }) : dbus.systemBus()));
  const notice = log.child({ component: 'git' });
  const git = new IsoGit(opts.stateDir, (msg, data, level) => notice[level](data, msg), { fetchInChild: true, idleTimeoutMs: opts.fetchTimeoutSeconds * 1000 });
  return {
    git,
    mounts: new BindMounter(),
    units,
    users: new GetentUsers(),
    clock: systemClock,
    packages: new SystemPackages(),
    commands: new SpawnCommands(),
    stage: new IsoStage(git),
    scratchDir: path.join(opts.stateDir, 'stage'),
    probe: new FetchProbe(),
    gate: new PrometheusGate(),
    signatures: new CommitSignatures((upstream) => git.storeOf(upstream)),
  };
}
