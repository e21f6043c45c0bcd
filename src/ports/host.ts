/**
 * The host, as the core needs it: bind mounts, systemd, programs, HTTP probes, OS packages, users
 * and time (ports: adapters in `src/adapters/{mount,systemd,host}/` implement them; tests implement
 * them with fakes). Nothing here does I/O.
 */

/** Numeric owner of files created for a service (from its `user`). */
export interface Owner {
  readonly user: string;
  readonly uid: number;
  readonly gid: number;
}

/** Result of {@link MountPort.ensure}: a mount was made now, or the right one was already there. */
export type MountResult = 'mounted' | 'present';

/** Bind mounts. Throws on failure (the tracker turns that into BROKEN). */
export interface MountPort {
  /**
   * Make `target` a bind mount of `source`: create `target` (directory, or empty file when `file`)
   * owned by `owner` if missing; re-make a mount of ours whose source inode was replaced; throw if
   * `target` is mounted from somewhere else.
   */
  ensure(source: string, target: string, opts: { file: boolean; owner: Owner | undefined }): Promise<MountResult>;
  /**
   * Undo {@link ensure}: unmount `target` when (and only when) it is a bind mount of `source`.
   * Returns `unmounted`, `absent` (nothing mounted there) or `foreign` (mounted from elsewhere:
   * left alone). The target file or directory itself is kept.
   */
  remove(source: string, target: string): Promise<'unmounted' | 'absent' | 'foreign'>;
  /**
   * Optional: run `fn` (a pass over many services) with the mount table read at most about once
   * for the {@link ensure} and {@link remove} calls made meanwhile, instead of once per call. The
   * first call inside reads afresh, so a mount made or removed by someone else is seen by the next
   * pass; our own mounts and unmounts are always seen. Returns or throws what `fn` does.
   */
  shared?<T>(fn: () => Promise<T>): Promise<T>;
}

/** Outcome of a systemd job (`JobRemoved` result: done, failed, timeout, canceled, dependency, skipped). */
export interface JobOutcome {
  readonly result: string;
  /** The unit's `ActiveState` and `Result` after the job, for the state info. */
  readonly activeState: string;
  readonly unitResult: string;
}

/** systemd's manager, as the core needs it. Methods throw on D-Bus errors (keeping the error name). */
export interface UnitPort {
  /** `daemon-reload`. */
  daemonReload(): Promise<void>;
  /** Run `action` (a config `action`: reload, restart, …, start, stop) on `unit` and wait for the job. */
  run(unit: string, action: string): Promise<JobOutcome>;
  /** True when the unit's ActiveState is `active`, `reloading` or `activating`. */
  isActive(unit: string): Promise<boolean>;
  /** Enable a unit file (for template instances `name@inst`), then daemon-reload. */
  enable(unit: string): Promise<void>;
  /** The unit's `ActiveState`, `SubState` and (for services) `NRestarts` (0 for other units). */
  status(unit: string): Promise<{ activeState: string; subState: string; nRestarts: number }>;
}

/** Result of {@link CommandPort.run}. */
export interface CommandResult {
  /** Exit code, or null when killed by a signal. */
  readonly code: number | null;
  readonly signal: string | null;
  /** True when it was killed for running past its timeout. */
  readonly timedOut: boolean;
  /** Combined stdout and stderr, at most the last 64 KiB. */
  readonly output: string;
  /** Wall time in seconds. */
  readonly seconds: number;
}

/** Runs programs (hooks, health commands) without a shell. */
export interface CommandPort {
  /**
   * Run `argv[0]` with `argv.slice(1)` in `cwd`, as `owner` (uid/gid) when given, with exactly
   * `env` (plus PATH), killed (SIGTERM, then SIGKILL) after `timeoutSeconds`. Never throws for a
   * non-zero exit; throws when the program cannot be started.
   */
  run(argv: readonly string[], opts: { cwd: string; owner: Owner | undefined; env: Readonly<Record<string, string>>; timeoutSeconds: number }): Promise<CommandResult>;
}

/** HTTP GET for health checks. */
export interface ProbePort {
  /** The response status of `GET url` within `timeoutSeconds`; throws on a network error or timeout. */
  get(url: string, timeoutSeconds: number): Promise<number>;
}

/** OS packages (gitopper's `package` key). */
export interface PackagePort {
  /** Install `name` unless it is installed; never upgrades or removes. Throws with the package manager's reason. */
  ensure(name: string): Promise<'installed' | 'present'>;
}

/** Looks up local users (NSS). */
export interface UserPort {
  /** The user's uid/gid, or undefined when no such user exists on this host. */
  lookup(name: string): Promise<Owner | undefined>;
}

/** Time, injectable for tests. */
export interface Clock {
  /** Current time. */
  now(): Date;
  /** Resolve after `ms` milliseconds, or reject with the signal's reason when it aborts. */
  sleep(ms: number, signal: AbortSignal): Promise<void>;
}
