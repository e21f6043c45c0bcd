/**
 * Runs the real daemon (`dist/cmd/gitopper.js`) as a child process for end-to-end tests and reads
 * its JSON log lines (pino) from stdout.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';

/** One pino log line. */
export type LogLine = Record<string, unknown> & { msg?: string; level?: number; service?: string };

/** A running daemon. */
export interface Daemon {
  readonly pid: number;
  readonly lines: LogLine[];
  /** stderr so far. */
  stderr(): string;
  /** Resolve with the first line (from index `from`) matching `pred`; reject after `ms` with the log tail. */
  waitLog(pred: (l: LogLine) => boolean, what: string, ms?: number, from?: number): Promise<LogLine>;
  /** Base URL of the REST API once it listens (from the `listening` log line): `http://127.0.0.1:port`, or `https://…` without --insecure-http. */
  apiUrl(): Promise<string>;
  /** Peak resident set size so far, in KiB (VmHWM). */
  peakRssKiB(): number;
  /** Send `signal` and resolve with the exit code. */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
  /** Resolves with the exit code once the process has exited on its own. */
  exited(): Promise<number | null>;
}

/** Spawn the daemon with `args`; `env` is added to the environment. */
export function startDaemon(args: string[], env: Record<string, string> = {}): Daemon {
  const child: ChildProcess = spawn(process.execPath, ['--enable-source-maps', path.resolve('dist/cmd/gitopper.js'), ...args], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const lines: LogLine[] = [];
  let err = '';
  let buf = '';
  const waiters = new Set<() => void>();
  child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
    buf += chunk;
    let i: number;
    while ((i = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, i);
      buf = buf.slice(i + 1);
      try {
        lines.push(JSON.parse(line) as LogLine);
      } catch {
        lines.push({ msg: `(not json) ${line}` });
      }
    }
    for (const w of waiters) w();
  });
  child.stderr!.setEncoding('utf8').on('data', (c: string) => (err += c));
  const exit = new Promise<number | null>((resolve) => child.on('exit', (code) => {
    for (const w of waiters) w();
    resolve(code);
  }));
  let exited = false;
  void exit.then(() => (exited = true));
  const tail = () => `${lines.slice(-15).map((l) => JSON.stringify(l)).join('\n')}\nstderr: ${err}`;
  return {
    pid: child.pid!,
    lines,
    stderr: () => err,
    waitLog(pred, what, ms = 20_000, from = 0) {
      return new Promise((resolve, reject) => {
        const check = () => {
          const hit = lines.slice(from).find(pred);
          if (hit) return done(() => resolve(hit));
          if (exited) return done(() => reject(new Error(`daemon exited while waiting for ${what}\n${tail()}`)));
        };
        const timer = setTimeout(() => done(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}\n${tail()}`))), ms);
        const done = (f: () => void) => {
          clearTimeout(timer);
          waiters.delete(check);
          f();
        };
        waiters.add(check);
        check();
      });
    },
    async apiUrl() {
      const l = await this.waitLog((x) => x.msg === 'listening' && x.what === 'api', 'the API to listen');
      const addr = l.addr as { address: string; port: number };
      return `${l.scheme === 'https' ? 'https' : 'http'}://127.0.0.1:${addr.port}`;
    },
    peakRssKiB() {
      const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${child.pid}/status`, 'utf8'));
      return m ? Number(m[1]) : NaN;
    },
    async stop(signal = 'SIGTERM') {
      if (!exited) child.kill(signal);
      return exit;
    },
    exited: () => exit,
  };
}
