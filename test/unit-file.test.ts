/**
 * The shipped unit, systemd/gitopper.service:
 *  - what it says (ExecStart, reload contract, ordering, Type=notify, no mount-namespace options);
 *  - `systemd-analyze verify` accepts it without a warning (on a temp copy whose ExecStart points at
 *    an existing executable: verify checks that the program exists);
 *  - run by a real systemd (the user-manager sandbox, test/rig/systemd.ts) with only ExecStart
 *    replaced by a stand-in daemon that follows gitopper's contract through the real notify adapter
 *    (READY=1 after its "first pass", STOPPING=1 and exit 0 on SIGTERM, exit 2 on SIGHUP): start
 *    returns after READY, a bind mount it makes is visible outside the service (the hardening keeps
 *    the host's mount namespace), reload restarts it, stop stops it, a fatal start fails at once.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { chmod, mkdir, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { removeDirs, tmpDir } from './rig/repo.js';
import { canRunSandbox, startUserManager, type UserManager } from './rig/systemd.js';

const UNIT_FILE = path.resolve('systemd', 'gitopper.service');
const ADAPTER = fileURLToPath(new URL('../src/adapters/systemd/notify.js', import.meta.url));
const SHIPPED_EXEC_START = '/usr/bin/gitopper -c /etc/gitopper/config.toml';

/** Sections of a unit file: section → key → values in order (comments and blank lines dropped). */
function parseUnit(text: string): Map<string, Map<string, string[]>> {
  const sections = new Map<string, Map<string, string[]>>();
  let current: Map<string, string[]> | undefined;
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#') || line.startsWith(';')) continue;
    const sec = /^\[(.+)\]$/.exec(line);
    if (sec) {
      current = new Map();
      sections.set(sec[1]!, current);
      continue;
    }
    assert.ok(!line.endsWith('\\'), `no continuation lines expected: ${line}`);
    const eq = line.indexOf('=');
    assert.ok(current && eq > 0, `not a key=value line inside a section: ${line}`);
    const key = line.slice(0, eq).trim();
    current.set(key, [...(current.get(key) ?? []), line.slice(eq + 1).trim()]);
  }
  return sections;
}

/** The shipped unit with its ExecStart= program and arguments replaced (everything else unchanged). */
function withExecStart(text: string, execStart: string): string {
  const re = /^ExecStart=.*$/m;
  assert.match(text, re);
  return text.replace(re, `ExecStart=${execStart}`);
}

/** Runs `systemd-analyze verify FILE`; resolves with its exit code and the output lines that concern FILE. */
function verify(file: string): Promise<{ code: number; output: string; aboutUnit: string[] }> {
  return new Promise((resolve) => {
    execFile('systemd-analyze', ['verify', file], { encoding: 'utf8', timeout: 60_000 }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === 'number' ? err.code : -1) : 0;
      const output = `${stdout}${stderr}`;
      const name = path.basename(file);
      const aboutUnit = output.split('\n').filter((l) => l.includes(file) || l.includes(name));
      resolve({ code, output, aboutUnit });
    });
  });
}

const text = readFileSync(UNIT_FILE, 'utf8');
const unit = parseUnit(text);
const service = unit.get('Service') ?? new Map<string, string[]>();
const one = (key: string) => {
  const v = service.get(key);
  assert.equal(v?.length, 1, `[Service] ${key}= must be set exactly once`);
  return v![0]!;
};

describe('systemd/gitopper.service says what the issue asks', () => {
  test('ExecStart runs /usr/bin/gitopper on /etc/gitopper/config.toml', () => {
    assert.equal(one('ExecStart'), SHIPPED_EXEC_START);
  });

  test('memory: a 2 MiB young generation, a 1 GiB old generation and glibc malloc returning large buffers (docs/performance.md)', () => {
    // quoted as systemd.exec(5) asks for a value with spaces (unquoted, systemd ignores the second word)
    assert.equal(one('Environment'), '"NODE_OPTIONS=--max-semi-space-size=2 --max-old-space-size=1024" MALLOC_ARENA_MAX=2 MALLOC_MMAP_THRESHOLD_=131072');
  });

  test('reload = SIGHUP, which gitopper answers with exit 2; systemd restarts it', () => {
    assert.equal(one('ExecReload'), '/bin/kill -HUP $MAINPID');
    assert.equal(one('Restart'), 'on-failure');
    assert.equal(one('RestartForceExitStatus'), '2', 'restart after exit 2 although SuccessExitStatus counts it a success');
    assert.equal(one('SuccessExitStatus'), '2');
  });

  test('ordered after the network is online, wanted by multi-user.target', () => {
    assert.deepEqual(unit.get('Unit')?.get('After'), ['network-online.target']);
    assert.deepEqual(unit.get('Unit')?.get('Wants'), ['network-online.target']);
    assert.deepEqual(unit.get('Install')?.get('WantedBy'), ['multi-user.target']);
  });

  test('Type=notify with the watchdog; the main process sends (NotifyAccess=main)', () => {
    assert.equal(one('Type'), 'notify');
    assert.equal(one('NotifyAccess'), 'main');
    assert.match(one('WatchdogSec'), /^\d+(s|min)$/);
    assert.match(one('TimeoutStartSec'), /^\d+(s|min)$/);
  });

  test('no option that gives the service its own mount namespace (the bind mounts must reach the host)', () => {
    // systemd.exec(5) / exec_needs_mount_namespace() in systemd's src/core/execute.c.
    const namespacing = [
      'PrivateMounts', 'ProtectSystem', 'ProtectHome', 'PrivateTmp', 'PrivateDevices', 'PrivateNetwork', 'PrivateIPC',
      'ProtectKernelTunables', 'ProtectKernelModules', 'ProtectKernelLogs', 'ProtectControlGroups', 'ProtectProc',
      'ProcSubset', 'ReadOnlyPaths', 'ReadWritePaths', 'InaccessiblePaths', 'ReadOnlyDirectories', 'ReadWriteDirectories',
      'InaccessibleDirectories', 'ExecPaths', 'NoExecPaths', 'BindPaths', 'BindReadOnlyPaths', 'TemporaryFileSystem',
      'RootDirectory', 'RootImage', 'MountImages', 'ExtensionImages', 'ExtensionDirectories', 'DynamicUser',
      'LogNamespace', 'NetworkNamespacePath', 'IPCNamespacePath', 'JoinsNamespaceOf',
    ];
    const present = namespacing.filter((k) => service.has(k) || unit.get('Unit')?.has(k));
    assert.deepEqual(present, []);
    for (const flags of service.get('MountFlags') ?? []) assert.equal(flags, 'shared');
    assert.equal(service.has('User'), false, 'runs as root (mounts, chown, the system bus)');
    assert.equal(service.has('MemoryDenyWriteExecute'), false, "V8's JIT needs W+X memory");
    assert.equal(service.has('RestrictSUIDSGID'), false, 'package installs unpack setuid/setgid programs');
    for (const k of ['NoNewPrivileges', 'RestrictNamespaces', 'LockPersonality', 'RestrictRealtime']) {
      assert.equal(one(k), 'yes', `${k}=yes`);
    }
  });

  test('state directory mode 0711, as the daemon makes it (hooks run as service users reach stage/), and the docs say the same', () => {
    assert.equal(one('StateDirectory'), 'gitopper');
    assert.equal(one('StateDirectoryMode'), '0711');
    assert.match(readFileSync(path.resolve('src', 'daemon', 'load.ts'), 'utf8'), /mkdirSync\(dir, \{ recursive: true, mode: 0o711 \}\)/, 'prepareStateDir makes it 0711');
    const install = readFileSync(path.resolve('docs', 'install.md'), 'utf8');
    assert.match(install, /`StateDirectoryMode=0711`/);
    assert.match(install, /`\/var\/lib\/gitopper\/` \| state directory \(0711\)/);
    assert.match(readFileSync(path.resolve('docs', 'daemon.md'), 'utf8'), /`--state-dir DIR` .*mode 0711/);
  });

  test('the file explains why the mount-namespace options are not used, and the readiness choice', () => {
    assert.match(text, /own mount namespace/);
    assert.match(text, /PrivateMounts=, ProtectSystem=, ProtectHome=, PrivateTmp=/);
    assert.match(text, /systemd-notify/);
  });
});

const analyze = ['/usr/bin/systemd-analyze', '/bin/systemd-analyze'].some(existsSync);

describe('systemd-analyze verify', { skip: analyze ? false : 'systemd-analyze is not installed (package systemd)' }, () => {
  let tmp = '';
  before(async () => {
    tmp = await tmpDir('unit-verify');
    await mkdir(path.join(tmp, 'bin'));
    // verify checks that ExecStart's program exists and is executable: point it at a stand-in.
    await writeFile(path.join(tmp, 'bin', 'gitopper'), '#!/bin/sh\nexit 0\n');
    await chmod(path.join(tmp, 'bin', 'gitopper'), 0o755);
  });
  after(async () => {
    if (tmp) await removeDirs(tmp);
  });

  test('accepts the shipped unit: exit 0 and no message about it', async (t) => {
    const copy = path.join(tmp, 'gitopper.service');
    await writeFile(copy, withExecStart(text, `${tmp}/bin/gitopper -c /etc/gitopper/config.toml`));
    const r = await verify(copy);
    t.diagnostic(`systemd-analyze verify: exit ${r.code}, output: ${JSON.stringify(r.output.trim())}`);
    assert.equal(r.code, 0, r.output);
    assert.deepEqual(r.aboutUnit, []);
  });

  test('control: the same check catches a warning (unknown key) and a missing program', async () => {
    const typo = path.join(tmp, 'typo.service');
    await writeFile(typo, withExecStart(text, `${tmp}/bin/gitopper -c /etc/gitopper/config.toml`).replace('KillMode=mixed', 'KillMode=mixed\nKilMode=mixed'));
    const r = await verify(typo);
    assert.ok(r.aboutUnit.some((l) => /Unknown key 'KilMode'/.test(l)), r.output);

    const shipped = path.join(tmp, 'shipped.service');
    await writeFile(shipped, text);
    if (!existsSync('/usr/bin/gitopper')) {
      const s = await verify(shipped);
      assert.notEqual(s.code, 0, 'the unchanged file fails only because /usr/bin/gitopper is not installed here');
      assert.ok(s.aboutUnit.some((l) => l.includes('/usr/bin/gitopper')), s.output);
    }
  });
});

const sandbox = canRunSandbox();

describe('the shipped unit under a real systemd (user manager), ExecStart = a stand-in daemon', { skip: sandbox.ok ? false : sandbox.why }, () => {
  let tmp = '';
  let um: UserManager;
  let daemon = '';
  const NAME = 'gitopper.service';

  /** Events the stand-in daemon logged to `file` (one JSON object per line). */
  const events = (file: string) =>
    existsSync(file) ? readFileSync(file, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>) : [];

  const show = async (...props: string[]) => {
    const out = await um.systemctl('show', '-p', props.join(','), NAME);
    return Object.fromEntries(out.split('\n').filter(Boolean).map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]));
  };
  const until = async (what: string, check: () => boolean | Promise<boolean>, ms = 15_000) => {
    const deadline = Date.now() + ms;
    while (!(await check())) {
      if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
      await sleep(20);
    }
  };

  /**
   * Installs the shipped unit with ExecStart = the stand-in on `cfg` (written as JSON), plus `dropIn`
   * lines in gitopper.service.d/test.conf (none when empty), and resets its state.
   */
  const install = async (name: string, cfg: Record<string, unknown>, dropIn: string[] = []) => {
    const cfgFile = path.join(tmp, `${name}.json`);
    const log = path.join(tmp, `${name}.log`);
    await writeFile(cfgFile, JSON.stringify({ log, ...cfg }));
    await rm(log, { force: true });
    const dir = path.join(um.unitDir, `${NAME}.d`);
    await rm(dir, { recursive: true, force: true });
    if (dropIn.length) {
      await mkdir(dir);
      await writeFile(path.join(dir, 'test.conf'), ['[Service]', ...dropIn, ''].join('\n'));
    }
    await um.trySystemctl('stop', NAME);
    await um.writeUnit(NAME, withExecStart(text, `${process.execPath} ${daemon} ${cfgFile}`));
    await um.trySystemctl('reset-failed', NAME);
    return log;
  };

  before(async () => {
    tmp = await tmpDir('unit-sd');
    um = await startUserManager(path.join(tmp, 'um'));
    daemon = path.join(tmp, 'stand-in.mjs');
    // Follows cmd/gitopper.ts's contract with the notify adapter exactly as the daemon uses it:
    // watchdog from the start; after the "first pass" (firstPassMs, optionally a bind mount), READY=1
    // with a STATUS= summary; SIGINT/SIGTERM → STOPPING=1, exit 0; SIGHUP → STOPPING=1, exit 2.
    await writeFile(
      daemon,
      `import { appendFileSync, chmodSync, readFileSync, writeFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { SystemdNotifier, summarizeStates } from ${JSON.stringify(ADAPTER)};
const cfg = JSON.parse(readFileSync(process.argv[2], 'utf8'));
const log = (e) => appendFileSync(cfg.log, JSON.stringify({ t: Date.now(), pid: process.pid, ...e }) + '\\n');
const notifier = SystemdNotifier.fromEnv(process.env, { onError: (err) => log({ ev: 'error', err: err.message }) });
notifier.startWatchdog();
log({ ev: 'start', enabled: notifier.enabled, watchdogMs: notifier.watchdogMs ?? null, stateDir: process.env.STATE_DIRECTORY ?? null });
if (cfg.fatal) { process.stderr.write('gitopper: bad config\\n'); process.exit(1); }
if (cfg.noServices) { await notifier.ready('no services for this host in the config: nothing to do'); process.exit(0); }
const stop = async (signal, code) => {
  log({ ev: 'stopping', signal });
  await notifier.stopping(code === 2 ? 'SIGHUP: exiting 2 to restart with the new config' : signal + ': stopping');
  await notifier.close();
  log({ ev: 'exit', code });
  process.exit(code);
};
process.once('SIGINT', () => void stop('SIGINT', 0));
process.once('SIGTERM', () => void stop('SIGTERM', 0));
process.once('SIGHUP', () => void stop('SIGHUP', 2));
setInterval(() => {}, 1 << 30);
await new Promise((r) => setTimeout(r, cfg.firstPassMs ?? 0));
if (cfg.mount) execFileSync('mount', ['--bind', cfg.mount.source, cfg.mount.target]);
if (cfg.setuid) {
  writeFileSync(cfg.setuid, 'stand-in');
  try { chmodSync(cfg.setuid, 0o4755); log({ ev: 'setuid', ok: true }); } catch (err) { log({ ev: 'setuid', ok: false, code: err.code }); }
}
log({ ev: 'ready-sending' });
await notifier.ready(summarizeStates(['OK', 'OK']));
`,
    );
  });
  after(async () => {
    await um?.stop();
    if (tmp) await removeDirs(tmp);
  });

  test('start returns only after READY=1; a bind mount made by the service is visible outside it', { timeout: 60_000 }, async () => {
    const source = path.join(tmp, 'source.txt');
    const target = path.join(tmp, 'target.txt');
    await writeFile(source, 'from the checkout\n');
    await writeFile(target, 'original\n');
    const log = await install('start', { firstPassMs: 800, mount: { source, target } });
    const t0 = Date.now();
    await um.systemctl('start', NAME);
    const returned = Date.now();
    const ready = events(log).find((e) => e.ev === 'ready-sending');
    assert.ok(ready && (ready.t as number) <= returned, 'READY=1 was sent before systemctl start returned');
    assert.ok(returned - t0 >= 800, `start waited for the first pass (${returned - t0} ms)`);
    assert.deepEqual(await show('ActiveState', 'SubState', 'StatusText'), { ActiveState: 'active', SubState: 'running', StatusText: '2 services: 2 OK' });
    const start = events(log).find((e) => e.ev === 'start')!;
    assert.equal(start.enabled, true);
    assert.equal(start.watchdogMs, 120_000, 'WatchdogSec=2min reached the daemon as WATCHDOG_USEC');
    assert.match(String(start.stateDir), /gitopper$/, 'StateDirectory=gitopper');
    assert.equal(statSync(String(start.stateDir)).mode & 0o777, 0o711, 'systemd made the state directory 0711 (StateDirectoryMode=)');
    assert.equal(readFileSync(target, 'utf8'), 'from the checkout\n', 'the service\'s bind mount is in this (the host\'s) mount namespace');
    await um.systemctl('stop', NAME);
    await new Promise<void>((resolve, reject) => execFile('umount', [target], (err) => (err ? reject(err) : resolve())));
  });

  test('control: with PrivateMounts=yes added, the same bind mount stays inside the service', { timeout: 60_000 }, async () => {
    const source = path.join(tmp, 'source2.txt');
    const target = path.join(tmp, 'target2.txt');
    await writeFile(source, 'from the checkout\n');
    await writeFile(target, 'original\n');
    const log = await install('private', { firstPassMs: 0, mount: { source, target } }, ['PrivateMounts=yes']);
    await um.systemctl('start', NAME);
    assert.ok(events(log).some((e) => e.ev === 'ready-sending'), 'the service made its mount');
    assert.equal(readFileSync(target, 'utf8'), 'original\n', 'invisible from the host: why the unit must not use such options');
    await um.systemctl('stop', NAME);
  });

  test('the service can make setuid files (dpkg does, installing a `package`); RestrictSUIDSGID=yes would forbid it', { timeout: 60_000 }, async () => {
    const shipped = await install('setuid', { setuid: path.join(tmp, 'suid-shipped') });
    await um.systemctl('start', NAME);
    assert.equal(events(shipped).find((e) => e.ev === 'setuid')?.ok, true);
    assert.equal(statSync(path.join(tmp, 'suid-shipped')).mode & 0o7777, 0o4755);
    await um.systemctl('stop', NAME);

    const restricted = await install('setuid-restricted', { setuid: path.join(tmp, 'suid-restricted') }, ['RestrictSUIDSGID=yes']);
    await um.systemctl('start', NAME);
    const refused = events(restricted).find((e) => e.ev === 'setuid');
    assert.equal(refused?.ok, false);
    assert.equal(refused?.code, 'EPERM');
    await um.systemctl('stop', NAME);
  });

  test('reload: SIGHUP, STOPPING=1, exit 2, and systemd starts it again (counted a success)', { timeout: 60_000 }, async () => {
    const log = await install('reload', { firstPassMs: 100 });
    await um.systemctl('start', NAME);
    const first = Number((await show('MainPID')).MainPID);
    await um.systemctl('reload', NAME);
    await until('exit 2 of the first process', () => events(log).some((e) => e.ev === 'exit' && e.code === 2 && e.pid === first));
    await until('a new main process that is ready', async () => {
      const p = await show('MainPID', 'ActiveState', 'SubState');
      return Number(p.MainPID) > 0 && Number(p.MainPID) !== first && p.ActiveState === 'active' && p.SubState === 'running';
    });
    const p = await show('NRestarts', 'Result', 'StatusText');
    assert.deepEqual(p, { NRestarts: '1', Result: 'success', StatusText: '2 services: 2 OK' });
    assert.ok(events(log).some((e) => e.ev === 'stopping' && e.signal === 'SIGHUP'));
    assert.ok(events(log).every((e) => e.ev !== 'error'), 'every notification was accepted');
    await um.systemctl('stop', NAME);
  });

  test('stop: SIGTERM, STOPPING=1, exit 0, stays stopped', { timeout: 60_000 }, async () => {
    const log = await install('stop', { firstPassMs: 0 });
    await um.systemctl('start', NAME);
    await um.systemctl('stop', NAME);
    const p = await show('ActiveState', 'Result', 'NRestarts', 'ExecMainStatus');
    assert.deepEqual(p, { ActiveState: 'inactive', Result: 'success', NRestarts: '0', ExecMainStatus: '0' });
    assert.ok(events(log).some((e) => e.ev === 'exit' && e.code === 0 && e.signal === undefined));
    assert.ok(events(log).some((e) => e.ev === 'stopping' && e.signal === 'SIGTERM'));
    await sleep(2500); // past RestartSec
    assert.equal((await show('ActiveState')).ActiveState, 'inactive', 'not restarted');
  });

  test('a fatal error before READY fails `systemctl start` at once (exit 1), not after TimeoutStartSec', { timeout: 60_000 }, async () => {
    await install('fatal', { fatal: true });
    const t0 = Date.now();
    const r = await um.trySystemctl('start', NAME);
    assert.notEqual(r.code, 0, 'systemctl start reports the failure');
    assert.ok(Date.now() - t0 < 10_000, `failed fast (${Date.now() - t0} ms)`);
    await um.trySystemctl('stop', NAME); // end the restart loop (Restart=on-failure)
    await um.trySystemctl('reset-failed', NAME);
  });

  test('"no services for this host": READY=1 then exit 0: start succeeds, the unit ends inactive, no restart', { timeout: 60_000 }, async () => {
    const log = await install('none', { noServices: true });
    await um.systemctl('start', NAME);
    await until('the unit to end', async () => (await show('ActiveState')).ActiveState === 'inactive');
    await sleep(2500); // past RestartSec
    assert.deepEqual(await show('ActiveState', 'Result', 'NRestarts'), { ActiveState: 'inactive', Result: 'success', NRestarts: '0' });
    assert.ok(events(log).every((e) => e.ev !== 'error'));
  });
});
