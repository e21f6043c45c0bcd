/**
 * The real daemon's cost by number of services: `dist/cmd/gitopper.js --user` spawned as the shipped
 * unit runs it (`node dist/cmd/gitopper.js`, the unit's `NODE_OPTIONS` and glibc malloc variables, no
 * other node flags) under the bench's systemd user manager, with 1, 10 and 100 services on one
 * upstream (the medium repo; service i links `svcNNN/etc`, 5 files; `action = ""`), and with
 * `largeCounts` services on the large repo (the same links in a history of 20,000 files), `-t 1s`
 * and default flags (`--verify-every 10`). For each count, after the daemon is ready and `warmPolls`
 * polls have passed:
 *  - polls are counted on the git server (each poll's fetch is `perPoll` HTTP requests, calibrated
 *    against `gitopper_machine_git_ops_total` from `/metrics`, which is scraped only at the start and
 *    end of the window: a scrape costs the daemon CPU);
 *  - CPU per poll = (utime + stime of the daemon and its waited-for children, /proc/<pid>/stat) over
 *    the window / polls in it: whole cycles of quiet and full polls, as the daemon runs;
 *  - RSS: VmRSS sampled every 250 ms (by /proc, costs the daemon nothing), at each tenth of the
 *    window and at its end, and the process's VmHWM.
 * BENCH_SCALE_ARGS (investigations, not for the record): more daemon flags, e.g. `--verify-every 1`;
 * BENCH_SCALE_NODE_OPTIONS: the daemon's NODE_OPTIONS instead of the unit's.
 * Beside it, the CLI's one-service pass (gitopper's sequence, lib/cli.ts) is timed the same way.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { makeKey } from '../../test/fakes/keys.js';
import { removeDirs } from '../../test/rig/repo.js';
import { startUserManager } from '../../test/rig/systemd.js';
import { cliPass, cliSetup } from '../lib/cli.js';
import { BenchGitServer, type ServerPorts } from '../lib/gitserver.js';
import { linksOf, type RepoName } from '../lib/repos.js';
import { childCpuMs, ROOT, sleep, statusKiB, summary, unitEnvironment, type Summary } from '../lib/util.js';

export interface ScaleArgs {
  tmp: string;
  server: ServerPorts;
  /** Service counts on the medium repo, e.g. [1, 10, 100]. */
  counts: number[];
  /** Service counts on the large repo (its history: 20,000 files, an ~80 MiB pack), e.g. [10]; none when omitted. */
  largeCounts?: number[];
  /** Polls measured per count (after the warm-up). */
  polls: number;
  /** Polls left to pass after `ready` before the window opens. */
  warmPolls: number;
  /** CLI one-service passes. */
  cliPasses: number;
  /**
   * When set (`--profile`): each daemon runs with the CPU-profile preload (cpu-prof-preload.mjs) and
   * `--heapsnapshot-signal=SIGUSR2`; a heap snapshot is taken at the window's end. Profiles and
   * snapshots land in `<profileDir>/scale-<N>/`; the CPU figures then include the profiler's cost.
   */
  profileDir?: string;
}

export interface ScaleRow {
  /** The upstream's repository (results before it was recorded: medium). */
  repo?: RepoName;
  services: number;
  /** ms from spawn to the `ready` log line (every service's first setup done). */
  readyMs: number;
  polls: number;
  /** HTTP requests per poll seen by the git server. */
  requestsPerPoll: number;
  /** ms of daemon CPU (itself + waited-for children) per poll over the window. */
  cpuMsPerPoll: number;
  /** The same by thread (`main`, V8's and libuv's threads by name) and `children` (waited-for child processes). */
  cpuSplitMsPerPoll: Record<string, number>;
  /** Wall ms per poll over the window (the interval's wait included). */
  wallMsPerPoll: number;
  /** MiB: RSS when the window closed, and over the window (every 250 ms sample). */
  rssEndMiB: number;
  rssMiB: Summary;
  /** MiB at each tenth of the window (by polls): flat or not. */
  rssTrendMiB: number[];
  /** MiB: VmHWM of the daemon at the window's end (start-up included). */
  hwmMiB: number;
  /** MiB: RSS right after `ready`. */
  rssReadyMiB: number;
  /**
   * Where the RSS is, from the daemon's own `/metrics` (prom-client's default metrics): V8's heap
   * (total = reserved, used = live after the last GC) and memory outside it that V8 knows of
   * (`external`: Buffers, typed arrays), in MiB, at `ready` and at each tenth of the window (ten
   * scrapes over the window: their CPU is in the figures, ~0.2 ms per poll).
   */
  heapTrend?: { at: string; rssMiB: number; heapTotalMiB: number; heapUsedMiB: number; externalMiB: number }[];
  errors: string[];
}

export interface ScaleResult {
  rows: ScaleRow[];
  cli: { passes: number; cpuMs: Summary; wallMs: Summary };
  env: Record<string, string>;
  pollsPlanned: number;
}

/** The repo of the CLI's pass and of the `counts` rows. */
const REPO = 'medium';
const MiB = (kib: number) => kib / 1024;

/** utime + stime + cutime + cstime of `pid`, ms (clock ticks of 10 ms). */
function cpuMsOf(pid: number): number {
  const s = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = s.slice(s.lastIndexOf(')') + 2).split(' ');
  return (Number(f[11]) + Number(f[12]) + Number(f[13]) + Number(f[14])) * 10;
}

/** CPU ms by thread name (/proc/<pid>/task/<tid>/stat: comm, utime + stime), plus `children` (cutime + cstime). */
function cpuByThread(pid: number): Record<string, number> {
  const out: Record<string, number> = {};
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    let s: string;
    try {
      s = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8');
    } catch {
      continue;
    }
    const name = Number(tid) === pid ? 'main' : s.slice(s.indexOf('(') + 1, s.lastIndexOf(')')).replace(/[0-9]+$/, '');
    const f = s.slice(s.lastIndexOf(')') + 2).split(' ');
    out[name] = (out[name] ?? 0) + (Number(f[11]) + Number(f[12])) * 10;
  }
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const g = f.slice(f.lastIndexOf(')') + 2).split(' ');
  out.children = (Number(g[13]) + Number(g[14])) * 10;
  return out;
}

/** The daemon as a child with its JSON log lines; resolves `ready` and the metrics address. */
function spawnDaemon(args: string[], env: Record<string, string>): { child: ChildProcess; ready: Promise<{ metrics: string }>; lines: string[]; stop: () => Promise<void> } {
  const child = spawn(process.execPath, [path.join(ROOT, 'dist', 'cmd', 'gitopper.js'), ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  const lines: string[] = [];
  let buf = '';
  let metrics: string | undefined;
  let stderr = '';
  const ready = new Promise<{ metrics: string }>((resolve, reject) => {
    let isReady = false;
    const check = () => {
      if (isReady && metrics) resolve({ metrics });
    };
    child.stdout!.setEncoding('utf8').on('data', (d: string) => {
      buf += d;
      let i: number;
      while ((i = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, i);
        buf = buf.slice(i + 1);
        if (lines.length < 2000) lines.push(line);
        try {
          const l = JSON.parse(line) as { msg?: string; what?: string; addr?: { port: number } };
          if (l.msg === 'ready') isReady = true;
          if (l.msg === 'listening' && l.what === 'metrics' && l.addr) metrics = `http://127.0.0.1:${l.addr.port}/metrics`;
          check();
        } catch {
          /* not JSON */
        }
      }
    });
    child.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.on('exit', (code) => reject(new Error(`daemon exited ${code} before ready: ${stderr.slice(-2000)}\n${lines.slice(-10).join('\n')}`)));
  });
  const stop = () =>
    new Promise<void>((resolve) => {
      if (child.exitCode !== null || child.signalCode !== null) return resolve();
      child.once('exit', () => resolve());
      child.kill('SIGTERM');
    });
  return { child, ready, lines, stop };
}

/** The memory figures of {@link ScaleRow.heapTrend} from one scrape of `metricsUrl`, labelled `at`. */
async function heapOf(metricsUrl: string, at: string, pid: number): Promise<NonNullable<ScaleRow['heapTrend']>[number]> {
  const text = await (await fetch(metricsUrl)).text();
  const v = (name: string) => MiB(Number(new RegExp(`^${name} ([0-9.e+]+)`, 'm').exec(text)?.[1] ?? NaN) / 1024);
  return { at, rssMiB: MiB(statusKiB(pid, 'VmRSS')), heapTotalMiB: v('nodejs_heap_size_total_bytes'), heapUsedMiB: v('nodejs_heap_size_used_bytes'), externalMiB: v('nodejs_external_memory_bytes') };
}

async function gitOps(metricsUrl: string): Promise<number> {
  const text = await (await fetch(metricsUrl)).text();
  const m = /^gitopper_machine_git_ops_total (\d+)/m.exec(text);
  if (!m) throw new Error('no gitopper_machine_git_ops_total in /metrics');
  return Number(m[1]);
}

/** Requests the git server has seen for `repo` since `mark`. */
async function requestsSince(server: BenchGitServer, mark: number): Promise<number> {
  return (await server.count(mark)).requests;
}

async function one(a: ScaleArgs, server: BenchGitServer, env: Record<string, string>, umEnv: Record<string, string>, n: number, repo: RepoName): Promise<ScaleRow> {
  const label = repo === REPO ? `${n}` : `${n}-${repo}`;
  const dir = path.join(a.tmp, `scale-${label}`);
  await mkdir(dir, { recursive: true });
  const url = server.url(`${repo}.git`);
  const services = Array.from({ length: n }, (_, i) => `
[[services]]
machine = "benchhost"
service = "svc${i}"
action = ""
dirs = [ { local = "${dir}/etc/svc${i}", link = "${linksOf(repo, i)[0]}" } ]
`).join('');
  const cfg = path.join(dir, 'config.toml');
  await mkdir(path.join(dir, 'keys'));
  const key = makeKey(path.join(dir, 'keys'), 'bench', 'ed25519');
  await writeFile(cfg, `[global]\nupstream = "${url}"\nmount = "${dir}/mount"\nkeys = [ { path = "${key.pub}" } ]\n${services}`);
  const errors: string[] = [];
  const t0 = performance.now();
  let profEnv: Record<string, string> = {};
  if (a.profileDir) {
    const pdir = path.join(a.profileDir, `scale-${label}`);
    await rm(pdir, { recursive: true, force: true });
    await mkdir(pdir, { recursive: true });
    profEnv = { NODE_OPTIONS: `${env.NODE_OPTIONS ?? ''} --import=${path.join(ROOT, 'bench', 'cpu-prof-preload.mjs')} --heapsnapshot-signal=SIGUSR2 --diagnostic-dir=${pdir}`.trim(), BENCH_CPU_PROF_DIR: pdir };
  }
  const d = spawnDaemon(['-c', cfg, '-h', 'benchhost', '-t', '1s', '--user', '--state-dir', path.join(dir, 'state'), '-m', '127.0.0.1:0', '-s', '127.0.0.1:0', '--insecure-http', ...(process.env.BENCH_SCALE_ARGS ?? '').split(' ').filter(Boolean)], { ...umEnv, ...env, ...profEnv });
  try {
    const { metrics } = await d.ready;
    const readyMs = performance.now() - t0;
    const pid = d.child.pid!;
    const rssReadyMiB = MiB(statusKiB(pid, 'VmRSS'));
    const heapTrend = [await heapOf(metrics, 'ready', pid)];
    // calibrate: HTTP requests per poll, over the warm-up polls
    const ops0 = await gitOps(metrics);
    const mark0 = await server.mark();
    while ((await gitOps(metrics)) < ops0 + a.warmPolls) await sleep(500);
    const ops1 = await gitOps(metrics);
    const perPoll = (await requestsSince(server, mark0)) / (ops1 - ops0);
    if (!(perPoll >= 1)) errors.push(`cannot count polls by requests (${perPoll} per poll)`);
    // the window
    if (a.profileDir) process.kill(pid, 'SIGWINCH'); // the CPU profile of the window starts here (<pid>-2.cpuprofile)
    const mark = await server.mark();
    const opsStart = await gitOps(metrics);
    const cpu0 = cpuMsOf(pid);
    const threads0 = cpuByThread(pid);
    const w0 = performance.now();
    const rss: number[] = [];
    const trend: number[] = [];
    let seen = 0;
    while (seen < a.polls) {
      await sleep(250);
      rss.push(MiB(statusKiB(pid, 'VmRSS')));
      seen = Math.floor((await requestsSince(server, mark)) / perPoll);
      while (trend.length < 10 && seen >= ((trend.length + 1) * a.polls) / 10) {
        trend.push(rss[rss.length - 1]!);
        heapTrend.push(await heapOf(metrics, `${trend.length}/10`, pid));
      }
    }
    const cpu = cpuMsOf(pid) - cpu0;
    const threads1 = cpuByThread(pid);
    const wall = performance.now() - w0;
    const rssEnd = MiB(statusKiB(pid, 'VmRSS'));
    const hwm = MiB(statusKiB(pid, 'VmHWM'));
    const polls = (await gitOps(metrics)) - opsStart;
    const warns = d.lines.filter((l) => /"level":(40|50|60)/.test(l));
    if (warns.length) errors.push(...warns.filter((l) => !l.includes('--insecure-http')).slice(0, 3));
    if (a.profileDir) {
      // the heap snapshot (written synchronously by the daemon's main thread): wait for its file
      const pdir = path.join(a.profileDir, `scale-${label}`);
      process.kill(pid, 'SIGWINCH');
      await sleep(1000); // the window's profile is written before the snapshot starts
      process.kill(pid, 'SIGUSR2');
      for (let i = 0; i < 600 && !readdirSync(pdir).some((f) => f.endsWith('.heapsnapshot')); i++) await sleep(100);
      await sleep(2000);
    }
    const cpuSplitMsPerPoll = Object.fromEntries(Object.entries(threads1).map(([k, v]) => [k, (v - (threads0[k] ?? 0)) / polls]).filter(([, v]) => (v as number) > 0));
    const row: ScaleRow = { repo, services: n, readyMs, polls, requestsPerPoll: perPoll, cpuMsPerPoll: cpu / polls, cpuSplitMsPerPoll, wallMsPerPoll: wall / polls, rssEndMiB: rssEnd, rssMiB: summary(rss), rssTrendMiB: trend, hwmMiB: hwm, rssReadyMiB, heapTrend, errors };
    process.stderr.write(`  scale ${label}: ready in ${(readyMs / 1000).toFixed(1)} s; ${polls} polls, CPU ${row.cpuMsPerPoll.toFixed(1)} ms/poll (${Object.entries(row.cpuSplitMsPerPoll).map(([k, v]) => `${k} ${v.toFixed(1)}`).join(', ')}), RSS ${rssEnd.toFixed(0)} MiB (ready ${rssReadyMiB.toFixed(0)}, ${row.rssMiB.min.toFixed(0)}–${row.rssMiB.max.toFixed(0)}), VmHWM ${hwm.toFixed(0)} MiB; heap total/used/external: ${heapTrend.map((h) => `${h.at} ${h.heapTotalMiB.toFixed(0)}/${h.heapUsedMiB.toFixed(0)}/${h.externalMiB.toFixed(0)}`).join(', ')}${errors.length ? `; ${errors.join('; ')}` : ''}\n`);
    return row;
  } finally {
    await d.stop();
    await removeDirs(dir).catch(() => undefined);
  }
}

async function cliOne(a: ScaleArgs, server: BenchGitServer): Promise<ScaleResult['cli']> {
  const co = path.join(a.tmp, 'scale-cli', 'svc0');
  await mkdir(path.dirname(co), { recursive: true });
  const links = linksOf(REPO, 0);
  await cliSetup(server.url(`${REPO}.git`), co, links);
  await cliPass(co, links);
  const cpu: number[] = [];
  const wall: number[] = [];
  for (let i = 0; i < a.cliPasses; i++) {
    const c0 = childCpuMs();
    const w0 = performance.now();
    await cliPass(co, links);
    wall.push(performance.now() - w0);
    cpu.push(childCpuMs() - c0);
  }
  await removeDirs(path.dirname(co));
  return { passes: a.cliPasses, cpuMs: summary(cpu), wallMs: summary(wall) };
}

export async function scaleSection(a: ScaleArgs): Promise<ScaleResult> {
  const server = new BenchGitServer(a.server);
  const env = unitEnvironment();
  if (process.env.BENCH_SCALE_NODE_OPTIONS !== undefined) env.NODE_OPTIONS = process.env.BENCH_SCALE_NODE_OPTIONS;
  const um = await startUserManager(path.join(a.tmp, 'scale-um'));
  const rows: ScaleRow[] = [];
  try {
    for (const n of a.counts) rows.push(await one(a, server, env, um.env as Record<string, string>, n, REPO));
    for (const n of a.largeCounts ?? []) rows.push(await one(a, server, env, um.env as Record<string, string>, n, 'large'));
  } finally {
    await um.stop();
  }
  const cli = await cliOne(a, server);
  process.stderr.write(`  scale CLI one service: ${cli.cpuMs.median.toFixed(1)} ms CPU, ${cli.wallMs.median.toFixed(1)} ms wall per pass\n`);
  return { rows, cli, env, pollsPlanned: a.polls };
}
