/**
 * Logging with pino: JSON lines on stdout, one child logger per component and per service
 * (fields `component` and `service`).
 *
 * Under systemd, when stdout is the journal (see {@link isJournalStream}), each line starts with the
 * sd-daemon(3) priority prefix `<N>` (journald strips it and stores N as the entry's `PRIORITY`), so
 * `journalctl -u gitopper -p warning` shows warnings and worse only. Anywhere else (a pipe, a file,
 * the tests) the lines are plain JSON; on a terminal (`--log-format auto`, the default) or with
 * `--log-format pretty` they are pino-pretty's readable lines. docs/daemon.md, "Logs".
 */
import { fstatSync } from 'node:fs';
import { pino, type Logger } from 'pino';
import { prettyFactory } from 'pino-pretty';

export type { Logger };

/** Values of `--log-format`: `json` (pino's lines), `pretty` (one readable line per entry), `auto`. */
export const LOG_FORMATS = ['auto', 'json', 'pretty'] as const;
/** One of {@link LOG_FORMATS}. */
export type LogFormat = (typeof LOG_FORMATS)[number];

/**
 * The format the logs are written in: `json` and `pretty` as asked; `auto` is `pretty` when the log
 * stream (stdout) is a terminal (`isTTY`) and `json` anywhere else (systemd's journal, a pipe, a file).
 */
export function chooseLogFormat(format: LogFormat, isTTY: boolean): 'json' | 'pretty' {
  if (format === 'auto') return isTTY ? 'pretty' : 'json';
  return format;
}

/**
 * pino-pretty's formatter for one JSON log line (with its newline): `[HH:MM:ss.l] INFO: msg {…}`, the
 * other fields as JSON on the same line; `pid` and `hostname` left out; colours when `colorize`. Lines that
 * are not JSON come back as they are.
 */
export function prettyFormatter(colorize: boolean): (line: string) => string {
  return prettyFactory({ colorize, translateTime: 'SYS:HH:MM:ss.l', ignore: 'pid,hostname', singleLine: true });
}

/** A pino destination that writes each JSON line to `out` as {@link prettyFormatter} shows it, synchronously. */
class PrettyDestination {
  readonly #format: (line: string) => string;
  constructor(private readonly out: NodeJS.WritableStream, colorize: boolean) {
    this.#format = prettyFormatter(colorize);
  }
  write(line: string): boolean {
    return this.out.write(this.#format(line));
  }
}

/**
 * The syslog priority (sd-daemon(3): `SD_DEBUG` 7 … `SD_EMERG` 0) of a pino level number:
 * trace (10) and debug (20) → 7, info (30) → 6, warn (40) → 4, error (50) → 3, fatal (60) → 2.
 * A level between two of pino's takes the priority of the one below it (a custom level 35 → 6);
 * anything below debug → 7. pino's levels are 10/20/30/40/50/60 (pino docs/api.md, "levels").
 */
export function journalPriority(level: number): number {
  if (level >= 60) return 2; // SD_CRIT
  if (level >= 50) return 3; // SD_ERR
  if (level >= 40) return 4; // SD_WARNING
  if (level >= 30) return 6; // SD_INFO
  return 7; // SD_DEBUG
}

/**
 * True when file descriptor `fd` is the stream to journald that systemd set up: `journalStream` (the
 * `JOURNAL_STREAM` environment variable) is `<device>:<inode>` in decimal and equals `fstat(fd)`'s
 * `st_dev:st_ino` (systemd.exec(5), "$JOURNAL_STREAM"; the check sd-daemon(3) and
 * sd_journal_stream_fd(3) recommend, since a child that inherited the variable may have had its
 * stdout redirected). False when the variable is unset or malformed, or `fd` is not open.
 */
export function isJournalStream(journalStream: string | undefined, fd: number): boolean {
  const m = /^(\d+):(\d+)$/.exec(journalStream ?? '');
  if (!m) return false;
  try {
    const st = fstatSync(fd, { bigint: true });
    return st.dev === BigInt(m[1]!) && st.ino === BigInt(m[2]!);
  } catch {
    return false;
  }
}

/**
 * A pino destination that writes each line to `out` behind its sd-daemon(3) prefix `<N>`
 * ({@link journalPriority}). pino tells it the level of each line through its documented metadata
 * protocol (`Symbol.for('pino.metadata')` = `pino.symbols.needsMetadataGsym`, pino docs/api.md,
 * "destination[Symbol.for('pino.metadata')]"), so the JSON itself is written unchanged.
 */
class JournalDestination {
  readonly [pino.symbols.needsMetadataGsym] = true;
  /** Set by pino before each write: the line's level number. */
  lastLevel = 30;
  constructor(private readonly out: NodeJS.WritableStream) {}
  write(line: string): boolean {
    return this.out.write(`<${journalPriority(this.lastLevel)}>${line}`);
  }
}

/**
 * The root logger: level `debug` when `debug` is true (gitopper `-d`), else `info`; lines go to
 * `destination` (default stdout). With `journal` true each line starts with its sd-daemon(3)
 * priority prefix (`<6>{"level":30,…}`): pass `isJournalStream(process.env.JOURNAL_STREAM, 1)`
 * when `destination` is stdout. Without it the lines are plain JSON, one object per line.
 * `format` `pretty` writes each entry for a person instead ({@link prettyFormatter}; colours when
 * `destination` is a terminal and `NO_COLOR` is not set), with no priority prefix; `json` (the
 * default) is the above. Pick it with {@link chooseLogFormat}.
 */
export function createLogger(debug: boolean, destination: NodeJS.WritableStream = process.stdout, journal = false, format: 'json' | 'pretty' = 'json'): Logger {
  const opts = { level: debug ? 'debug' : 'info', base: { pid: process.pid } };
  if (format === 'pretty') {
    const colorize = (destination as { isTTY?: boolean }).isTTY === true && process.env.NO_COLOR === undefined;
    return pino(opts, new PrettyDestination(destination, colorize));
  }
  return journal ? pino(opts, new JournalDestination(destination)) : pino(opts, destination);
}
