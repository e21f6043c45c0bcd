/**
 * Item 3, first setup: clone + checkout of one service's links, ours (IsoGit as the daemon builds
 * it: the store's first fetch in a forked child, then prepare, checkout), ours in-process
 * (`fetchInChild: false`: isomorphic-git's own cost in one process) and gitopper's CLI sequence,
 * each run in a fresh process (`setup-child.ts`): wall time and peak RSS (for ours: the process's,
 * the fetch child's, and the largest sum of both). One extra CPU-profiled in-process run per repo.
 */
import { execFile, spawn } from 'node:child_process';
import { mkdir, readdir, rm } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { BenchGitServer, type ServerPorts } from '../lib/gitserver.js';
import { summarize, type ProfileSummary } from '../lib/profile.js';
import { linksOf, type RepoName } from '../lib/repos.js';
import { ROOT, summary, unitEnvironment, type Summary } from '../lib/util.js';

const run = promisify(execFile);

export interface SetupArgs {
  tmp: string;
  server: ServerPorts;
  /** runs: ours and CLI; inprocRuns: ours with the fetch in-process. */
  repos: { name: RepoName; runs: number; inprocRuns: number }[];
  profileDir: string;
}

interface ChildResult {
  wallMs: number;
  cpuMs: number;
  peakKiB: number;
  fetchMs?: number;
  fetchPeakKiB?: number;
  baseKiB?: number;
  arrayBuffers?: number;
  childCpuMs?: number;
  children?: number;
  childPeakKiB?: number;
  childSampledPeakKiB?: number;
  childReportedPeakKiB?: number;
  childMs?: number;
  hostSumPeakKiB?: number;
}

export interface OursSetup {
  runs: number;
  wallMs: Summary;
  /** This process's CPU (with the fetch child: plus the child's, `childCpuMs`). */
  cpuMs: Summary;
  /** The process's own VmHWM (the daemon's peak). */
  peakMiB: Summary;
  fetchMs: Summary;
  fetchPeakMiB: Summary;
  baseMiB: Summary;
  /** Fetch children per run (1 with the daemon's options, 0 in-process). */
  children: number;
  childCpuMs?: Summary;
  /** The fetch child's peak RSS: max of the sampled VmHWM and the child's own maxRSS. */
  childPeakMiB?: Summary;
  /** Largest (process RSS + child RSS) sampled at one instant: what the host holds at once. */
  hostSumPeakMiB?: Summary;
  /** Child runs whose sampled VmHWM was missing (lived < 2 ms), for honesty. */
  childUnsampled?: number;
}

export interface SetupRepoResult {
  repo: RepoName;
  runs: number;
  /** IsoGit with the daemon's options (first fetch in a child process). */
  ours: OursSetup;
  /** IsoGit with the fetch in this process (`fetchInChild: false`). */
  inproc: OursSetup;
  cli: { wallMs: Summary; cpuMs: Summary; peakMiB: Summary };
  requests: { ours: number; cli: number };
  /** Bytes the git server sent for one setup. */
  bytes: { ours: number; cli: number };
  profile?: ProfileSummary;
  /** Medium repo: a rollback to the commit {@link ROLLBACK_BACK} before the tip, right after a first setup (blobs not yet present). */
  rollback?: { back: number; ours: { wallMs: number; bytes: number; requests: number }; cli: { wallMs: number; bytes: number; requests: number } };
}

/** How many commits back the rollback figure goes (the issue's "150 commits back"). */
export const ROLLBACK_BACK = 150;

/** One rollback run (see setup-child.ts `*-rollback`): the server's bytes and requests counted around the rollback alone. */
async function rollbackRun(server: BenchGitServer, mode: 'iso-rollback' | 'cli-rollback', url: string, dir: string, links: string[]): Promise<{ wallMs: number; bytes: number; requests: number }> {
  const env = mode === 'cli-rollback' ? process.env : { ...process.env, ...unitEnvironment() };
  const child = spawn(process.execPath, [path.join(ROOT, 'dist', 'bench', 'setup-child.js'), mode, url, path.join(dir, 'state'), path.join(dir, 'co'), JSON.stringify(links), String(ROLLBACK_BACK)], { env, stdio: ['pipe', 'pipe', 'inherit'] });
  let out = '';
  let before: Awaited<ReturnType<BenchGitServer['count']>> | undefined;
  const done = new Promise<void>((resolve, reject) => {
    child.stdout.setEncoding('utf8').on('data', (d: string) => {
      out += d;
      if (before === undefined && out.includes('ready\n')) {
        void server.count(1e12).then((c) => {
          before = c;
          child.stdin.write('go\n');
        });
      }
    });
    child.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`${mode} exited ${code}`))));
  });
  await done;
  const after = await server.count(before!.mark);
  const r = JSON.parse(out.trim().split('\n').pop()!) as { wallMs: number };
  await rm(dir, { recursive: true, force: true });
  return { wallMs: r.wallMs, bytes: after.bytesOut - before!.bytesOut, requests: after.requests };
}

async function child(mode: 'iso' | 'iso-inproc' | 'cli', url: string, dir: string, links: string[], nodeArgs: string[] = []): Promise<ChildResult> {
  // ours runs with the shipped unit's environment (NODE_OPTIONS, glibc malloc variables), as the daemon would
  const env = mode === 'cli' ? process.env : { ...process.env, ...unitEnvironment() };
  const { stdout } = await run(process.execPath, [...nodeArgs, path.join(ROOT, 'dist', 'bench', 'setup-child.js'), mode, url, path.join(dir, 'state'), path.join(dir, 'co'), JSON.stringify(links)], { maxBuffer: 1 << 20, env });
  return JSON.parse(stdout.trim().split('\n').pop()!) as ChildResult;
}

const mib = (kib: number) => kib / 1024;

function oursOf(rs: ChildResult[]): OursSetup {
  const withChild = rs.some((r) => (r.children ?? 0) > 0);
  return {
    runs: rs.length,
    wallMs: summary(rs.map((r) => r.wallMs)),
    cpuMs: summary(rs.map((r) => r.cpuMs)),
    peakMiB: summary(rs.map((r) => mib(r.peakKiB))),
    fetchMs: summary(rs.map((r) => r.fetchMs ?? NaN)),
    fetchPeakMiB: summary(rs.map((r) => mib(r.fetchPeakKiB ?? NaN))),
    baseMiB: summary(rs.map((r) => mib(r.baseKiB ?? NaN))),
    children: rs.length ? Math.max(...rs.map((r) => r.children ?? 0)) : 0,
    ...(withChild
      ? {
          childCpuMs: summary(rs.map((r) => r.childCpuMs ?? NaN)),
          childPeakMiB: summary(rs.map((r) => mib(r.childPeakKiB ?? NaN))),
          hostSumPeakMiB: summary(rs.map((r) => mib(r.hostSumPeakKiB ?? NaN))),
          childUnsampled: rs.filter((r) => !Number.isFinite(r.childSampledPeakKiB ?? NaN)).length,
        }
      : {}),
  };
}

export async function setupSection(a: SetupArgs): Promise<SetupRepoResult[]> {
  const server = new BenchGitServer(a.server);
  const out: SetupRepoResult[] = [];
  for (const { name, runs, inprocRuns } of a.repos) {
    const url = server.url(`${name}.git`);
    const links = linksOf(name, 0);
    const got: Record<'iso' | 'iso-inproc' | 'cli', ChildResult[]> = { iso: [], 'iso-inproc': [], cli: [] };
    const req = { ours: 0, cli: 0 };
    const bytes = { ours: 0, cli: 0 };
    for (let i = 0; i < Math.max(runs, inprocRuns); i++) {
      // alternate the order so no side always runs on a warmer cache
      const modes = (['iso', 'cli', 'iso-inproc'] as const).filter((m) => (m === 'iso-inproc' ? i < inprocRuns : i < runs));
      for (const mode of i % 2 === 0 ? modes : [...modes].reverse()) {
        const dir = path.join(a.tmp, `setup-${name}-${mode}-${i}`);
        const before = await server.count(1e12);
        const r = await child(mode, url, dir, links);
        const c = await server.count(before.mark);
        const sent = c.bytesOut - before.bytesOut;
        got[mode].push(r);
        if (mode === 'iso') {
          req.ours = c.requests;
          bytes.ours = sent;
        } else if (mode === 'cli') {
          req.cli = c.requests;
          bytes.cli = sent;
        }
        await rm(dir, { recursive: true, force: true });
      }
      const o = got.iso.at(-1);
      const ip = got['iso-inproc'].at(-1);
      const cl = got.cli.at(-1);
      process.stderr.write(
        `  setup ${name} run ${i + 1}: ours ${o ? `${Math.round(o.wallMs)} ms ${Math.round(mib(o.peakKiB))} MiB (child ${Math.round(mib(o.childPeakKiB ?? NaN))} MiB, sum ${Math.round(mib(o.hostSumPeakKiB ?? NaN))} MiB)` : '–'}, in-process ${ip ? `${Math.round(ip.wallMs)} ms ${Math.round(mib(ip.peakKiB))} MiB` : '–'}, cli ${cl ? `${Math.round(cl.wallMs)} ms ${Math.round(mib(cl.peakKiB))} MiB` : '–'}\n`,
      );
    }
    let profile: ProfileSummary | undefined;
    if (name !== 'small') {
      const dir = path.join(a.tmp, `setup-${name}-profile`);
      const pdir = path.join(a.profileDir, `setup-${name}`);
      await rm(pdir, { recursive: true, force: true });
      await mkdir(pdir, { recursive: true });
      await child('iso-inproc', url, dir, links, ['--cpu-prof', '--cpu-prof-dir', pdir]);
      const file = (await readdir(pdir)).find((f) => f.endsWith('.cpuprofile'));
      if (file) profile = summarize(path.join(pdir, file));
      await rm(dir, { recursive: true, force: true });
    }
    let rollback: SetupRepoResult['rollback'];
    if (name === 'medium') {
      const ours = await rollbackRun(server, 'iso-rollback', url, path.join(a.tmp, 'rollback-iso'), links);
      const cli = await rollbackRun(server, 'cli-rollback', url, path.join(a.tmp, 'rollback-cli'), links);
      rollback = { back: ROLLBACK_BACK, ours, cli };
      process.stderr.write(`  rollback ${ROLLBACK_BACK} back, ${name}: ours ${Math.round(ours.wallMs)} ms ${ours.bytes} B in ${ours.requests} request(s), cli ${Math.round(cli.wallMs)} ms ${cli.bytes} B in ${cli.requests}\n`);
    }
    const cli = got.cli;
    out.push({
      repo: name,
      runs,
      ours: oursOf(got.iso),
      inproc: oursOf(got['iso-inproc']),
      cli: { wallMs: summary(cli.map((r) => r.wallMs)), cpuMs: summary(cli.map((r) => r.cpuMs)), peakMiB: summary(cli.map((r) => mib(r.peakKiB))) },
      requests: req,
      bytes,
      ...(profile ? { profile } : {}),
      ...(rollback ? { rollback } : {}),
    });
  }
  return out;
}
