/**
 * Test rig: a real systemd *user* manager with its own D-Bus session bus, without systemd as PID 1
 * (`systemd --user` with `dbus.service` started through it). It serves the same `org.freedesktop.systemd1.Manager` API
 * as the system instance, so adapters can be tested against real reloads.
 *
 * Requires root inside a private mount namespace: `test/run.mjs` runs the tests under
 * `unshare -m --propagation private` and sets `GITOPPER_TEST_NS=1`. The rig then mounts, inside that
 * namespace only:
 *  - a tmpfs on `/run/systemd` holding `system/` (systemd's "booted with systemd" check), and
 *  - the cgroup2 hierarchy on `/sys/fs/cgroup`.
 * Each manager runs in its own cgroup2 child cgroup `gitopper-rig.<pid>.<n>` below the test process's
 * cgroup, so managers never share unit cgroups (two managers at the cgroup root would kill each
 * other's services and would move the host's processes into an `init.scope`), v1 controllers are never
 * touched, and `stop()` can kill everything the manager started with `cgroup.kill`.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, promises as fs, readFileSync, readlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

/** The systemd binary started as `--user` manager. */
export const SYSTEMD = '/lib/systemd/systemd';
/** The user unit that runs the session bus (package `dbus-user-session`). */
const USER_DBUS_UNIT = '/usr/lib/systemd/user/dbus.service';
const CGROUP2_SUPER_MAGIC = 0x63677270;
const CGROUP_PREFIX = 'gitopper-rig.';

/** Whether this process can start user managers, and if not, why (for `t.skip(why)`). */
export function canRunSandbox(): { ok: boolean; why: string } {
  const no = (why: string) => ({ ok: false, why: `systemd sandbox unavailable: ${why}` });
  if (process.platform !== 'linux') return no(`platform is ${process.platform}`);
  if (process.getuid?.() !== 0) return no('not running as root');
  if (process.env.GITOPPER_TEST_NS !== '1') {
    return no('GITOPPER_TEST_NS is not 1 (run the tests through `node test/run.mjs`, which makes a private mount namespace)');
  }
  if (!inPrivateMountNamespace()) return no('GITOPPER_TEST_NS=1 but this process is not provably in a private mount namespace');
  if (!existsSync(SYSTEMD)) return no(`${SYSTEMD} is missing (install package systemd)`);
  if (!existsSync(USER_DBUS_UNIT)) return no(`${USER_DBUS_UNIT} is missing (install package dbus-user-session)`);
  if (!/\scgroup2\n/.test(readText('/proc/filesystems'))) return no('the kernel has no cgroup2 file system');
  return { ok: true, why: '' };
}

function readText(file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return '';
  }
}

/**
 * True when this process's mount namespace provably differs from the host's: from the namespace
 * test/run.mjs recorded in GITOPPER_TEST_HOST_MNTNS and from PID 1's (when readable: inside another
 * mount namespace the kernel denies reading /proc/1/ns/mnt).
 */
function inPrivateMountNamespace(): boolean {
  let self: string;
  try {
    self = readlinkSync('/proc/self/ns/mnt');
  } catch {
    return false;
  }
  const hosts: string[] = [];
  if (process.env.GITOPPER_TEST_HOST_MNTNS) hosts.push(process.env.GITOPPER_TEST_HOST_MNTNS);
  try {
    hosts.push(readlinkSync('/proc/1/ns/mnt'));
  } catch {
    /* not readable from another namespace */
  }
  return hosts.length > 0 && hosts.every((h) => h !== self);
}

/** Exit code and output of a finished command (see {@link UserManager.trySystemctl}). */
export interface RunResult {
  /** Exit code; -1 when the command could not run or was killed. */
  code: number;
  /** Its stdout. */
  stdout: string;
  /** Its stderr. */
  stderr: string;
}

/** Runs a program (no shell) and resolves with its exit code and output; never rejects on exit code. */
function run(cmd: string, args: string[], env?: NodeJS.ProcessEnv, timeoutMs = 30_000): Promise<RunResult> {
  return new Promise((resolve) => {
    execFile(cmd, args, { env, encoding: 'utf8', timeout: timeoutMs, maxBuffer: 16 * 1024 * 1024 }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === 'number' ? err.code : -1) : 0;
      resolve({ code, stdout, stderr: err && code === -1 ? `${stderr}${err.message}` : stderr });
    });
  });
}

async function mustRun(cmd: string, args: string[], env?: NodeJS.ProcessEnv): Promise<string> {
  const r = await run(cmd, args, env);
  if (r.code !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (${r.code}): ${r.stderr.trim()}`);
  return r.stdout;
}

/** Mount points (unescaped) and file system types from /proc/self/mountinfo, in mount order. */
function mounts(): Array<{ point: string; fstype: string }> {
  const unescape = (s: string) => s.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));
  return readText('/proc/self/mountinfo')
    .split('\n')
    .filter(Boolean)
    .map((line) => {
      const [left, right = ''] = line.split(' - ');
      return { point: unescape(left!.split(' ')[4] ?? ''), fstype: right.split(' ')[0] ?? '' };
    });
}

/** Runs `fn` holding a lock shared by all processes of this mount namespace (a mkdir lock in the tmp dir). */
async function withNamespaceLock<T>(fn: () => Promise<T>): Promise<T> {
  const ns = readlinkSync('/proc/self/ns/mnt').replace(/\D/g, '');
  const lock = path.join(os.tmpdir(), `gitopper-rig-ns-${ns}.lock`);
  const deadline = Date.now() + 15_000;
  for (;;) {
    try {
      await fs.mkdir(lock);
      await fs.writeFile(path.join(lock, 'pid'), String(process.pid));
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      const holder = parseInt(readText(path.join(lock, 'pid')), 10);
      if (holder && !isAlive(holder)) await fs.rm(lock, { recursive: true, force: true });
      else if (Date.now() > deadline) throw new Error(`timed out waiting for ${lock} (held by ${holder})`);
      else await sleep(20);
    }
  }
  try {
    return await fn();
  } finally {
    await fs.rm(lock, { recursive: true, force: true });
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

let namespaceReady = false;

/**
 * Makes this (private) mount namespace ready for user managers: a tmpfs on /run/systemd with
 * `system/` in it, and cgroup2 on /sys/fs/cgroup. Idempotent and safe when several test processes
 * of the namespace call it at once; refuses to run in PID 1's mount namespace.
 */
export async function prepareNamespace(): Promise<void> {
  if (namespaceReady) return;
  if (!inPrivateMountNamespace()) throw new Error('refusing to mount: not inside a private mount namespace (use test/run.mjs)');
  const isCgroup2 = async () => (await fs.statfs('/sys/fs/cgroup')).type === CGROUP2_SUPER_MAGIC;
  if (!existsSync('/run/systemd/system') || !(await isCgroup2())) {
    await withNamespaceLock(async () => {
      if (!existsSync('/run/systemd/system')) {
        if (!mounts().some((m) => m.point === '/run/systemd' && m.fstype === 'tmpfs')) {
          await fs.mkdir('/run/systemd', { recursive: true });
          await mustRun('mount', ['-t', 'tmpfs', '-o', 'mode=755', 'gitopper-rig', '/run/systemd']);
        }
        await fs.mkdir('/run/systemd/system', { recursive: true });
      }
      if (!(await isCgroup2())) await mustRun('mount', ['-t', 'cgroup2', 'gitopper-rig', '/sys/fs/cgroup']);
    });
  }
  namespaceReady = true;
}

/** This process's cgroup2 path (the `0::` line of /proc/self/cgroup), e.g. `/`. */
function ownCgroup(): string {
  const line = readText('/proc/self/cgroup')
    .split('\n')
    .find((l) => l.startsWith('0::'));
  if (!line) throw new Error('no cgroup2 entry in /proc/self/cgroup');
  return line.slice(3) || '/';
}

/**
 * Empties a cgroup2 directory tree and removes it. First SIGTERM to the processes of its top level and
 * its `init.scope` (a user manager then stops its units and reaps them itself), then, after
 * `graceMs`, SIGKILL to everything left (`cgroup.kill`). Killing a manager and its children at once
 * leaves a zombie per process until PID 1 gets round to reaping them (the test process is gone).
 */
async function destroyCgroup(dir: string, graceMs = 2000, timeoutMs = 5000): Promise<void> {
  if (!existsSync(dir)) return;
  const populated = () => /populated 1/.test(readText(path.join(dir, 'cgroup.events')));
  const signalAll = (files: string[], sig: NodeJS.Signals) => {
    for (const procs of files) {
      for (const pid of readText(procs).split('\n').filter(Boolean)) {
        try {
          process.kill(Number(pid), sig);
        } catch {
          /* gone */
        }
      }
    }
  };
  if (populated() && graceMs > 0) {
    signalAll([path.join(dir, 'cgroup.procs'), path.join(dir, 'init.scope', 'cgroup.procs')], 'SIGTERM');
    await waitFor(`${dir} to empty`, () => !populated(), graceMs).catch(() => undefined);
  }
  if (populated()) {
    try {
      await fs.writeFile(path.join(dir, 'cgroup.kill'), '1');
    } catch {
      signalAll(await listFiles(dir, 'cgroup.procs'), 'SIGKILL'); // kernels before 5.14 have no cgroup.kill
    }
    await waitFor(`processes in ${dir} to die`, () => !populated(), timeoutMs);
  }
  const dirs = (await listFiles(dir, 'cgroup.procs')).map(path.dirname).sort((a, b) => b.length - a.length);
  for (const d of dirs) await fs.rmdir(d).catch(() => undefined);
  if (existsSync(dir)) throw new Error(`could not remove cgroup ${dir}`);
}

/** Paths of every file called `name` in the directory tree `dir`. */
async function listFiles(dir: string, name: string): Promise<string[]> {
  const out: string[] = [];
  const walk = async (d: string) => {
    out.push(path.join(d, name));
    for (const e of await fs.readdir(d, { withFileTypes: true }).catch(() => [])) {
      if (e.isDirectory()) await walk(path.join(d, e.name));
    }
  };
  await walk(dir);
  return out;
}

/**
 * Removes `gitopper-rig.<pid>.<n>` cgroups left by test processes that died without `stop()`
 * (killing what still runs in them). Works inside the namespace and on the host (it looks for the
 * cgroup2 mount). Resolves with the number removed; never throws.
 */
export async function sweepStaleCgroups(): Promise<number> {
  try {
    const v2 = mounts().filter((m) => m.fstype === 'cgroup2').pop();
    if (!v2) return 0;
    const base = path.join(v2.point, ownCgroup());
    let removed = 0;
    for (const name of await fs.readdir(base)) {
      const m = name.match(/^gitopper-rig\.(\d+)\.\d+$/);
      if (!m || isAlive(Number(m[1]))) continue;
      await destroyCgroup(path.join(base, name)).then(() => removed++, () => undefined);
    }
    return removed;
  } catch {
    return 0;
  }
}

/** Error of {@link UserManager.systemctl}: `systemctl --user` exited non-zero. */
export class SystemctlError extends Error {
  constructor(
    message: string,
    /** systemctl's exit code. */
    readonly code: number,
    /** systemctl's stdout. */
    readonly stdout: string,
    /** systemctl's stderr. */
    readonly stderr: string,
  ) {
    super(message);
    this.name = 'SystemctlError';
  }
}

/** Milliseconds spent in each step of {@link startUserManager}. */
export interface StartupTimings {
  /** Namespace preparation (mounts; ~0 after the first manager of a process). */
  prepare: number;
  /** Spawn until `<rt>/systemd/private` exists. */
  manager: number;
  /** `systemctl --user start dbus.service`. */
  dbus: number;
  /** Until `busctl --user status org.freedesktop.systemd1` succeeds. */
  busName: number;
  /** The whole start. */
  total: number;
}

/** A running systemd user manager; see {@link startUserManager}. */
export interface UserManager {
  /** The directory given to {@link startUserManager}. */
  readonly dir: string;
  /** PID of the `systemd --user` process. */
  readonly pid: number;
  /** Session bus address: `unix:path=<dir>/rt/bus` (usable from outside the namespace too). */
  readonly busAddress: string;
  /** `<dir>/cfg/systemd/user`: unit files written here are the manager's units. */
  readonly unitDir: string;
  /** Environment for child processes that talk to this manager: XDG_RUNTIME_DIR, DBUS_SESSION_BUS_ADDRESS. */
  readonly env: Readonly<Record<string, string>>;
  /** `<dir>/systemd.log`: the manager's stdout/stderr (generator output; the manager itself logs nowhere). */
  readonly logFile: string;
  /** The cgroup2 directory holding the manager and all its units. */
  readonly cgroup: string;
  /** How long each start-up step took. */
  readonly timings: StartupTimings;
  /** Writes `<unitDir>/<name>` and runs `daemon-reload`. */
  writeUnit(name: string, text: string): Promise<void>;
  /** `systemctl --user <args>` against this manager; resolves with stdout, rejects with {@link SystemctlError}. */
  systemctl(...args: string[]): Promise<string>;
  /** Like {@link systemctl} but resolves with the exit code and output instead of rejecting. */
  trySystemctl(...args: string[]): Promise<RunResult>;
  /** Stops the manager, kills everything it started (its whole cgroup), waits, removes the cgroup. Idempotent. */
  stop(): Promise<void>;
}

const live = new Set<{ cgroup: string; pid?: number }>();
let seq = 0;
let exitHookInstalled = false;

/** Waits until `check()` is true, polling every `everyMs`; rejects after `timeoutMs` with `what`. */
async function waitFor(what: string, check: () => boolean | Promise<boolean>, timeoutMs: number, everyMs = 10): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(everyMs);
  }
}

/**
 * Starts `systemd --user` for tests: runtime dir `<dir>/rt` (mode 700), config
 * home `<dir>/cfg` (units in `<dir>/cfg/systemd/user/`), then `dbus.service` through the manager, and
 * waits until the manager owns `org.freedesktop.systemd1` on its bus. Needs {@link canRunSandbox}.
 * Call `stop()` when done (e.g. in `t.after`).
 */
export async function startUserManager(dir: string): Promise<UserManager> {
  const ok = canRunSandbox();
  if (!ok.ok) throw new Error(ok.why);
  const t0 = performance.now();
  await prepareNamespace();
  await sweepStaleCgroups();
  const tPrepared = performance.now();

  const root = path.resolve(dir);
  const rt = path.join(root, 'rt');
  const cfg = path.join(root, 'cfg');
  const unitDir = path.join(cfg, 'systemd', 'user');
  await fs.rm(rt, { recursive: true, force: true });
  await fs.mkdir(rt, { recursive: true, mode: 0o700 });
  await fs.chmod(rt, 0o700);
  await fs.mkdir(unitDir, { recursive: true });
  for (const sub of ['data', 'state', 'cache']) await fs.mkdir(path.join(root, sub), { recursive: true });

  const busAddress = `unix:path=${rt}/bus`;
  const env: Record<string, string> = { XDG_RUNTIME_DIR: rt, DBUS_SESSION_BUS_ADDRESS: busAddress };
  // Explicit DBUS_SESSION_BUS_ADDRESS for the manager too: an inherited one (another manager's bus)
  // makes it register on the wrong bus and start-up takes seconds.
  const managerEnv: NodeJS.ProcessEnv = {
    PATH: process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin',
    HOME: process.env.HOME ?? '/root',
    LANG: 'C.UTF-8',
    ...env,
    XDG_CONFIG_HOME: cfg,
    XDG_DATA_HOME: path.join(root, 'data'),
    XDG_STATE_HOME: path.join(root, 'state'),
    XDG_CACHE_HOME: path.join(root, 'cache'),
  };
  const clientEnv: NodeJS.ProcessEnv = { ...process.env, ...env };

  const cgroup = path.join('/sys/fs/cgroup', ownCgroup(), `${CGROUP_PREFIX}${process.pid}.${++seq}`);
  await fs.mkdir(cgroup);
  const entry: { cgroup: string; pid?: number } = { cgroup };
  live.add(entry);
  if (!exitHookInstalled) {
    exitHookInstalled = true;
    // A test that forgot stop(): let each manager stop its units and exit on its own (a SIGKILL to
    // the whole cgroup here would leave zombies); sweepStaleCgroups removes the cgroup afterwards.
    process.on('exit', () => {
      for (const e of live) {
        try {
          if (e.pid) process.kill(e.pid, 'SIGTERM');
          else writeFileSync(path.join(e.cgroup, 'cgroup.kill'), '1');
        } catch {
          /* already gone */
        }
      }
    });
  }

  const logFile = path.join(root, 'systemd.log');
  const log = await fs.open(logFile, 'a');
  let child: ChildProcess;
  try {
    // The shell moves itself into the manager's cgroup, then becomes systemd.
    child = spawn(
      '/bin/sh',
      ['-c', 'echo $$ > "$1" && exec "$2" --user --log-target=null', 'sh', path.join(cgroup, 'cgroup.procs'), SYSTEMD],
      { env: managerEnv, stdio: ['ignore', log.fd, log.fd] },
    );
  } finally {
    await log.close();
  }
  entry.pid = child.pid;
  let exited = false;
  const exitedPromise = new Promise<void>((resolve) =>
    child.once('exit', () => {
      exited = true;
      resolve();
    }),
  );
  child.once('error', () => undefined);

  let stopped = false;
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    if (!exited) {
      child.kill('SIGTERM'); // the manager runs exit.target: stops its units, then exits
      await Promise.race([exitedPromise, sleep(2000, undefined, { ref: false })]);
    }
    await destroyCgroup(cgroup, 0);
    await Promise.race([exitedPromise, sleep(2000, undefined, { ref: false })]);
    live.delete(entry);
  };

  const trySystemctl = (...args: string[]) => run('systemctl', ['--user', ...args], clientEnv);
  const systemctl = async (...args: string[]) => {
    const r = await trySystemctl(...args);
    if (r.code !== 0) {
      throw new SystemctlError(`systemctl --user ${args.join(' ')} failed (${r.code}): ${r.stderr.trim()}`, r.code, r.stdout, r.stderr);
    }
    return r.stdout;
  };

  try {
    const alive = () => {
      if (exited) throw new Error(`systemd --user exited during start-up; see ${logFile}: ${readText(logFile).slice(-2000)}`);
    };
    await waitFor(`${rt}/systemd/private`, () => (alive(), existsSync(path.join(rt, 'systemd', 'private'))), 10_000);
    const tManager = performance.now();
    await systemctl('start', 'dbus.service');
    const tDbus = performance.now();
    await waitFor(
      'org.freedesktop.systemd1 on the user bus',
      async () => (alive(), (await run('busctl', ['--user', 'status', 'org.freedesktop.systemd1'], clientEnv, 5000)).code === 0),
      10_000,
    );
    const tBus = performance.now();
    const ms = (a: number, b: number) => Math.round(b - a);
    return {
      dir: root,
      pid: child.pid!,
      busAddress,
      unitDir,
      env,
      logFile,
      cgroup,
      timings: {
        prepare: ms(t0, tPrepared),
        manager: ms(tPrepared, tManager),
        dbus: ms(tManager, tDbus),
        busName: ms(tDbus, tBus),
        total: ms(t0, tBus),
      },
      async writeUnit(name: string, text: string) {
        await fs.writeFile(path.join(unitDir, name), text);
        await systemctl('daemon-reload');
      },
      systemctl,
      trySystemctl,
      stop,
    };
  } catch (err) {
    await stop().catch(() => undefined);
    throw err;
  }
}

/** Options of {@link reloadMarkerUnit} and {@link reloadMarkerTemplate}. */
export interface MarkerUnitOptions {
  /** Make `ExecReload` fail (`/bin/false`), so a reload job ends `failed`. */
  failReload?: boolean;
}

function checkMarkerPath(markerFile: string): void {
  if (!path.isAbsolute(markerFile) || !/^[A-Za-z0-9_./@+-]+$/.test(markerFile)) {
    throw new Error(`marker path must be absolute and plain (no spaces, quotes or %): ${markerFile}`);
  }
}

/**
 * Unit text for a long-running service (`/bin/sleep infinity`) whose reload appends a line
 * `reloaded` to `markerFile` (or fails, with `failReload`). Write it with `writeUnit(name, text)`.
 */
export function reloadMarkerUnit(name: string, markerFile: string, opts: MarkerUnitOptions = {}): string {
  checkMarkerPath(markerFile);
  const reload = opts.failReload ? '/bin/false' : `/bin/sh -c 'echo reloaded >> ${markerFile}'`;
  return [
    '[Unit]',
    `Description=gitopper test rig marker service ${name}`,
    '',
    '[Service]',
    'Type=simple',
    'ExecStart=/bin/sleep infinity',
    `ExecReload=${reload}`,
    '',
  ].join('\n');
}

/**
 * Like {@link reloadMarkerUnit}, for a template `name@.service`: a reload of `name@x.service`
 * appends `reloaded x`; has `[Install] WantedBy=default.target` so `enable` works.
 */
export function reloadMarkerTemplate(name: string, markerFile: string, opts: MarkerUnitOptions = {}): string {
  checkMarkerPath(markerFile);
  const reload = opts.failReload ? '/bin/false' : `/bin/sh -c 'echo reloaded %i >> ${markerFile}'`;
  return [
    '[Unit]',
    `Description=gitopper test rig marker template ${name} (%i)`,
    '',
    '[Service]',
    'Type=simple',
    'ExecStart=/bin/sleep infinity',
    `ExecReload=${reload}`,
    '',
    '[Install]',
    'WantedBy=default.target',
    '',
  ].join('\n');
}
