/**
 * UnitPort over D-Bus with dbus-next: systemd's `org.freedesktop.systemd1.Manager` on the system
 * bus (or a user manager's session bus with `--user`).
 *
 * Safety rules (for dbus-next 0.10.2): one `Subscribe()` and one `JobRemoved` listener per
 * connection; every call has a timeout; `'error'` on the bus is handled and the connection is
 * re-made on the next call; D-Bus error names are kept in the error (e.g.
 * `org.freedesktop.systemd1.NoSuchUnit`). Job results: systemd.job(5) / `JobRemoved`.
 */
import dbus from 'dbus-next';
import type { JobOutcome, UnitPort } from '../../ports/host.js';
import { GitopperError } from '../../errors/gitopper-error.js';

const SYSTEMD = 'org.freedesktop.systemd1';
const MANAGER_PATH = '/org/freedesktop/systemd1';
const MANAGER_IFACE = 'org.freedesktop.systemd1.Manager';

/**
 * Manager method per config `action` (systemctl's verbs → D-Bus methods, org.freedesktop.systemd1(5)),
 * with systemctl's aliases mapped as systemctl maps them (systemd `src/systemctl/systemctl-start-unit.c`,
 * `unit_actions[]`): `force-reload`, `reload-or-try-restart` and `condreload` → ReloadOrTryRestartUnit,
 * `condrestart` → TryRestartUnit, `condstop` → StopUnit. The config stores an alias as the verb it
 * stands for (`src/config/config.ts` `ACTION_ALIASES`), so the aliases here are for callers that pass one as written.
 */
export const ACTION_METHODS: Readonly<Record<string, string>> = Object.freeze({
  reload: 'ReloadUnit',
  restart: 'RestartUnit',
  'try-restart': 'TryRestartUnit',
  'reload-or-restart': 'ReloadOrRestartUnit',
  'try-reload-or-restart': 'ReloadOrTryRestartUnit',
  start: 'StartUnit',
  stop: 'StopUnit',
  'force-reload': 'ReloadOrTryRestartUnit',
  'reload-or-try-restart': 'ReloadOrTryRestartUnit',
  condreload: 'ReloadOrTryRestartUnit',
  condrestart: 'TryRestartUnit',
  condstop: 'StopUnit',
});

/** Thrown when a D-Bus call or a job does not answer in time. */
export class SystemdTimeoutError extends GitopperError<{ what: string; seconds: number }> {
  readonly code = 'SYSTEMD_TIMEOUT';
  constructor(override readonly data: { what: string; seconds: number }) {
    super(`${data.what}: no answer from systemd within ${data.seconds}s`);
  }
}

/** Options for {@link SystemdManager}. */
export interface SystemdOptions {
  /** Timeout of one D-Bus method call, in seconds (default 15). */
  readonly callTimeoutSeconds?: number;
  /** How long to wait for a job's `JobRemoved`, in seconds (default 300). */
  readonly jobTimeoutSeconds?: number;
}

interface Connection {
  readonly bus: dbus.MessageBus;
  readonly manager: dbus.ClientInterface;
  readonly waiting: Map<string, (result: string) => void>;
  /** Results that arrived before the method reply that named their job. */
  readonly early: Map<string, string>;
}

/** systemd's manager over D-Bus. */
export class SystemdManager implements UnitPort {
  private conn: Promise<Connection> | undefined;
  private readonly callTimeout: number;
  private readonly jobTimeout: number;

  /**
   * @param connect makes a new bus connection: `() => dbus.systemBus()` in production,
   *   `() => dbus.sessionBus({ busAddress })` for a user manager
   */
  constructor(private readonly connect: () => dbus.MessageBus, opts: SystemdOptions = {}) {
    this.callTimeout = opts.callTimeoutSeconds ?? 15;
    this.jobTimeout = opts.jobTimeoutSeconds ?? 300;
  }

  /**
   * `daemon-reload`. A busy manager may take longer than the call timeout and still reload: a call
   * that timed out is followed up, once, by a second `Reload` on a fresh connection (a second
   * daemon-reload is harmless; its answer means systemd has reloaded), before it counts as failed.
   * @throws SystemdTimeoutError when both calls time out; the D-Bus error otherwise
   */
  async daemonReload(): Promise<void> {
    try {
      await this.call('Reload');
    } catch (err) {
      if (!(err instanceof SystemdTimeoutError)) throw err;
      this.close(); // a connection whose reply never came may be stale: ask on a new one
      await this.call('Reload');
    }
  }

  async run(unit: string, action: string): Promise<JobOutcome> {
    const method = Object.hasOwn(ACTION_METHODS, action) ? ACTION_METHODS[action] : undefined;
    if (!method) throw new Error(`unknown action "${action}"`);
    const c = await this.connection();
    const job = (await this.call(method, unit, 'replace')) as string;
    const result = await this.waitJob(c, job, `${method} ${unit}`);
    const activeState = await this.property(unit, 'org.freedesktop.systemd1.Unit', 'ActiveState').catch(() => 'unknown');
    const unitResult = unit.endsWith('.service') ? await this.property(unit, 'org.freedesktop.systemd1.Service', 'Result').catch(() => 'unknown') : '';
    return { result, activeState: String(activeState), unitResult: String(unitResult) };
  }

  async isActive(unit: string): Promise<boolean> {
    const state = String(await this.property(unit, 'org.freedesktop.systemd1.Unit', 'ActiveState'));
    return state === 'active' || state === 'reloading' || state === 'activating';
  }

  async status(unit: string): Promise<{ activeState: string; subState: string; nRestarts: number }> {
    const [activeState, subState, nRestarts] = await Promise.all([
      this.property(unit, 'org.freedesktop.systemd1.Unit', 'ActiveState'),
      this.property(unit, 'org.freedesktop.systemd1.Unit', 'SubState'),
      unit.endsWith('.service') ? this.property(unit, 'org.freedesktop.systemd1.Service', 'NRestarts') : Promise.resolve(0),
    ]);
    return { activeState: String(activeState), subState: String(subState), nRestarts: Number(nRestarts ?? 0) };
  }

  async enable(unit: string): Promise<void> {
    await this.call('EnableUnitFiles', [unit], false, true);
    await this.call('Reload');
  }

  /** Close the bus connection (pending waits fail). */
  close(): void {
    const c = this.conn;
    this.conn = undefined;
    void c?.then((x) => x.bus.disconnect(), () => undefined);
  }

  private connection(): Promise<Connection> {
    if (!this.conn) {
      const p: Promise<Connection> = this.open(() => {
        if (this.conn === p) this.conn = undefined;
      });
      this.conn = p;
      p.catch(() => {
        if (this.conn === p) this.conn = undefined;
      });
    }
    return this.conn;
  }

  /** Connect, subscribe once, listen to JobRemoved once. `onDead` forgets this connection. */
  private async open(onDead: () => void): Promise<Connection> {
    const bus = this.connect();
    const waiting = new Map<string, (result: string) => void>();
    const early = new Map<string, string>();
    // a connection that fails (no socket, refused, auth) says why at once, not after the call timeout
    let failConnect: (err: Error) => void = () => {};
    const broken = new Promise<never>((_, reject) => (failConnect = reject));
    broken.catch(() => undefined);
    bus.on('error', (err: unknown) => {
      failConnect(new Error(`D-Bus connection to systemd failed: ${err instanceof Error ? err.message : String(err)}`));
      onDead();
      for (const [job, settle] of waiting) {
        waiting.delete(job);
        settle(`bus-error: ${err instanceof Error ? err.message : String(err)}`);
      }
      bus.disconnect();
    });
    let manager: dbus.ClientInterface;
    try {
      const obj = await timeout(Promise.race([bus.getProxyObject(SYSTEMD, MANAGER_PATH), broken]), this.callTimeout, 'connecting to systemd');
      manager = obj.getInterface(MANAGER_IFACE);
      await timeout(Promise.race([manager.Subscribe() as Promise<void>, broken]), this.callTimeout, 'Subscribe');
    } catch (err) {
      bus.disconnect();
      throw err;
    }
    manager.on('JobRemoved', (_id: number, job: string, _unit: string, result: string) => {
      const settle = waiting.get(job);
      if (settle) {
        waiting.delete(job);
        settle(result);
      } else {
        early.set(job, result);
        if (early.size > 1000) early.delete(early.keys().next().value!);
      }
    });
    return { bus, manager, waiting, early };
  }

  private async call(method: string, ...args: unknown[]): Promise<unknown> {
    const c = await this.connection();
    const fn = c.manager[method];
    if (!fn) throw new Error(`systemd manager has no method ${method}`);
    return timeout(fn.apply(c.manager, args) as Promise<unknown>, this.callTimeout, method);
  }

  private waitJob(c: Connection, job: string, what: string): Promise<string> {
    const known = c.early.get(job);
    if (known !== undefined) {
      c.early.delete(job);
      return Promise.resolve(known);
    }
    return timeout(
      new Promise<string>((resolve) => c.waiting.set(job, resolve)),
      this.jobTimeout,
      `waiting for job ${what}`,
    ).finally(() => c.waiting.delete(job));
  }

  private async property(unit: string, iface: string, name: string): Promise<unknown> {
    const c = await this.connection();
    const path = (await this.call('LoadUnit', unit)) as string;
    const reply = await timeout(
      c.bus.call(new dbus.Message({ destination: SYSTEMD, path, interface: 'org.freedesktop.DBus.Properties', member: 'Get', signature: 'ss', body: [iface, name] })),
      this.callTimeout,
      `Get ${name}`,
    );
    const v = reply?.body[0] as dbus.Variant | undefined;
    return v?.value;
  }
}

function timeout<T>(p: Promise<T>, seconds: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout;
  const t = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new SystemdTimeoutError({ what, seconds })), seconds * 1000);
  });
  return Promise.race([p, t]).finally(() => clearTimeout(timer));
}
