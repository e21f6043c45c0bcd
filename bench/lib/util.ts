/**
 * Bench helpers: statistics, process measurement (CPU of this process and of its waited-for
 * children, peak RSS of a process tree), running the git CLI, and small file-system helpers.
 */
import { execFile, spawn } from 'node:child_process';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository root (bench files live in `<root>/bench`, compiled into `<root>/dist/bench`). */
export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..');

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** min / median / max (and p95 when asked) of a sample, plus n. */
export interface Summary {
  n: number;
  min: number;
  median: number;
  max: number;
  p95?: number;
  mean?: number;
}

/** Nearest-rank percentile (p in 0..100) of `xs`. */
export function percentile(xs: readonly number[], p: number): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  const rank = Math.max(1, Math.ceil((p / 100) * s.length));
  return s[rank - 1]!;
}

export function summary(xs: readonly number[], withP95 = false): Summary {
  const s = [...xs].sort((a, b) => a - b);
  const n = s.length;
  const median = n === 0 ? NaN : n % 2 ? s[(n - 1) / 2]! : (s[n / 2 - 1]! + s[n / 2]!) / 2;
  return { n, min: s[0] ?? NaN, median, max: s[n - 1] ?? NaN, ...(withP95 ? { p95: percentile(s, 95), mean: s.reduce((a, b) => a + b, 0) / n } : {}) };
}

/** Least-squares slope of y over x. */
export function slope(xs: readonly number[], ys: readonly number[]): number {
  const n = xs.length;
  const mx = xs.reduce((a, b) => a + b, 0) / n;
  const my = ys.reduce((a, b) => a + b, 0) / n;
  let num = 0;
  let den = 0;
  for (let i = 0; i < n; i++) {
    num += (xs[i]! - mx) * (ys[i]! - my);
    den += (xs[i]! - mx) ** 2;
  }
  return den === 0 ? 0 : num / den;
}

const TICK_MS = 10; // sysconf(_SC_CLK_TCK) = 100 on Linux

/** CPU milliseconds (user + system) of this process's children that have been waited for (/proc/self/stat cutime + cstime). */
export function childCpuMs(): number {
  const stat = readFileSync('/proc/self/stat', 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // fields after "(comm)": [0]=state … utime=[11] stime=[12] cutime=[13] cstime=[14]
  return (Number(f[13]) + Number(f[14])) * TICK_MS;
}

/** CPU milliseconds (user + system) of this process. */
export function selfCpuMs(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
}

/** A field of /proc/<pid>/status in KiB (VmHWM, VmRSS), or NaN. */
export function statusKiB(pid: number | 'self', field: 'VmHWM' | 'VmRSS'): number {
  try {
    const m = new RegExp(`${field}:\\s+(\\d+) kB`).exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) : NaN;
  } catch {
    return NaN;
  }
}

/** Pids of every descendant of `pid` (from /proc/<pid>/task/<tid>/children). */
export function descendants(pid: number): number[] {
  const out: number[] = [];
  const walk = (p: number) => {
    let tasks: string[];
    try {
      tasks = readdirSync(`/proc/${p}/task`);
    } catch {
      return;
    }
    for (const t of tasks) {
      let kids = '';
      try {
        kids = readFileSync(`/proc/${p}/task/${t}/children`, 'utf8');
      } catch {
        continue;
      }
      for (const k of kids.split(' ').filter(Boolean)) {
        out.push(Number(k));
        walk(Number(k));
      }
    }
  };
  walk(pid);
  return out;
}

/**
 * Watches the processes this process spawns (its descendants) every `everyMs` and keeps the largest
 * VmHWM seen of any single one (what `/usr/bin/time -f %M` reports for a command: the peak RSS of
 * the largest process; processes living less than `everyMs` can be missed).
 */
export class TreePeak {
  private peak = 0;
  private readonly timer: NodeJS.Timeout;
  constructor(everyMs = 2) {
    this.timer = setInterval(() => this.sample(), everyMs);
  }
  sample(): void {
    for (const p of descendants(process.pid)) {
      const k = statusKiB(p, 'VmHWM');
      if (k > this.peak) this.peak = k;
    }
  }
  /** Stop watching; the largest VmHWM seen, in KiB. */
  stop(): number {
    clearInterval(this.timer);
    return this.peak;
  }
}

/** Environment of every git CLI call: fixed identity, no global/system config, no prompts (as the test rig). */
export const GIT_ENV: Record<string, string> = {
  GIT_AUTHOR_NAME: 'Gitopper Bench',
  GIT_AUTHOR_EMAIL: 'bench@gitopper.invalid',
  GIT_COMMITTER_NAME: 'Gitopper Bench',
  GIT_COMMITTER_EMAIL: 'bench@gitopper.invalid',
  GIT_CONFIG_NOSYSTEM: '1',
  GIT_CONFIG_GLOBAL: '/dev/null',
  GIT_TERMINAL_PROMPT: '0',
  GIT_ASKPASS: '/bin/false',
};

/** `git <args>`: resolves with stdout; rejects with stderr on a non-zero exit (unless `okCodes` has the code). */
export function git(args: readonly string[], opts: { cwd?: string; input?: string | Buffer; okCodes?: number[] } = {}): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = execFile('git', [...args], { cwd: opts.cwd, env: { ...process.env, ...GIT_ENV }, maxBuffer: 256 * 1024 * 1024, encoding: 'utf8' }, (err, stdout, stderr) => {
      const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : -1) : 0;
      if (err && !(opts.okCodes ?? []).includes(code)) reject(new Error(`git ${args.join(' ')} (in ${opts.cwd ?? '.'}) failed (${code}): ${stderr.trim()}`));
      else resolve(stdout);
    });
    if (opts.input !== undefined) child.stdin!.end(opts.input);
    else child.stdin!.end();
  });
}

/** Spawn `cmd args` with stdin from `input` (a stream writer callback); resolves on exit 0. */
export function pipeInto(cmd: string, args: string[], cwd: string, write: (w: NodeJS.WritableStream) => Promise<void>): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { cwd, env: { ...process.env, ...GIT_ENV }, stdio: ['pipe', 'ignore', 'pipe'] });
    let err = '';
    child.stderr.setEncoding('utf8').on('data', (d: string) => (err += d));
    child.on('error', reject);
    child.on('close', (code) => (code === 0 ? resolve() : reject(new Error(`${cmd} ${args.join(' ')} exited ${code}: ${err.trim()}`))));
    child.stdin.on('error', () => {}); // a failing child is reported by its exit code and stderr
    write(child.stdin).then(() => child.stdin.end(), reject);
  });
}

/** Bytes on disk below `p` (apparent file sizes, symlinks not followed). */
export function duBytes(p: string): number {
  let total = 0;
  const walk = (q: string) => {
    let st;
    try {
      st = statSync(q, { throwIfNoEntry: false } as never) as ReturnType<typeof statSync> | undefined;
    } catch {
      return;
    }
    if (!st) return;
    if (st.isDirectory()) for (const e of readdirSync(q, { withFileTypes: true })) {
      if (e.isSymbolicLink()) continue;
      walk(path.join(q, e.name));
    }
    else total += Number(st.size);
  };
  walk(p);
  return total;
}

/** Number of files below `p` whose name ends with `suffix`. */
export function countFiles(p: string, suffix: string): number {
  let n = 0;
  const walk = (q: string) => {
    for (const e of readdirSync(q, { withFileTypes: true })) {
      if (e.isDirectory()) walk(path.join(q, e.name));
      else if (e.name.endsWith(suffix)) n++;
    }
  };
  try {
    walk(p);
  } catch {
    /* missing */
  }
  return n;
}

/** Load of the machine now: 1/5/15-minute load averages, CPU pressure (PSI avg10/avg60), cores. */
export function machineLoad(): { loadavg: number[]; cpuPressureSomeAvg10?: number; cpuPressureSomeAvg60?: number; cores: number } {
  let psi: { cpuPressureSomeAvg10?: number; cpuPressureSomeAvg60?: number } = {};
  try {
    const m = /some avg10=([\d.]+) avg60=([\d.]+)/.exec(readFileSync('/proc/pressure/cpu', 'utf8'));
    if (m) psi = { cpuPressureSomeAvg10: Number(m[1]), cpuPressureSomeAvg60: Number(m[2]) };
  } catch {
    /* no PSI */
  }
  return { loadavg: os.loadavg().map((x) => Math.round(x * 100) / 100), ...psi, cores: os.cpus().length };
}

export const round = (x: number, digits = 1): number => (Number.isFinite(x) ? Math.round(x * 10 ** digits) / 10 ** digits : x);

/**
 * The environment the shipped unit sets (`Environment=` lines of systemd/gitopper.service, last
 * assignment wins, double quotes honoured: NODE_OPTIONS, the glibc malloc variables), so the bench
 * runs the daemon as systemd would.
 */
export function unitEnvironment(unitFile = path.join(ROOT, 'systemd', 'gitopper.service')): Record<string, string> {
  const env: Record<string, string> = {};
  for (const line of readFileSync(unitFile, 'utf8').split('\n')) {
    const m = /^\s*Environment=(.*)$/.exec(line);
    if (!m) continue;
    for (const a of m[1]!.match(/(?:[^\s"]+|"[^"]*")+/g) ?? []) {
      const kv = a.replace(/"/g, '');
      const i = kv.indexOf('=');
      if (i > 0) env[kv.slice(0, i)] = kv.slice(i + 1).trim();
    }
  }
  return env;
}

/** `NODE_OPTIONS` as the shipped unit sets it ("" if none). */
export function unitNodeOptions(unitFile?: string): string {
  return unitEnvironment(unitFile).NODE_OPTIONS ?? '';
}

/** The unit's environment without NODE_OPTIONS (the glibc malloc variables), as `KEY=value` words. */
export function unitMallocEnv(unitFile?: string): Record<string, string> {
  const { NODE_OPTIONS: _, ...rest } = unitEnvironment(unitFile);
  return rest;
}
