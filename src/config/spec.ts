/**
 * The shapes of a validated config (`ConfigSpec`, `GlobalSpec`, `ServiceSpec`, `DirSpec`) and the
 * values some keys take (`action`, `drift`). Types and constants only; `config.ts` makes them.
 */
import type { AutoRollbackMode, HealthSpec, HooksSpec } from './health.js';
import type { KeySpec } from './keys.js';
import type { ConfigWarning } from './error.js';

/**
 * systemd actions the agent can ask for over D-Bus (systemctl's verbs that queue a job, each one Manager
 * method: `src/adapters/systemd/manager.ts` `ACTION_METHODS`); "" means: change files, call nothing.
 */
export const ACTIONS = ['reload', 'restart', 'try-restart', 'reload-or-restart', 'try-reload-or-restart', 'start', 'stop', ''] as const;
/** One of {@link ACTIONS}. */
export type Action = (typeof ACTIONS)[number];

/**
 * systemctl's other names for those verbs, accepted in `action` and stored as the verb they stand for.
 * gitopper ran `systemctl <action> <service>` (server.go `systemctl()`), so any verb systemctl knows
 * worked there; these are the aliases in systemctl's own verb→method table (systemd
 * `src/systemctl/systemctl-start-unit.c`, `unit_actions[]`): `force-reload` (SysV), `reload-or-try-restart`
 * (systemctl ≤ 228), `condreload` and `condstop` (ALTLinux), `condrestart` (Red Hat).
 */
export const ACTION_ALIASES: Readonly<Record<string, Action>> = Object.freeze({
  'force-reload': 'try-reload-or-restart',
  'reload-or-try-restart': 'try-reload-or-restart',
  condreload: 'try-reload-or-restart',
  condrestart: 'try-restart',
  condstop: 'stop',
});

/**
 * The {@link Action} an `action` value names: itself, or what a systemctl alias ({@link ACTION_ALIASES})
 * stands for; undefined for anything else (case-sensitive, as systemctl is).
 */
export function canonicalAction(value: string): Action | undefined {
  if ((ACTIONS as readonly string[]).includes(value)) return value as Action;
  return Object.hasOwn(ACTION_ALIASES, value) ? ACTION_ALIASES[value] : undefined;
}

/** One `dirs` entry: bind-mount `<mount>/<service>/<link>` onto `local`. */
export interface DirSpec {
  /** Absolute path on this host (the bind-mount target). */
  readonly local: string;
  /** Path inside the repository, relative, normalised, never escaping the repo (no `..`). */
  readonly link: string;
  /** True when `link` is a single file (target created as an empty file). */
  readonly file: boolean;
}

/** One `[[services]]` entry after inheritance from `[global]`. */
export interface ServiceSpec {
  /** Zero-based position in the file's `services` array, for messages (`services[2] "grafana-server"`). */
  readonly index: number;
  readonly machine: string;
  /** Service identifier; the systemd unit name (`.service` implied when it has no unit suffix). */
  readonly service: string;
  /** What systemd is asked after a change; an alias in the file (`force-reload`) is stored as its verb. */
  readonly action: Action;
  /** Owner of the checked-out files; "" means the agent's own user. */
  readonly user: string;
  /**
   * OS package installed (as root) at the service's first pass, before `user` is looked up: apt-get on
   * Debian-like hosts, pacman on Arch, never upgraded or removed (`src/adapters/host/packages.ts`; gitopper
   * `ospkg/`); "" installs nothing.
   */
  readonly package: string;
  /**
   * The git repository: an https (or http) URL, an SSH one (`ssh://…`, `user@host:path`) or a local
   * repository (`/abs/path`, `file:///…`); the forms are in docs/upstreams.md.
   */
  readonly upstream: string;
  readonly branch: string;
  /** Absolute directory; the checkout lives at `<mount>/<service>`. */
  readonly mount: string;
  readonly dirs: readonly DirSpec[];
  /** Absolute path of a file holding an https token (read at each fetch), or undefined. */
  readonly tokenFile: string | undefined;
  /** SSH upstreams (ours): absolute path of the private deploy key, or undefined (ssh's default identities). */
  readonly sshKey?: string | undefined;
  /** SSH upstreams (ours): absolute path of the only known_hosts file trusted, or undefined (the system's files). */
  readonly knownHosts?: string | undefined;
  /**
   * Repository paths checked out without a bind mount: the links of `dirs` entries with an empty
   * `local` (gitopper skipped their mount, server.go `bindmount()`), and the self-bootstrap service
   * `gitopper`'s `-D` directory. Absent when there are none.
   */
  readonly links?: readonly string[];
  /**
   * What to do with local edits to deployed files (ours): `report` (default: show them, and refuse
   * an upstream change that would overwrite them) or `revert` (restore the deployed files, run the action).
   */
  readonly drift: DriftMode;
  /** `pre`/`post` programs in the repository run around an apply (ours); absent = none. */
  readonly hooks?: HooksSpec;
  /** Checks after every apply, with automatic rollback on failure (ours); absent = none. */
  readonly health?: HealthSpec;
  /** After an automatic rollback: stay frozen (`freeze`, default) or try again at the next commit. */
  readonly autoRollback?: AutoRollbackMode;
  /** Signature policy for commits (ours; own table, else `[global]`'s); absent = commits are not verified. */
  readonly verify?: VerifySpec;
  /**
   * Anti-rollback (ours; own value, else `[global]`'s): refuse a new tip that does not descend from
   * the deployed commit. Absent = on exactly when `verify` is set (an old signed commit replayed by a
   * force-push is the attack signatures alone let through; comin's rule).
   */
  readonly antiRollback?: boolean;
  /** Fleet rollout: bake time and Prometheus gate (ours; own table, else `[global]`'s); absent = apply at once. */
  readonly rollout?: RolloutSpec;
  /** Deployment windows (ours; own value, else `[global]`'s), each as written; absent = always open. */
  readonly window?: readonly string[];
  /** Absolute path of the age identity file that decrypts `*.age` files under the links (ours); absent = none are decrypted. */
  readonly ageIdentity?: string;
}

/**
 * `verify = { allowed_signers = "…", openpgp_keys = "…" }` (ours; docs/trust-and-rollout.md): a commit
 * is accepted when either file's signers signed it. At least one is set; paths absolute after parsing.
 */
export interface VerifySpec {
  /** git's `gpg.ssh.allowedSignersFile` format (ssh-keygen(1) ALLOWED SIGNERS): SSH-signed commits. */
  readonly allowedSigners?: string;
  /** File of ASCII-armored OpenPGP public keys (one or more): OpenPGP-signed commits. */
  readonly openpgpKeys?: string;
}

/**
 * `rollout = { bake = "15m", gate = { prometheus = "…", query = '…', for = "5m" } }` (ours;
 * docs/trust-and-rollout.md): a new tip waits `bakeSeconds` after this host first saw it, then
 * until `gate` has held for its `forSeconds`.
 */
export interface RolloutSpec {
  /** Seconds a new tip must have been visible upstream before it is applied (0 = at once). */
  readonly bakeSeconds: number;
  /** Absent = no gate (bake only). */
  readonly gate?: GateSpec;
}

/**
 * The Prometheus gate: `query` describes the bad condition, like an alerting rule's expression; the
 * gate holds while it returns no series. `$commit`, `$short`, `$service` and `$machine` in the query
 * are replaced by the candidate commit (full id, first 8 hex), the service and the machine.
 */
export interface GateSpec {
  /** Base URL of the Prometheus server (http or https). */
  readonly prometheus: string;
  readonly query: string;
  /** Seconds the query must have returned nothing before the gate opens (0 = one empty answer). */
  readonly forSeconds: number;
}

/** Values of a service's `drift` key. */
export const DRIFT_MODES = ['report', 'revert'] as const;
/** One of {@link DRIFT_MODES}. */
export type DriftMode = (typeof DRIFT_MODES)[number];

/** `[global]` after defaults. */
export interface GlobalSpec {
  readonly upstream: string;
  readonly branch: string;
  readonly mount: string;
  readonly keys: readonly KeySpec[];
  readonly tokenFile: string | undefined;
  /** Default `ssh_key` of services with SSH upstreams. */
  readonly sshKey?: string | undefined;
  /** Default `known_hosts` of services with SSH upstreams. */
  readonly knownHosts?: string | undefined;
  /** File holding the push-webhook secret (ours; `POST /hook` is refused without it); absolute. */
  readonly hookSecretFile?: string | undefined;
  /** Default `verify` of every service. */
  readonly verify?: VerifySpec;
  /** Default `anti_rollback` of every service. */
  readonly antiRollback?: boolean;
  /** Default `rollout` of every service. */
  readonly rollout?: RolloutSpec;
  /** Default `window` of every service. */
  readonly window?: readonly string[];
  /** Default `age_identity` of every service. */
  readonly ageIdentity?: string;
}

/** The whole validated config. */
export interface ConfigSpec {
  /** The file it was read from (as given), used in every message. */
  readonly file: string;
  readonly global: GlobalSpec;
  readonly services: readonly ServiceSpec[];
  /**
   * What the file says that is accepted but has no effect (a per-service key in `[global]`, a `dirs`
   * entry without `local`), in file order; the caller logs them. Empty when there is nothing to say.
   */
  readonly warnings: readonly ConfigWarning[];
}
