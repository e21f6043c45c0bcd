/**
 * SystemdNotifier (src/adapters/systemd/notify.ts): sd_notify(3) through systemd-notify(1).
 *  - Without systemd: a fake `systemd-notify` script records what it is asked to send (arguments,
 *    NOTIFY_SOCKET, order), fails or hangs on demand.
 *  - With the real systemd-notify and a real systemd user manager (test/rig/systemd.ts): a
 *    `Type=notify` unit whose main process is a small node script using the adapter. `systemctl
 *    start` must return only after READY=1, 20 times in a row; STATUS=, STOPPING=1 and the watchdog
 *    must reach the manager; and a control shows why it works (the message carries the daemon's PID).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { chmod, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { NotifyError, summarizeStates, SystemdNotifier } from '../src/adapters/systemd/notify.js';
import { removeDirs, tmpDir } from './rig/repo.js';
import { canRunSandbox, startUserManager, type UserManager } from './rig/systemd.js';

const ADAPTER = fileURLToPath(new URL('../src/adapters/systemd/notify.js', import.meta.url));

/** `systemctl show -p …` of `unit` as a record. */
async function show(um: UserManager, unit: string, ...props: string[]): Promise<Record<string, string>> {
  const out = await um.systemctl('show', '-p', props.join(','), unit);
  return Object.fromEntries(out.split('\n').filter(Boolean).map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]));
}

/** Polls `check` every 20 ms until true; rejects after `ms` naming `what`. */
async function until(what: string, check: () => boolean | Promise<boolean>, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await sleep(20);
  }
}

describe('SystemdNotifier without systemd (fake systemd-notify)', () => {
  let tmp = '';
  let fake = '';
  let log = '';
  const calls = () => (existsSync(log) ? readFileSync(log, 'utf8').split('\n').filter(Boolean) : []);
  const env = (extra: Record<string, string> = {}) => ({ ...process.env, NOTIFY_SOCKET: '/run/fake/notify', FAKE_LOG: log, ...extra });

  before(async () => {
    tmp = await tmpDir('notify-unit');
    log = path.join(tmp, 'calls.log');
    fake = path.join(tmp, 'fake-notify');
    // Records "<NOTIFY_SOCKET>|<args>"; a SLOW=1 field makes it take 200 ms, FAKE_FAIL=1 makes it fail like
    // systemd-notify does when the socket refuses, FAKE_HANG=1 makes it hang.
    await writeFile(
      fake,
      [
        '#!/bin/sh',
        'case "$*" in *SLOW=1*) sleep 0.2;; esac',
        '[ -n "$FAKE_HANG" ] && exec sleep 30',
        'printf \'%s|%s\\n\' "$NOTIFY_SOCKET" "$*" >> "$FAKE_LOG"',
        'if [ -n "$FAKE_FAIL" ]; then echo "Failed to notify init system: Connection refused" >&2; exit 1; fi',
        'exit 0',
        '',
      ].join('\n'),
    );
    await chmod(fake, 0o755);
  });
  after(async () => {
    if (tmp) await removeDirs(tmp);
  });

  test('without NOTIFY_SOCKET every call is a no-op that resolves false', async () => {
    await rm(log, { force: true });
    const n = SystemdNotifier.fromEnv({ ...process.env, NOTIFY_SOCKET: undefined, WATCHDOG_USEC: '1000000' }, { command: fake });
    assert.equal(n.enabled, false);
    assert.equal(n.socket, undefined);
    assert.equal(n.watchdogMs, undefined, 'no watchdog without a socket');
    assert.equal(await n.ready('up'), false);
    assert.equal(await n.stopping(), false);
    assert.equal(await n.status('x'), false);
    assert.equal(await n.watchdog(), false);
    n.startWatchdog().stop();
    await n.close();
    assert.deepEqual(calls(), [], 'the command never ran');
    assert.equal(SystemdNotifier.fromEnv({ NOTIFY_SOCKET: '' }).enabled, false, 'empty = unset');
  });

  test('ready/status/stopping/notify send KEY=VALUE arguments after "--", with NOTIFY_SOCKET', async () => {
    await rm(log, { force: true });
    const n = SystemdNotifier.fromEnv(env(), { command: fake });
    assert.equal(n.enabled, true);
    assert.equal(n.socket, '/run/fake/notify');
    assert.equal(await n.ready(), true);
    assert.equal(await n.ready('3 services: 3 OK'), true);
    assert.equal(await n.status('line one\nline two\t!'), true);
    assert.equal(await n.stopping('SIGHUP: restarting'), true);
    assert.equal(await n.notify({ RELOADING: '1', STATUS: 'x=y' }), true);
    assert.deepEqual(calls(), [
      '/run/fake/notify|-- READY=1',
      '/run/fake/notify|-- READY=1 STATUS=3 services: 3 OK',
      '/run/fake/notify|-- STATUS=line one line two !',
      '/run/fake/notify|-- STOPPING=1 STATUS=SIGHUP: restarting',
      '/run/fake/notify|-- RELOADING=1 STATUS=x=y',
    ]);
  });

  test('messages are sent one at a time, in call order, even when an earlier one is slow', async () => {
    await rm(log, { force: true });
    const n = SystemdNotifier.fromEnv(env(), { command: fake });
    const results = await Promise.all([n.notify({ SLOW: '1', N: '1' }), n.notify({ N: '2' }), n.notify({ SLOW: '1', N: '3' }), n.notify({ N: '4' })]);
    assert.deepEqual(results, [true, true, true, true]);
    assert.deepEqual(calls().map((l) => /N=(\d)/.exec(l)?.[1]), ['1', '2', '3', '4']);
  });

  test('a bad field name or a value with a newline throws a TypeError at once (nothing sent)', async () => {
    await rm(log, { force: true });
    const n = SystemdNotifier.fromEnv(env(), { command: fake });
    assert.throws(() => n.notify({ ready: '1' }), TypeError);
    assert.throws(() => n.notify({ 'A=B': '1' }), TypeError);
    assert.throws(() => n.notify({ STATUS: 'a\nREADY=1' }), TypeError);
    assert.throws(() => n.notify({}), TypeError);
    await n.close();
    assert.deepEqual(calls(), []);
  });

  test('failures resolve false and reach onError as NotifyError with exit code, errno or signal', async () => {
    const errors: NotifyError[] = [];
    const onError = (e: NotifyError) => errors.push(e);

    const failing = SystemdNotifier.fromEnv(env({ FAKE_FAIL: '1' }), { command: fake, onError });
    assert.equal(await failing.ready('up'), false);
    assert.equal(errors.length, 1);
    assert.ok(errors[0] instanceof NotifyError);
    assert.equal(errors[0]!.code, 'NOTIFY_FAILED');
    assert.equal(errors[0]!.data.exitCode, 1);
    assert.deepEqual(errors[0]!.data.fields, ['READY=1', 'STATUS=up']);
    assert.match(errors[0]!.data.stderr, /Connection refused/);
    assert.match(errors[0]!.message, /exited 1: Failed to notify init system: Connection refused/);

    const missing = SystemdNotifier.fromEnv(env(), { command: path.join(tmp, 'no-such-systemd-notify'), onError });
    assert.equal(await missing.stopping(), false);
    assert.equal(errors[1]!.data.errno, 'ENOENT');
    assert.match(errors[1]!.message, /cannot run .*no-such-systemd-notify \(ENOENT\)/);

    const hanging = SystemdNotifier.fromEnv(env({ FAKE_HANG: '1' }), { command: fake, onError, timeoutMs: 200 });
    const t0 = Date.now();
    assert.equal(await hanging.status('x'), false);
    assert.ok(Date.now() - t0 < 5000, 'the timeout ended the hung send');
    assert.equal(errors[2]!.data.signal, 'SIGTERM');
    assert.match(errors[2]!.message, /killed with SIGTERM after 200 ms/);

    // A failure does not block the queue: the next message is still sent.
    await rm(log, { force: true });
    const n = SystemdNotifier.fromEnv(env(), { command: fake, onError });
    const bad = SystemdNotifier.fromEnv(env({ FAKE_FAIL: '1' }), { command: fake, onError });
    assert.equal(await bad.ready(), false);
    assert.equal(await n.ready(), true);
    assert.equal(errors.length, 4);
  });

  test('watchdog: WATCHDOG_USEC and WATCHDOG_PID as sd_watchdog_enabled(3) reads them', () => {
    const wd = (e: Record<string, string | undefined>, pid = 4242) => SystemdNotifier.fromEnv({ NOTIFY_SOCKET: '/x', ...e }, { pid }).watchdogMs;
    assert.equal(wd({}), undefined);
    assert.equal(wd({ WATCHDOG_USEC: '120000000' }), 120_000);
    assert.equal(wd({ WATCHDOG_USEC: '120000000', WATCHDOG_PID: '4242' }), 120_000);
    assert.equal(wd({ WATCHDOG_USEC: '120000000', WATCHDOG_PID: '999' }), undefined, 'meant for another process');
    assert.equal(wd({ WATCHDOG_USEC: '0' }), undefined);
    assert.equal(wd({ WATCHDOG_USEC: 'soon' }), undefined);
    assert.equal(wd({ WATCHDOG_USEC: '-5' }), undefined);
    assert.equal(wd({ WATCHDOG_USEC: '500' }), 1, 'sub-millisecond rounds up to 1 ms');
  });

  test('startWatchdog pings WATCHDOG=1 at once and every half period until stopped', async () => {
    await rm(log, { force: true });
    const n = SystemdNotifier.fromEnv(env({ WATCHDOG_USEC: '200000' }), { command: fake });
    assert.equal(n.watchdogMs, 200);
    const dog = n.startWatchdog();
    await sleep(550);
    dog.stop();
    await n.close();
    const pings = calls().length;
    assert.ok(pings >= 3 && pings <= 8, `expected ~1 + 550/100 pings, got ${pings}`);
    assert.ok(calls().every((l) => l === '/run/fake/notify|-- WATCHDOG=1'));
    await sleep(250);
    assert.equal(calls().length, pings, 'no ping after stop()');

    const none = SystemdNotifier.fromEnv(env(), { command: fake });
    assert.equal(await none.watchdog(), false, 'no WATCHDOG_USEC: no ping');
  });

  test('close() stops every watchdog and waits for queued messages', async () => {
    await rm(log, { force: true });
    const n = SystemdNotifier.fromEnv(env({ WATCHDOG_USEC: '100000' }), { command: fake });
    n.startWatchdog();
    n.startWatchdog();
    void n.notify({ SLOW: '1', LAST: '1' });
    await n.close();
    const count = calls().length;
    assert.ok(calls().some((l) => l.includes('LAST=1')), 'the queued message was sent before close() resolved');
    await sleep(250);
    assert.equal(calls().length, count, 'no ping after close()');
  });

  test('summarizeStates counts states in first-seen order', () => {
    assert.equal(summarizeStates([]), 'no services');
    assert.equal(summarizeStates(['OK']), '1 service: 1 OK');
    assert.equal(summarizeStates(['OK', 'BROKEN', 'OK', 'FREEZE']), '4 services: 2 OK, 1 BROKEN, 1 FREEZE');
  });
});

const sandbox = canRunSandbox();
const skipSandbox = sandbox.ok ? false : sandbox.why;

describe('SystemdNotifier with the real systemd-notify and a systemd user manager', { skip: skipSandbox }, () => {
  let tmp = '';
  let um: UserManager;
  let script = '';
  const events = (file: string) =>
    existsSync(file) ? readFileSync(file, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>) : [];

  /** Unit text: Type=notify running the script in `mode` with `delayMs` before READY, logging to `logFile`. */
  const unit = (mode: string, delayMs: number, logFile: string, extra: string[] = []) =>
    [
      '[Service]',
      'Type=notify',
      'TimeoutStartSec=3s',
      'TimeoutStopSec=5s',
      `ExecStart=${process.execPath} ${script} ${mode} ${delayMs} ${logFile}`,
      ...extra,
      '',
    ].join('\n');

  before(async () => {
    tmp = await tmpDir('notify-sd');
    um = await startUserManager(path.join(tmp, 'um'));
    script = path.join(tmp, 'svc.mjs');
    // The unit's main process. Modes: "adapter" (READY via the adapter, then STATUS on SIGUSR1,
    // STOPPING + exit after 1 s on SIGUSR2), "watchdog" (also pings the watchdog), "silent-watchdog"
    // (READY but no pings), "self-pid" (control: systemd-notify --pid=self, i.e. the message carries
    // systemd-notify's own PID instead of the daemon's).
    await writeFile(
      script,
      `import { appendFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { SystemdNotifier } from ${JSON.stringify(ADAPTER)};
const [mode, delay, logFile] = process.argv.slice(2);
const log = (e) => appendFileSync(logFile, JSON.stringify({ t: Date.now(), pid: process.pid, ...e }) + '\\n');
const n = SystemdNotifier.fromEnv(process.env, { onError: (err) => log({ ev: 'error', err: err.message }) });
log({ ev: 'start', enabled: n.enabled, watchdogMs: n.watchdogMs ?? null });
if (mode === 'watchdog') n.startWatchdog();
process.on('SIGTERM', () => process.exit(0));
process.on('SIGUSR1', () => void n.status('changed by SIGUSR1').then((ok) => log({ ev: 'status', ok })));
process.on('SIGUSR2', () => void n.stopping('going away').then((ok) => { log({ ev: 'stopping', ok }); setTimeout(() => process.exit(0), 1000); }));
setInterval(() => {}, 1 << 30);
await new Promise((r) => setTimeout(r, Number(delay)));
log({ ev: 'ready-sending' });
if (mode === 'self-pid') execFileSync('systemd-notify', ['--pid=self', '--ready']);
else log({ ev: 'ready-sent', ok: await n.ready('up: ' + mode) });
`,
    );
  });
  after(async () => {
    await um?.stop();
    if (tmp) await removeDirs(tmp);
  });

  test('systemctl start returns only after READY=1 (20 of 20 starts), with STATUS=', { timeout: 120_000 }, async (t) => {
    const logFile = path.join(tmp, 'ready.log');
    await um.writeUnit('ready.service', unit('adapter', 150, logFile));
    const after: number[] = [];
    for (let i = 0; i < 20; i++) {
      await rm(logFile, { force: true });
      const r = await um.trySystemctl('start', 'ready.service');
      const returned = Date.now();
      assert.equal(r.code, 0, `start ${i + 1}: ${r.stderr}`);
      const ev = events(logFile);
      const sending = ev.find((e) => e.ev === 'ready-sending');
      assert.ok(sending, `start ${i + 1}: READY was sent before systemctl start returned`);
      assert.ok((sending.t as number) <= returned);
      assert.equal(ev.find((e) => e.ev === 'start')?.enabled, true, 'NOTIFY_SOCKET was set');
      const p = await show(um, 'ready.service', 'ActiveState', 'SubState', 'StatusText', 'MainPID');
      assert.deepEqual(p, { ActiveState: 'active', SubState: 'running', StatusText: 'up: adapter', MainPID: String(sending.pid) });
      after.push(returned - (sending.t as number));
      await um.systemctl('stop', 'ready.service');
    }
    after.sort((a, b) => a - b);
    t.diagnostic(`systemctl start returned ${after[0]}–${after.at(-1)} ms (median ${after[10]}) after READY=1 was sent`);
  });

  test('control: the same message sent with systemd-notify\'s own PID is refused under NotifyAccess=main', { timeout: 30_000 }, async () => {
    // Why the adapter works with NotifyAccess=main: systemd-notify, run by a root daemon, sends with its
    // parent's PID (the unit's main PID). With --pid=self the sender is not the main process: refused.
    const logFile = path.join(tmp, 'self.log');
    await um.writeUnit('selfpid.service', unit('self-pid', 0, logFile, ['NotifyAccess=main']));
    const r = await um.trySystemctl('start', 'selfpid.service');
    assert.notEqual(r.code, 0, 'the start job failed');
    assert.equal((await show(um, 'selfpid.service', 'Result')).Result, 'timeout');
    assert.ok(events(logFile).some((e) => e.ev === 'ready-sending'), 'READY was sent, and ignored');
    await um.trySystemctl('reset-failed', 'selfpid.service');
  });

  test('STATUS= while running, then STOPPING=1 makes the unit "deactivating" before the daemon exits', { timeout: 30_000 }, async () => {
    const logFile = path.join(tmp, 'stopping.log');
    await um.writeUnit('stopping.service', unit('adapter', 0, logFile));
    await um.systemctl('start', 'stopping.service');
    await um.systemctl('kill', '--kill-who=main', '-s', 'SIGUSR1', 'stopping.service');
    await until('StatusText to change', async () => (await show(um, 'stopping.service', 'StatusText')).StatusText === 'changed by SIGUSR1');
    await um.systemctl('kill', '--kill-who=main', '-s', 'SIGUSR2', 'stopping.service');
    await until('the STOPPING=1 send', () => events(logFile).some((e) => e.ev === 'stopping'));
    assert.deepEqual(await show(um, 'stopping.service', 'ActiveState', 'StatusText'), { ActiveState: 'deactivating', StatusText: 'going away' });
    await until('the unit to stop', async () => (await show(um, 'stopping.service', 'ActiveState')).ActiveState === 'inactive');
    assert.ok(events(logFile).every((e) => e.ev !== 'error'));
  });

  test('watchdog: pings keep the unit running past WatchdogSec; without pings systemd kills it (Result=watchdog)', { timeout: 30_000 }, async () => {
    const logFile = path.join(tmp, 'watchdog.log');
    await um.writeUnit('dog.service', unit('watchdog', 0, logFile, ['WatchdogSec=1s']));
    await um.systemctl('start', 'dog.service');
    assert.equal(events(logFile).find((e) => e.ev === 'start')?.watchdogMs, 1000, 'WATCHDOG_USEC reached the daemon');
    await sleep(3000);
    assert.deepEqual(await show(um, 'dog.service', 'ActiveState', 'Result'), { ActiveState: 'active', Result: 'success' });
    await um.systemctl('stop', 'dog.service');

    const silentLog = path.join(tmp, 'silent.log');
    await um.writeUnit('silent.service', unit('silent-watchdog', 0, silentLog, ['WatchdogSec=1s']));
    await um.systemctl('start', 'silent.service');
    await until('the watchdog to fire', async () => (await show(um, 'silent.service', 'Result')).Result === 'watchdog', 5000);
    await um.trySystemctl('reset-failed', 'silent.service');
  });
});
