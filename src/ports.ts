/**
 * The small interfaces through which the core (reconcile, tracker, agent) talks to the outside:
 * git, bind mounts, systemd, users, and time. Adapters in `src/adapters/` implement them; tests
 * implement them with fakes. Nothing here does I/O.
 */

/**
 * State shared by every git operation of one pass (one fetch and the reconciles that follow it).
 * `cache` is handed to the git adapter unchanged (isomorphic-git's object cache) and dropped after
 * the pass, so memory stays bounded (RECIPES.md: one cache per pass).
 */
export interface Pass {
  readonly cache: object;
}

/** Where a service's upstream lives: one fetch per distinct value per pass. */
export interface SourceRef {
  /** http(s) URL, SSH (`ssh://user@host[:port]/path`, `user@host:path`) or local (`/path`, `file:///path`) upstream. */
  readonly upstream: string;
  readonly branch: string;
  /** Absolute path of a file holding a token for https, read at every fetch; undefined = anonymous. */
  readonly tokenFile: string | undefined;
  /** SSH upstreams: absolute path of the private (deploy) key; undefined = ssh's default identities. */
  readonly sshKey?: string | undefined;
  /** SSH upstreams: absolute path of the only known_hosts file trusted; undefined = the system's default files. */
  readonly knownHosts?: string | undefined;
}

/** One service's sparse checkout: `dir` = `<mount>/<service>`, holding only `links`. */
export interface CheckoutRef extends SourceRef {
  /** Absolute directory of the checkout (gitopper: `<mount>/<service>`). */
  readonly dir: string;
  /** Repository paths to materialise (the service's `dirs[].link`). */
  readonly links: readonly string[];
}

/** Numeric owner of files created for a service (from its `user`). */
export interface Owner {
  readonly user: string;
  readonly uid: number;
  readonly gid: number;
}

/**
 * Git, as the core needs it. Every method throws on failure (the tracker turns that into DIFF).
 * Implementations serialise work per repository themselves.
 */
export interface GitPort {
  /** Fetch `branch` of `upstream` into the shared object store; returns the tip commit id (40 hex). */
  fetch(source: SourceRef, pass: Pass): Promise<string>;
  /**
   * Make sure the checkout directory is a repository wired to the shared object store of its
   * upstream; creates it when missing. Throws when `dir` holds something that is not ours.
   */
  prepare(checkout: CheckoutRef, owner: Owner | undefined): Promise<void>;
  /**
   * True when the object store of `source.upstream` has `commit` (a commit object, full id), without
   * fetching: a frozen service's pinned commit is deployed from the store before the first fetch,
   * or after it when the store lacks it (an emptied or new `--state-dir`).
   * Throws on read errors other than "not there".
   */
  has(source: SourceRef, commit: string, pass: Pass): Promise<boolean>;
  /** The deployed commit (the checkout's HEAD), or undefined before the first checkout. */
  deployed(checkout: CheckoutRef, pass: Pass): Promise<string | undefined>;
  /**
   * Repository paths under `checkout.links` that differ between commits `from` and `to`, found by
   * comparing tree ids under each link (equal subtrees are never descended).
   */
  changedPaths(checkout: CheckoutRef, from: string, to: string, pass: Pass): Promise<string[]>;
  /** Write the links' files at `commit` into the checkout (sparse, forced) and move HEAD there. */
  checkout(checkout: CheckoutRef, commit: string, owner: Owner | undefined, pass: Pass): Promise<void>;
  /** Move HEAD to `commit` without touching files (a change outside the links). */
  markDeployed(checkout: CheckoutRef, commit: string): Promise<void>;
  /**
   * The full id of the commit whose id starts with `prefix` (4–40 hex) and that is `tip` or one of
   * its ancestors; undefined when no such commit exists or the prefix is ambiguous.
   */
  findInHistory(source: SourceRef, tip: string, prefix: string, pass: Pass): Promise<string | undefined>;
  /**
   * The links of `checkout` that commit `commit` lacks (sorted): a rollback target without them
   * would empty the live directories they are mounted on. Throws when the commit cannot be read.
   */
  missingLinks(checkout: CheckoutRef, commit: string, pass: Pass): Promise<string[]>;
  /**
   * Drift: repository paths under the links whose files in the checkout differ from the deployed
   * commit (modified, deleted, or added and not ignored by a `.gitignore`), sorted. Empty before the
   * first checkout.
   */
  drift(checkout: CheckoutRef, pass: Pass): Promise<string[]>;
  /**
   * The paths among `paths` whose file in the checkout already is `commit`'s version (same content,
   * or absent on both sides), sorted: a local edit that equals what `commit` brings is no clash
   * (a checkout cut short before HEAD moved, or an operator who applied the same change by hand).
   */
  matching(checkout: CheckoutRef, commit: string, paths: readonly string[], pass: Pass): Promise<string[]>;
  /** Put the deployed commit's version of `paths` back (a path the commit lacks is removed). */
  restore(checkout: CheckoutRef, paths: readonly string[], owner: Owner | undefined, pass: Pass): Promise<void>;
}

/** One object store under `<state-dir>/upstreams/` (one per upstream). */
export interface StoreEntry {
  /** Directory name, e.g. `gitopper-config-1a2b3c4d.git`. */
  readonly name: string;
  /** When a fetch last used the store (or, for a store never marked, when its directory last changed). */
  readonly lastUsed: Date;
}

/** The object stores, as the store sweep needs them (`store-sweep.ts`). */
export interface StoresPort {
  /** Every store there is, in any order; empty when there is none. Throws on I/O failures other than a missing directory. */
  list(): Promise<StoreEntry[]>;
  /** The store name of `upstream` (as {@link list} names it). */
  nameOf(upstream: string): string;
  /** True when store `name` has commit `commit` (full id). Throws on read errors other than "not there". */
  contains(name: string, commit: string): Promise<boolean>;
  /** Delete store `name` (after any fetch into it finished). Throws on I/O failure. */
  remove(name: string): Promise<void>;
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

/** Writes paths of a commit into a scratch directory (for `pre` hooks). */
export interface StagePort {
  /**
   * Replace `dest` with the files under `paths` at `commit` (repository layout kept), owned by
   * `owner`. Paths the commit lacks are skipped. Throws on git or I/O failure.
   */
  stage(checkout: CheckoutRef, commit: string, paths: readonly string[], dest: string, owner: Owner | undefined, pass: Pass): Promise<void>;
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

/** What survives a restart for one service (FREEZE/ROLLBACK with reason, who, when; history). */
export interface PersistedService {
  readonly state: string;
  readonly info: string;
  /** ISO 8601. */
  readonly since: string;
  readonly commit: string;
  readonly frozen: { readonly by: string; readonly at: string; readonly reason: string; readonly rollback?: string; readonly auto?: { readonly mode: 'freeze' | 'retry-next-commit'; readonly bad: string } } | undefined;
  /** The last commit that deployed and passed its health check (rollback target); absent = unknown. */
  readonly lastGood?: string;
  readonly history: readonly PersistedHistory[];
}

/** One history row as stored (times as ISO 8601). */
export interface PersistedHistory {
  readonly commit: string;
  readonly time: string;
  readonly trigger: string;
  readonly state: string;
  readonly info: string;
  readonly seconds: number;
  readonly by?: string;
}

/** The whole state file's content. */
export interface PersistedState {
  readonly version: 1;
  readonly services: Readonly<Record<string, PersistedService>>;
}

/** Durable state (the state file under `--state-dir`). */
export interface StateStore {
  /**
   * The saved state, or undefined when there is none. A corrupt or unreadable file is reported
   * through the adapter's notice channel, kept aside, and undefined is returned (never silently reset).
   */
  load(): Promise<PersistedState | undefined>;
  /** Replace the saved state atomically (temp file, fsync, rename). Throws on I/O failure. */
  save(state: PersistedState): Promise<void>;
}
