/**
 * The service-manager notification protocol (sd_notify(3)) without a native module.
 *
 * Node has no unix datagram sockets, so each message is handed to `systemd-notify(1)` (package
 * systemd, present wherever the unit runs) as a child process with `KEY=VALUE` arguments. Two facts of
 * systemd-notify make this reliable when the daemon runs as root (gitopper must, for bind mounts):
 *  - it sends with the credentials (SCM_CREDENTIALS) of its **parent**, i.e. of this daemon, the
 *    unit's main process: systemd attributes the message to the main PID, which is alive, so the unit
 *    can keep the default `NotifyAccess=main` and the "sender already exited" race of systemd-notify(1)
 *    does not apply (faking the PID needs CAP_SYS_ADMIN; without it systemd-notify falls back to its
 *    own PID, which `NotifyAccess=all` would accept);
 *  - without `--no-block` it waits (BARRIER=1, sd_notify_barrier(3)) until the manager has processed
 *    the message, so when a send resolves, systemd has seen it.
 * Measured in the systemd user-manager sandbox (systemd 252): `systemctl start` of a `Type=notify`
 * unit returned after READY=1 in 300 of 300 starts (`NotifyAccess=main`: 100 idle, 100 under full
 * CPU load; `=all`: 100), where `systemd-notify --pid=self --no-block` lost 3 of 100 idle and 49 of
 * 100 under load (docs/install.md, "Readiness").
 *
 * Only `cmd/` reads the environment: it passes `process.env` to {@link SystemdNotifier.fromEnv}.
 * Without `$NOTIFY_SOCKET` (not started by systemd, or `Type=` is not `notify`) every call is a no-op.
 */
import { execFile } from 'node:child_process';
import { GitopperError } from '../../errors/gitopper-error.js';

/** The variables of sd_notify(3) this adapter reads: `NOTIFY_SOCKET`, `WATCHDOG_USEC`, `WATCHDOG_PID`. */
export type NotifyEnv = Readonly<Record<string, string | undefined>>;

/** What a failed send carries in {@link NotifyError.data}. */
export interface NotifyErrorData {
  /** The program run, e.g. `systemd-notify`. */
  readonly command: string;
  /** The `KEY=VALUE` assignments it was asked to send. */
  readonly fields: readonly string[];
  /** Its exit code, when it exited. */
  readonly exitCode?: number;
  /** The signal that ended it (e.g. `SIGTERM` after {@link NotifierOptions.timeoutMs}), when one did. */
  readonly signal?: string;
  /** Why it could not run (`ENOENT`: systemd-notify is not installed), when it could not. */
  readonly errno?: string;
  /** Its stderr, trimmed (systemd-notify explains its failures there). */
  readonly stderr: string;
}

/**
 * A message could not be handed to the service manager: systemd-notify is missing, exited non-zero
 * (e.g. `Failed to notify init system: Connection refused`), or hung past the timeout. Stable
 * `code` `NOTIFY_FAILED`; `data` says which and how ({@link NotifyErrorData}).
 */
export class NotifyError extends GitopperError<NotifyErrorData> {
  readonly code = 'NOTIFY_FAILED' as const;
  constructor(
    message: string,
    override readonly data: NotifyErrorData,
  ) {
    super(message);
    this.name = 'NotifyError';
  }
}

/** Options of {@link SystemdNotifier.fromEnv}. */
export interface NotifierOptions {
  /** This process's PID, compared with `$WATCHDOG_PID` (sd_watchdog_enabled(3)). Default `process.pid`. */
  readonly pid?: number;
  /** The program that sends one message. Default `systemd-notify` (looked up in `$PATH`). */
  readonly command?: string;
  /** A send still running after this many ms is killed and reported. Default 10 000 (systemd-notify's own barrier waits up to 5 s). */
  readonly timeoutMs?: number;
  /** Receives every failed send; the notifier's methods never reject. Default: ignore. */
  readonly onError?: (err: NotifyError) => void;
}

/** A watchdog started by {@link SystemdNotifier.startWatchdog}; `stop()` ends the pings (idempotent). */
export interface WatchdogHandle {
  stop(): void;
}

const KEY = /^[A-Z][A-Z0-9_]*$/;

/** One line for `STATUS=`: newlines and other control characters become spaces (a field is one line). */
function oneLine(text: string): string {
  // eslint-disable-next-line no-control-regex
  return text.replace(/[\u0000-\u001f\u007f]+/g, ' ').trim();
}

/**
 * Tells the service manager about this daemon's state, following sd_notify(3): `READY=1` once it
 * is up, `STATUS=` free text (shown by `systemctl status`), `STOPPING=1` when it begins to stop,
 * `WATCHDOG=1` keep-alive pings when the unit sets `WatchdogSec=`. Messages are sent one at a time,
 * in call order. Every method resolves (true: systemd has the message; false: notifications are
 * disabled or the send failed, and {@link NotifierOptions.onError} got a {@link NotifyError}).
 */
export class SystemdNotifier {
  /** `$NOTIFY_SOCKET` (a path, or `@abstract`), or undefined when notifications are disabled. */
  readonly socket: string | undefined;
  /** Watchdog timeout in ms from `$WATCHDOG_USEC`, when it is meant for this process; else undefined. */
  readonly watchdogMs: number | undefined;
  private readonly env: NotifyEnv;
  private readonly command: string;
  private readonly timeoutMs: number;
  private readonly onError: (err: NotifyError) => void;
  private queue: Promise<unknown> = Promise.resolve();
  private readonly dogs = new Set<WatchdogHandle>();

  private constructor(env: NotifyEnv, opts: NotifierOptions) {
    this.env = { ...env };
    this.socket = env.NOTIFY_SOCKET ? env.NOTIFY_SOCKET : undefined;
    this.command = opts.command ?? 'systemd-notify';
    this.timeoutMs = opts.timeoutMs ?? 10_000;
    this.onError = opts.onError ?? (() => undefined);
    this.watchdogMs = this.socket ? watchdogMs(env, opts.pid ?? process.pid) : undefined;
  }

  /**
   * A notifier for the environment systemd gave this process (cmd/ passes `process.env`). Reads
   * `NOTIFY_SOCKET`, `WATCHDOG_USEC` and `WATCHDOG_PID` once, and runs systemd-notify with a copy
   * of `env` (its `PATH` finds the program); never throws. Whether the variables
   * should be removed from the environment of child processes (sd_notify's `unset_environment`) is
   * the caller's choice; gitopper leaves them (its children do not speak the protocol).
   */
  static fromEnv(env: NotifyEnv, opts: NotifierOptions = {}): SystemdNotifier {
    return new SystemdNotifier(env, opts);
  }

  /** Whether messages are sent at all (`$NOTIFY_SOCKET` is set). */
  get enabled(): boolean {
    return this.socket !== undefined;
  }

  /**
   * Sends one message made of `fields` (sd_notify(3) assignments, e.g. `{ READY: '1', STATUS: 'up' }`),
   * after every message sent before it. Resolves true once the manager has processed it, false when
   * disabled or failed (reported to `onError`). Throws a TypeError at once for a key that is not
   * upper-case `A-Z0-9_` or a value with a newline (a programming error, not a runtime failure).
   */
  notify(fields: Readonly<Record<string, string>>): Promise<boolean> {
    const args = Object.entries(fields).map(([k, v]) => {
      if (!KEY.test(k)) throw new TypeError(`sd_notify field name must match ${KEY}: ${JSON.stringify(k)}`);
      if (/[\n\0]/.test(v)) throw new TypeError(`sd_notify field ${k} must be one line without NUL`);
      return `${k}=${v}`;
    });
    if (args.length === 0) throw new TypeError('sd_notify needs at least one field');
    if (!this.enabled) return Promise.resolve(false);
    const sent = this.queue.then(() => this.send(args));
    this.queue = sent;
    return sent;
  }

  /** `READY=1` (start-up finished: systemd's start job completes now), with `STATUS=` when given. */
  ready(status?: string): Promise<boolean> {
    return this.notify(status === undefined ? { READY: '1' } : { READY: '1', STATUS: oneLine(status) });
  }

  /** `STATUS=<text>`: one line shown by `systemctl status` (control characters become spaces). */
  status(text: string): Promise<boolean> {
    return this.notify({ STATUS: oneLine(text) });
  }

  /** `STOPPING=1` (the daemon is shutting down: the unit becomes "deactivating"), with `STATUS=` when given. */
  stopping(status?: string): Promise<boolean> {
    return this.notify(status === undefined ? { STOPPING: '1' } : { STOPPING: '1', STATUS: oneLine(status) });
  }

  /** One `WATCHDOG=1` keep-alive ping (sd_watchdog_enabled(3)); false when no watchdog is set for this process. */
  watchdog(): Promise<boolean> {
    if (this.watchdogMs === undefined) return Promise.resolve(false);
    return this.notify({ WATCHDOG: '1' });
  }

  /**
   * Pings `WATCHDOG=1` now and then every half of `watchdogMs` (sd_watchdog_enabled(3)'s advice),
   * on an unref'd timer, until `stop()` or {@link close}. A no-op handle when no watchdog is set.
   * A ping proves the event loop runs; a blocked loop misses pings and systemd kills and (with
   * `Restart=on-failure`) restarts the daemon.
   */
  startWatchdog(): WatchdogHandle {
    if (this.watchdogMs === undefined) return { stop: () => undefined };
    void this.watchdog();
    const timer = setInterval(() => void this.watchdog(), Math.max(1, Math.floor(this.watchdogMs / 2)));
    timer.unref();
    const handle: WatchdogHandle = {
      stop: () => {
        clearInterval(timer);
        this.dogs.delete(handle);
      },
    };
    this.dogs.add(handle);
    return handle;
  }

  /** Stops every watchdog and resolves when the messages already queued have been sent. */
  async close(): Promise<void> {
    for (const dog of [...this.dogs]) dog.stop();
    await this.queue;
  }

  private send(args: string[]): Promise<boolean> {
    return new Promise((resolve) => {
      // No --pid and no --no-block: sent with this process's PID when privileged, and synchronous (see the header).
      execFile(
        this.command,
        ['--', ...args],
        { env: this.env, timeout: this.timeoutMs, encoding: 'utf8' },
        (err, _stdout, stderr) => {
          if (!err) return resolve(true);
          const e = err as NodeJS.ErrnoException & { code?: number | string; signal?: NodeJS.Signals | null; killed?: boolean };
          const data: NotifyErrorData = {
            command: this.command,
            fields: args,
            stderr: String(stderr ?? '').trim(),
            ...(typeof e.code === 'number' ? { exitCode: e.code } : {}),
            ...(typeof e.code === 'string' ? { errno: e.code } : {}),
            ...(e.signal ? { signal: e.signal } : {}),
          };
          const why = data.errno
            ? `cannot run ${this.command} (${data.errno})`
            : data.signal
              ? `${this.command} was killed with ${data.signal}${e.killed ? ` after ${this.timeoutMs} ms` : ''}`
              : `${this.command} exited ${data.exitCode}${data.stderr ? `: ${data.stderr}` : ''}`;
          this.onError(new NotifyError(`sd_notify ${args.join(' ')} failed: ${why}`, data));
          resolve(false);
        },
      );
    });
  }
}

/** sd_watchdog_enabled(3): `$WATCHDOG_USEC` in ms, if set, positive, and `$WATCHDOG_PID` is unset or `pid`. */
function watchdogMs(env: NotifyEnv, pid: number): number | undefined {
  const usec = env.WATCHDOG_USEC;
  if (!usec || !/^\d+$/.test(usec) || Number(usec) <= 0) return undefined;
  const owner = env.WATCHDOG_PID;
  if (owner !== undefined && owner !== '' && Number(owner) !== pid) return undefined;
  return Math.max(1, Math.floor(Number(usec) / 1000));
}

/**
 * A one-line `STATUS=` summary of service states, counted in first-seen order:
 * `["OK","OK","BROKEN"]` → `3 services: 2 OK, 1 BROKEN`; no states → `no services`.
 */
export function summarizeStates(states: Iterable<string>): string {
  const counts = new Map<string, number>();
  for (const s of states) counts.set(s, (counts.get(s) ?? 0) + 1);
  const total = [...counts.values()].reduce((a, b) => a + b, 0);
  if (total === 0) return 'no services';
  return `${total} service${total === 1 ? '' : 's'}: ${[...counts].map(([state, n]) => `${n} ${state}`).join(', ')}`;
}
