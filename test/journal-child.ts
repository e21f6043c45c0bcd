/**
 * Child of test/log.test.ts (not a test itself): runs a real systemd-journald and a real systemd
 * user manager, starts units whose stdout/stderr go to the journal (`StandardOutput=journal`), and
 * prints what `journalctl` then finds, as one JSON object on stdout ({@link JournalReport}).
 *
 * Usage: `unshare -m --propagation private node journal-child.js DIR` with
 * `GITOPPER_TEST_PARENT_MNTNS` = the caller's mount namespace (`readlink /proc/self/ns/mnt`). It
 * refuses to mount anything unless its own mount namespace differs from that one: the journald it
 * starts owns `/run/systemd/journal` (a tmpfs), `/run/log` and `/var/log/journal` (tmpfs) in this
 * nested namespace only, so neither the host's journal nor other test processes' units see it.
 */
import { execFile, spawn } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, readlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { prepareNamespace, startUserManager } from './rig/systemd.js';

/** One journal entry, as `journalctl -o json` gives it (the fields the test reads). */
export interface JournalEntry {
  MESSAGE: string;
  PRIORITY: string;
  SYSLOG_IDENTIFIER: string;
}

/** What the child found, per unit (keyed by its SyslogIdentifier=). */
export interface JournalReport {
  /** Per unit: what the unit's script wrote about its environment (JOURNAL_STREAM, the check's answer). */
  probes: Record<string, unknown>;
  /** Per unit: every journal entry of that identifier. */
  all: Record<string, JournalEntry[]>;
  /** Per unit: the entries `journalctl -p warning` returns. */
  warning: Record<string, JournalEntry[]>;
}

const JOURNALD = '/lib/systemd/systemd-journald';
const LOG_MODULE = fileURLToPath(new URL('../src/telemetry/log.js', import.meta.url));
const DAEMON = fileURLToPath(new URL('../cmd/gitopper.js', import.meta.url));

function run(cmd: string, args: string[]): Promise<string> {
  return new Promise((resolve, reject) =>
    execFile(cmd, args, { encoding: 'utf8', maxBuffer: 16 << 20 }, (err, stdout, stderr) => (err ? reject(new Error(`${cmd} ${args.join(' ')}: ${err.message} ${stderr}`)) : resolve(stdout))),
  );
}

async function until<T>(what: string, get: () => Promise<T | undefined>, ms = 20_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await get();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await sleep(50);
  }
}

async function main(): Promise<void> {
  const dir = path.resolve(process.argv[2] ?? '');
  const parent = process.env.GITOPPER_TEST_PARENT_MNTNS;
  if (!parent || readlinkSync('/proc/self/ns/mnt') === parent) throw new Error('refusing to mount: not in a mount namespace of my own (run me under unshare -m)');
  await prepareNamespace();
  for (const d of ['/run/systemd/journal', '/run/log', '/var/log/journal']) {
    if (!existsSync(d)) mkdirSync(d, { recursive: true });
    await run('mount', ['-t', 'tmpfs', '-o', 'mode=755', 'gitopper-test-journal', d]);
  }
  const journald = spawn(JOURNALD, [], { stdio: ['ignore', 'ignore', 'ignore'] });
  try {
    await until('journald\'s stdout socket', async () => (existsSync('/run/systemd/journal/stdout') ? true : undefined));
    const um = await startUserManager(path.join(dir, 'um'));
    try {
      const script = path.join(dir, 'logs.mjs');
      // argv: probe file, "journal" | "plain". Logs one line per level, then exits.
      writeFileSync(
        script,
        `import { writeFileSync } from 'node:fs';
import { createLogger, isJournalStream } from ${JSON.stringify(LOG_MODULE)};
const stream = isJournalStream(process.env.JOURNAL_STREAM, 1);
writeFileSync(process.argv[2], JSON.stringify({ JOURNAL_STREAM: process.env.JOURNAL_STREAM ?? null, isJournalStream: stream }));
const log = createLogger(true, process.stdout, process.argv[3] === 'journal' ? stream : false);
log.level = 'trace';
log.trace('at trace'); log.debug('at debug'); log.info('at info'); log.warn('at warn'); log.error('at error'); log.fatal('at fatal');
`,
      );
      // A valid config with no service for this host: the daemon logs one info line and exits 0.
      const config = path.join(dir, 'none.toml');
      writeFileSync(path.join(dir, 'ops.pub'), 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHRCOmsSn/uAv7diIASs8Imw89KqDLNLe4ZXXECX7Rk2 ops@config.example.net\n');
      writeFileSync(config, '[global]\nupstream = "https://git.invalid/x.git"\nmount = "/nonexistent"\nkeys = [{ path = "ops.pub" }]\n\n[[services]]\nmachine = "not-this-host.invalid"\nservice = "x"\n');
      const units: Record<string, string> = {
        'logs-journal': `${process.execPath} ${script} ${path.join(dir, 'logs-journal.json')} journal`,
        'logs-plain': `${process.execPath} ${script} ${path.join(dir, 'logs-plain.json')} plain`,
        'daemon-none': `${process.execPath} ${DAEMON} -c ${config}`,
        'daemon-badflag': `${process.execPath} ${DAEMON} --no-such-flag`,
      };
      const report: JournalReport = { probes: {}, all: {}, warning: {} };
      const jdir = path.join('/run/log/journal', readdirSync('/run/log/journal')[0] ?? '');
      const query = async (id: string, ...extra: string[]) =>
        (await run('journalctl', ['-D', jdir, '-o', 'json', '--no-pager', `SYSLOG_IDENTIFIER=${id}`, ...extra]))
          .split('\n')
          .filter(Boolean)
          .map((l) => JSON.parse(l) as JournalEntry);
      for (const [id, exec] of Object.entries(units)) {
        await um.writeUnit(`${id}.service`, ['[Service]', 'Type=oneshot', `ExecStart=${exec}`, 'StandardOutput=journal', 'StandardError=journal', `SyslogIdentifier=${id}`, ''].join('\n'));
        await um.trySystemctl('start', `${id}.service`);
        const probe = path.join(dir, `${id}.json`);
        if (existsSync(probe)) report.probes[id] = JSON.parse(readFileSync(probe, 'utf8'));
        // journald reads the stream on its own schedule: wait until the last line the unit writes is in.
        const last = id.startsWith('logs') ? 'at fatal' : id === 'daemon-none' ? 'nothing to do' : 'no-such-flag';
        report.all[id] = await until(`${id}'s last line in the journal`, async () => {
          const all = await query(id);
          return all.some((e) => typeof e.MESSAGE === 'string' && e.MESSAGE.includes(last)) ? all : undefined;
        });
        report.warning[id] = await query(id, '-p', 'warning');
      }
      process.stdout.write(`${JSON.stringify(report)}\n`);
    } finally {
      await um.stop();
    }
  } finally {
    journald.kill('SIGTERM');
  }
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exit(1);
  },
);
