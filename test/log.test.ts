/**
 * src/telemetry/log.ts: journald priorities (issue 16, "logs journald can filter").
 *  - the sd-daemon(3) `<N>` prefix per pino level, and plain JSON without `journal`;
 *  - isJournalStream against real file descriptors (JOURNAL_STREAM = st_dev:st_ino, systemd.exec(5));
 *  - under a real systemd user manager with a real systemd-journald (test/journal-child.ts, in a
 *    mount namespace of its own): a unit that logs through createLogger gets JOURNAL_STREAM, its
 *    entries carry the right PRIORITY and `journalctl -p warning` keeps warn/error/fatal only; the
 *    same script without the prefix (control) is all PRIORITY 6 and `-p warning` finds nothing; the
 *    real daemon's log lines and its fatal flag error reach the journal at info and err.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, fstatSync, openSync, closeSync, readlinkSync } from 'node:fs';
import path from 'node:path';
import { Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { createLogger, isJournalStream, journalPriority } from '../src/telemetry/log.js';
import { removeDirs, tmpDir } from './rig/repo.js';
import { canRunSandbox } from './rig/systemd.js';
import type { JournalEntry, JournalReport } from './journal-child.js';

/** A Writable that keeps what is written to it. */
function sink(): { stream: Writable; text: () => string } {
  const chunks: string[] = [];
  return {
    stream: new Writable({
      write(chunk: Buffer | string, _enc, cb) {
        chunks.push(chunk.toString());
        cb();
      },
    }),
    text: () => chunks.join(''),
  };
}

const logAll = (journal: boolean) => {
  const out = sink();
  const log = createLogger(true, out.stream, journal);
  log.level = 'trace';
  const child = log.child({ component: 'tracker' });
  child.trace('t');
  child.debug('d');
  child.info({ service: 'grafana' }, 'i');
  child.warn('w');
  child.error('e');
  child.fatal('f');
  return out.text().split('\n').filter(Boolean);
};

describe('sd-daemon(3) priority prefix', () => {
  test('journalPriority: trace/debug 7, info 6, warn 4, error 3, fatal 2', () => {
    assert.deepEqual([10, 20, 30, 40, 50, 60].map(journalPriority), [7, 7, 6, 4, 3, 2]);
    assert.equal(journalPriority(35), 6, 'a custom level between info and warn is info');
    assert.equal(journalPriority(5), 7);
  });

  test('with journal: each line is <N> then the unchanged JSON line', () => {
    const lines = logAll(true);
    assert.deepEqual(lines.map((l) => /^<(\d)>/.exec(l)?.[1]), ['7', '7', '6', '4', '3', '2']);
    const objs = lines.map((l) => JSON.parse(l.slice(3)) as { level: number; msg: string; component: string });
    assert.deepEqual(objs.map((o) => [o.level, o.msg]), [[10, 't'], [20, 'd'], [30, 'i'], [40, 'w'], [50, 'e'], [60, 'f']]);
    assert.ok(objs.every((o) => o.component === 'tracker'), 'child loggers keep their fields');
  });

  test('without journal (pipes, files, tests): plain JSON, no prefix', () => {
    const lines = logAll(false);
    assert.equal(lines.length, 6);
    for (const l of lines) assert.equal((JSON.parse(l) as { component: string }).component, 'tracker');
  });

  test('the default stays plain: createLogger(debug, stream) writes JSON lines', () => {
    const out = sink();
    createLogger(false, out.stream).warn('x');
    assert.equal((JSON.parse(out.text()) as { level: number }).level, 40);
  });
});

describe('isJournalStream: JOURNAL_STREAM must name the fd itself (device:inode)', () => {
  let tmp = '';
  let fd = -1;
  let other = -1;
  before(async () => {
    tmp = await tmpDir('log-fd');
    fd = openSync(path.join(tmp, 'a'), 'w');
    other = openSync(path.join(tmp, 'b'), 'w');
  });
  after(async () => {
    closeSync(fd);
    closeSync(other);
    await removeDirs(tmp);
  });

  test('matches the fd whose st_dev:st_ino it names, and no other', () => {
    const st = fstatSync(fd, { bigint: true });
    const value = `${st.dev}:${st.ino}`;
    assert.equal(isJournalStream(value, fd), true);
    assert.equal(isJournalStream(value, other), false, 'another file on the same device');
    assert.equal(isJournalStream(`${st.dev}:${st.ino + 1n}`, fd), false);
    assert.equal(isJournalStream(`${st.dev + 1n}:${st.ino}`, fd), false);
  });

  test('unset, malformed, or a closed fd: false', () => {
    const st = fstatSync(fd, { bigint: true });
    for (const bad of [undefined, '', `${st.dev}`, `${st.dev}:`, `:${st.ino}`, `${st.dev}:${st.ino}:1`, ` ${st.dev}:${st.ino}`, 'a:b']) {
      assert.equal(isJournalStream(bad, fd), false, String(bad));
    }
    assert.equal(isJournalStream(`${st.dev}:${st.ino}`, 987_654), false);
  });
});

const sandbox = canRunSandbox();
const journald = existsSync('/lib/systemd/systemd-journald') && ['/usr/bin/journalctl', '/bin/journalctl'].some(existsSync);
const unshare = ['/usr/bin/unshare', '/bin/unshare'].some(existsSync);
const skip = !sandbox.ok ? sandbox.why : !journald ? 'systemd-journald/journalctl not installed (package systemd)' : !unshare ? 'unshare not installed (package util-linux)' : false;

describe('under a real systemd and journald', { skip }, () => {
  let tmp = '';
  let report: JournalReport;
  const prio = (es: JournalEntry[]) => es.map((e) => [e.PRIORITY, e.MESSAGE]);
  const msgOf = (e: JournalEntry) => (JSON.parse(e.MESSAGE) as { msg: string }).msg;

  before(async () => {
    tmp = await tmpDir('log-journal');
    const child = fileURLToPath(new URL('./journal-child.js', import.meta.url));
    const out = await new Promise<string>((resolve, reject) =>
      execFile(
        'unshare',
        ['-m', '--propagation', 'private', process.execPath, '--enable-source-maps', child, tmp],
        { encoding: 'utf8', timeout: 120_000, env: { ...process.env, GITOPPER_TEST_PARENT_MNTNS: readlinkSync('/proc/self/ns/mnt') } },
        (err, stdout, stderr) => (err ? reject(new Error(`journal child failed: ${err.message}\n${stderr}`)) : resolve(stdout)),
      ),
    );
    report = JSON.parse(out) as JournalReport;
  });
  after(async () => {
    if (tmp) await removeDirs(tmp);
  });

  test('systemd sets JOURNAL_STREAM for StandardOutput=journal and it names the unit\'s stdout', () => {
    const probe = report.probes['logs-journal'] as { JOURNAL_STREAM: string | null; isJournalStream: boolean };
    assert.match(String(probe.JOURNAL_STREAM), /^\d+:\d+$/);
    assert.equal(probe.isJournalStream, true);
  });

  test('each line is stored at its priority, the prefix stripped, the JSON intact', () => {
    const all = report.all['logs-journal']!;
    assert.deepEqual(all.map((e) => [e.PRIORITY, msgOf(e)]), [['7', 'at trace'], ['7', 'at debug'], ['6', 'at info'], ['4', 'at warn'], ['3', 'at error'], ['2', 'at fatal']]);
  });

  test('journalctl -p warning keeps warn, error and fatal only', () => {
    assert.deepEqual(report.warning['logs-journal']!.map(msgOf), ['at warn', 'at error', 'at fatal']);
  });

  test('control: the same lines without the prefix are all info, and -p warning finds none of them', () => {
    const all = report.all['logs-plain']!;
    assert.equal(all.length, 6);
    assert.ok(all.every((e) => e.PRIORITY === '6' && e.MESSAGE.startsWith('{')), JSON.stringify(prio(all)));
    assert.deepEqual(report.warning['logs-plain'], []);
  });

  test('the daemon (dist/cmd/gitopper.js) logs at info through the prefix; its fatal flag error is at err', () => {
    const none = report.all['daemon-none']!;
    const nothing = none.find((e) => e.MESSAGE.includes('nothing to do'));
    assert.ok(nothing, JSON.stringify(prio(none)));
    assert.equal(nothing.PRIORITY, '6');
    assert.equal(msgOf(nothing), 'no services for this host in the config: nothing to do');
    const bad = report.all['daemon-badflag']!;
    assert.deepEqual(prio(bad).filter(([, m]) => /no-such-flag/.test(m)).map(([p]) => p), ['3']);
    assert.ok(report.warning['daemon-badflag']!.some((e) => /^gitopper: .*no-such-flag/.test(e.MESSAGE)));
  });
});
