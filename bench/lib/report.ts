/** Result types of a bench run and the renderer of docs/performance.md. */
import type { DaemonResult, Latency } from '../sections/daemon.js';
import { leanRows, type LeanInputs } from './report-lean.js';
import type { ScaleResult } from '../sections/scale.js';
import { renderScale } from './report-scale.js';
import type { IdleResult, IdleRow } from '../sections/idle.js';
import type { SetupRepoResult } from '../sections/setup.js';
import type { SteadyResult } from '../sections/steady.js';
import type { ProfileSummary } from './profile.js';
import { slope, summary, type Summary } from './util.js';
import type { machineLoad } from './util.js';
import { findings } from './findings.js';
export { isLat };

export interface BenchResults {
  date: string;
  quick: boolean;
  /** Only some sections ran (`npm run bench -- SECTION…`): kept in a file of its own, never the "before" of a full run. */
  partial?: boolean;
  machine: { cpu: string; cores: number; memGiB: number; kernel: string; node: string; git: string; isomorphicGit: string };
  load: { start: ReturnType<typeof machineLoad>; end: ReturnType<typeof machineLoad> };
  repos: { name: string; files: number; commits: number; packMiB: number; generateSeconds: number }[];
  seconds: Record<string, number>;
  /** What the bench found in src/adapters/git*.ts when it ran (to say which recommended fixes are in). */
  src?: SrcFeatures;
  setup?: SetupRepoResult[];
  idle?: IdleResult;
  steady?: SteadyResult[];
  daemon?: DaemonResult;
  scale?: ScaleResult;
  /** The results file the report compared with ("before"), relative to the repository. */
  previousFile?: string;
}

export const f0 = (x: number) => (Number.isFinite(x) ? x.toFixed(0) : '–');
export const f1 = (x: number) => (Number.isFinite(x) ? x.toFixed(1) : '–');
export const ms = (x: number) => (Number.isFinite(x) ? (x >= 100 ? `${f0(x)} ms` : `${f1(x)} ms`) : '–');
export const ratio = (a: number, b: number) => (Number.isFinite(a / b) ? `${(a / b).toFixed(a / b >= 10 ? 0 : a / b >= 1 ? 1 : 2)}×` : '–');
const range = (s: Summary, fmt = ms) => `${fmt(s.median)} (${fmt(s.min)}–${fmt(s.max)})`;
export const mib = (x: number) => (Number.isFinite(x) ? `${f0(x)} MiB` : '–');
export const bytes = (b: number) => (b >= 2 ** 20 ? `${(b / 2 ** 20).toFixed(1)} MiB` : b >= 1024 ? `${(b / 1024).toFixed(1)} KiB` : `${f0(b)} B`);
const yes = (ok: boolean | undefined) => (ok === undefined ? 'n/a' : ok ? '**met**' : '**not met**');

function isLat(x: Latency | { skipped: string } | undefined): x is Latency {
  return x !== undefined && 'p95' in x;
}

function profileTable(title: string, p: ProfileSummary | undefined): string {
  if (!p) return '';
  const mods = p.byCaller.map((m) => `${m.module} ${f1(m.share)}%`).join(', ');
  const fns = p.topFunctions.slice(0, 8).map((t) => `| \`${t.fn}\` | ${t.module} | ${f0(t.ms)} ms | ${f1(t.share)}% |`).join('\n');
  return `**${title}** — ${f0(p.busyMs)} ms of CPU sampled${p.busyMs < 50 ? ' (too few samples to rank functions reliably)' : ''}. By package, native work (fs, zlib, hashing, buffers) charged to the package that asked for it: ${mods}.\n\n| function (self time) | package | ms | share of CPU |\n|---|---|---|---|\n${fns}\n`;
}

export interface SrcFeatures {
  /** IsoGit.fetch asks `GET info/refs` first and keeps refs/heads/<branch> (old finding 1). */
  fetchShortcut: boolean;
  /** deployed() reads objects through the store's gitdir (old finding 2). */
  storeReads: boolean;
  /** drift() still uses statusMatrix (old finding 3 open). */
  driftStatusMatrix: boolean;
  /** drift() walks STAGE/WORKDIR (old finding 3 in). */
  driftWalk?: boolean;
  /** The tracker has quiet polls (`verifyEveryPolls`, old finding 4). */
  quietPolls?: boolean;
  /** IsoGit can fetch in a child process (old finding 5a). */
  fetchInChild?: boolean;
  /** Pack compaction exists (old finding 6). */
  compaction: boolean;
  /** Compaction runs in the background and is swapped in at the next fetch (git-compact.ts `Compactor`). */
  compactionInBackground?: boolean;
  /** The third argument of `new IsoGit(…)` in src/daemon/host-ports.ts, and the bench's (lib/core.ts). */
  daemonGitOptions?: string;
  benchGitOptions?: string;
  /** NODE_OPTIONS of systemd/gitopper.service. */
  unitNodeOptions?: string;
}

/** Derived steady-state figures: raw RSS over the last 100 passes, and slopes of the post-GC samples (every 100 passes). */
export function steadyStats(s: SteadyResult): { rssLast100: Summary; gcHeapSlope: number; gcRssSlope: number; rssSlope: number } {
  const last = s.samples.filter((x) => x.pass > s.passesDone - 100 && x.pass > 0);
  const gc = s.samples.filter((x) => x.gcHeapMiB !== undefined);
  const xs = gc.map((x) => x.pass / 100);
  const raw = s.samples.filter((x) => x.pass > 0);
  return {
    rssLast100: summary(last.map((x) => x.rssMiB)),
    gcHeapSlope: gc.length >= 3 ? slope(xs, gc.map((x) => x.gcHeapMiB!)) : NaN,
    gcRssSlope: gc.length >= 3 ? slope(xs, gc.map((x) => x.gcRssMiB!)) : NaN,
    // every raw sample of the run (one per 10 passes): 100 points, so one sample taken next to a
    // compaction's swap cannot tilt it as it tilts the 10 post-GC ones
    rssSlope: raw.length >= 3 ? slope(raw.map((x) => x.pass / 100), raw.map((x) => x.rssMiB)) : NaN,
  };
}

/** The previous results file (the "before" column): its path and its parsed JSON, read defensively. */
export type Previous = { file: string; data: unknown } | undefined;

/** `o[k0][k1]…`, or undefined as soon as a step is missing. */
function at(o: unknown, ...keys: (string | number)[]): unknown {
  let x = o;
  for (const k of keys) {
    if (x === null || typeof x !== 'object') return undefined;
    x = (x as Record<string | number, unknown>)[k];
  }
  return x;
}
const num = (x: unknown): number | undefined => (typeof x === 'number' && Number.isFinite(x) ? x : undefined);
const arr = (x: unknown): unknown[] => (Array.isArray(x) ? x : []);

/** The figures of a previous results file the report compares with (old and new shapes). */
export interface PrevFigures {
  file: string;
  date: string;
  pullP95?: number;
  pollP95?: number;
  hookP95?: number;
  /** The nothing-new pass at `n` services, by what it was then: old files drove passes by pull (every pass full). */
  idle: (n: number, variants: string[]) => { wallMs?: number; cpuMs?: number; requests?: number; bytes?: number; fetchMs?: number; variant: string } | undefined;
  /** First setup of `repo`: wall, the process's peak, the host's peak (= the process's when the fetch ran in it). */
  setup: (repo: string) => { wallMs?: number; peakMiB?: number; hostMiB?: number; cliWallMs?: number } | undefined;
  /** Steady state of the variant as the daemon ran then ('ours' in old files, 'shipped' in new ones). */
  steady?: { passesDone?: number; rssLast100?: number; rssMin?: number; rssMax?: number; storeRatio?: number; packs?: number; commits?: number; peakMiB?: number; passMs?: number };
  apiRate?: number;
}

export function previousFigures(prev: Previous): PrevFigures | undefined {
  if (!prev) return undefined;
  const d = prev.data;
  const rows = arr(at(d, 'idle', 'rows'));
  const steadyAll = arr(at(d, 'steady'));
  const st = steadyAll.find((x) => at(x, 'variant') === 'shipped') ?? steadyAll.find((x) => at(x, 'adapter') === 'ours');
  let steady: PrevFigures['steady'];
  if (st) {
    const done = num(at(st, 'passesDone')) ?? 0;
    const last = arr(at(st, 'samples')).filter((x) => (num(at(x, 'pass')) ?? -1) > done - 100 && (num(at(x, 'pass')) ?? 0) > 0).map((x) => num(at(x, 'rssMiB'))).filter((x): x is number => x !== undefined);
    const sm = summary(last);
    const bytesNow = num(at(st, 'store', 'bytes'));
    const fresh = num(at(st, 'store', 'freshIsoBytes'));
    steady = { passesDone: done, rssLast100: last.length ? sm.median : undefined, rssMin: last.length ? sm.min : undefined, rssMax: last.length ? sm.max : undefined, storeRatio: bytesNow && fresh ? bytesNow / fresh : undefined, packs: num(at(st, 'store', 'packs')), commits: num(at(st, 'commits')), peakMiB: num(at(st, 'peakRssMiB')), passMs: num(at(st, 'passWallMs', 'all', 'median')) };
  }
  return {
    file: prev.file,
    date: typeof at(d, 'date') === 'string' ? (at(d, 'date') as string) : '',
    pullP95: num(at(d, 'daemon', 'push', 'ours /do/pull', 'p95')),
    pollP95: num(at(d, 'daemon', 'push', 'ours -t 1s', 'p95')),
    hookP95: num(at(d, 'daemon', 'push', 'ours /hook', 'p95')),
    idle: (n, variants) => {
      for (const v of variants) {
        const x = rows.find((r) => at(r, 'services') === n && at(r, 'variant') === v);
        if (x) return { wallMs: num(at(x, 'wallMs', 'median')), cpuMs: num(at(x, 'cpuMs', 'median')), requests: num(at(x, 'requestsPerPass')), bytes: num(at(x, 'bytesPerPass')), fetchMs: num(at(x, 'fetchMs', 'median')), variant: v };
      }
      return undefined;
    },
    setup: (repo) => {
      const x = arr(at(d, 'setup')).find((r) => at(r, 'repo') === repo);
      if (!x) return undefined;
      const peak = num(at(x, 'ours', 'peakMiB', 'median'));
      return { wallMs: num(at(x, 'ours', 'wallMs', 'median')), peakMiB: peak, hostMiB: num(at(x, 'ours', 'hostSumPeakMiB', 'median')) ?? peak, cliWallMs: num(at(x, 'cli', 'wallMs', 'median')) };
    },
    ...(steady ? { steady } : {}),
    apiRate: num(at(d, 'daemon', 'api', 'rpsPerCpuSecond')),
  };
}

/** 1 MB (decimal, as the targets are written) in MiB. */
export const MB = 1e6 / 2 ** 20;
const opt = (x: number | undefined, f: (v: number) => string) => (x === undefined ? '–' : f(x));

/** Figures the targets, the findings and the sections share. */
export function figures(r: BenchResults) {
  const idle = r.idle?.rows ?? [];
  const row = (n: number, v: IdleRow['variant']) => idle.find((x) => x.services === n && x.variant === v);
  const maxN = Math.max(...idle.map((x) => x.services), 0);
  const steady = r.steady ?? [];
  return {
    idle,
    row,
    maxN,
    cli1: row(1, 'cli'),
    med: r.setup?.find((x) => x.repo === 'medium'),
    large: r.setup?.find((x) => x.repo === 'large'),
    shipped: steady.find((s) => s.variant === 'shipped'),
    bare: steady.find((s) => s.variant === 'no-unit-env') ?? steady.find((s) => s.variant === 'no-node-options'),
    nodeOnly: steady.find((s) => s.variant === 'node-options-only'),
    lat: (k: string) => {
      const x = r.daemon?.push[k];
      return isLat(x) ? x : undefined;
    },
  };
}

/**
 * met: 1,000 passes done, RSS over the last 100 passes below 150 MB (median of 10 samples), and no
 * upward trend: the post-GC heap (the leak check) grows < 0.25 MiB and RSS (least squares over every
 * sample of the run) < 1 MiB per 100 passes.
 */
export function steadyOk(s: SteadyResult | undefined): boolean | undefined {
  if (!s) return undefined;
  const x = steadyStats(s);
  return s.passesDone >= 1000 && x.rssLast100.median < 150 * MB && x.gcHeapSlope < 0.25 && x.rssSlope < 1;
}

const variantName: Record<IdleRow['variant'], string> = { quiet: 'ours, quiet poll', 'full-verify': 'ours, full-verify poll', cycle: 'ours, mean of a 10-poll cycle', pull: 'ours, pull (full)', cli: 'CLI' };

export function renderReport(r: BenchResults, jsonFile: string, previous?: Previous): string {
  const out: string[] = [];
  const p = (s = '') => out.push(s);
  const L = r.load;
  const loaded = Math.max(L.start.loadavg[0] ?? 0, L.end.loadavg[0] ?? 0) > 0.5;
  const prev = previousFigures(previous);
  const F = figures(r);
  const { row, maxN, cli1, med, large, shipped } = F;
  const unitOpts = r.src?.unitNodeOptions || r.daemon?.nodeOptions || '';
  p('# Performance');
  p();
  p(`Measured by \`npm run bench\` (\`bench/\`) on ${r.date.slice(0, 16).replace('T', ' ')} UTC in ${f0(r.seconds.total ?? NaN)} s; every figure of this page comes from that one run, whose raw data (all samples, profiles summarised) is \`${jsonFile}\`${prev ? `, except the **before** figures, which are those of the previous full run, \`${prev.file}\` (${prev.date.slice(0, 16).replace('T', ' ')} UTC, before the fixes it recommended landed in \`src/\`)` : ''}. This page is rewritten by each full run.`);
  p();
  p(`- Machine: ${r.machine.cpu}, ${r.machine.cores} cores, ${r.machine.memGiB} GiB RAM, Linux ${r.machine.kernel}; Node ${r.machine.node}, ${r.machine.git}, isomorphic-git ${r.machine.isomorphicGit}.`);
  p(`- Load: 1-minute load average ${L.start.loadavg[0]} at the start and ${L.end.loadavg[0]} at the end${L.start.cpuPressureSomeAvg60 !== undefined ? `; CPU pressure (PSI some avg60) ${L.start.cpuPressureSomeAvg60}% → ${L.end.cpuPressureSomeAvg60}%` : ''}.${loaded ? ' Other work (concurrent test runs) shared the 2 cores: absolute times are pessimistic, ratios less affected since both sides ran interleaved in the same minutes.' : ''}`);
  p(`- **ours** = the code in \`src/\` as the daemon runs it: \`IsoGit\` built as \`src/daemon/host-ports.ts\` builds it (\`${r.src?.daemonGitOptions ?? '?'}\`: a partial clone: commits and trees, then the blobs under the links; a store's first fetch of a whole history, from an upstream that cannot filter, in a forked child process, \`dist/cmd/gitopper-fetch.js\`; every other option at the adapter's default, so the store is compacted above 16 packs), passes driven by the poll timer with the tracker's default \`--verify-every\` (${r.idle?.verifyEveryPolls ?? 10}: a poll that finds the tip unchanged skips the services settled at it, every 10th such poll is a full pass; a pull is always a full pass), and node with the shipped unit's environment (\`NODE_OPTIONS=${unitOpts || 'none'}\` and the glibc malloc variables \`MALLOC_ARENA_MAX\`, \`MALLOC_MMAP_THRESHOLD_\`, read from \`systemd/gitopper.service\`) wherever a daemon, a first setup or the steady state runs. **CLI** = gitopper's own mechanism, the git CLI sequence (\`clone --filter=blob:none --no-checkout --sparse\`, \`sparse-checkout set\`, \`checkout\`; per pass and service \`stash\`, \`fetch\`, \`diff --name-only\`, \`merge\`, \`rev-parse\`), on the same loopback git server (git-http-backend, \`uploadpack.allowFilter\` on, as GitHub) and the same repositories. Ratio = ours / CLI.`);
  p(`- Medians of ≥ 5 runs with (min–max), except the large repository's first setup (${large?.runs ?? '–'} runs, ${large?.inproc.runs ?? '–'} in-process: each takes ~5 s and ~450 MiB, and the whole bench must stay under 10 minutes) and the time-capped steady-state variants (§4). Targets in MB are decimal (120 MB = ${f1(120 * MB)} MiB, 150 MB = ${f1(150 * MB)} MiB); figures are in MiB.`);
  p();
  p('| repository | files | commits | pack |');
  p('|---|---|---|---|');
  for (const x of r.repos) p(`| ${x.name}${x.name === 'small' ? ' (generated gitopper-config history)' : ''} | ${x.files} | ${x.commits} | ${f1(x.packMiB)} MiB |`);
  p();

  // ---- targets
  const d = r.daemon;
  const pullOurs = F.lat('ours /do/pull');
  const pollOurs = F.lat('ours -t 1s');
  const q = row(maxN, 'quiet');
  const fv = row(maxN, 'full-verify');
  const cyc = row(maxN, 'cycle');
  const pl = row(maxN, 'pull');
  const prevIdle = prev?.idle(maxN, ['quiet', 'ours']);
  const prevMed = prev?.setup('medium');
  const prevLarge = prev?.setup('large');
  const before = (s: string) => (prev ? s : '–');
  p('## Targets');
  p();
  p(`| target | ours now | met? | before (\`${prev?.file ?? 'no previous run'}\`) |`);
  p('|---|---|---|---|');
  if (pullOurs) p(`| push → applied with \`POST /do/pull\`, medium repo: p95 < 0.5 s | p95 ${ms(pullOurs.p95)} | ${yes(pullOurs.p95 < 500)} | ${before(`p95 ${opt(prev?.pullP95, ms)}`)} |`);
  if (pollOurs) p(`| push → applied with \`-t 1s\`: p95 < 1.5 s | p95 ${ms(pollOurs.p95)} | ${yes(pollOurs.p95 < 1500)} | ${before(`p95 ${opt(prev?.pollP95, ms)}`)} |`);
  if (q && cli1) {
    const refetch = q.bytesPerPass > 64 * 1024;
    p(`| nothing-new pass, ${maxN} services on one upstream: one fetch in total | quiet poll: 1 fetch = ${f1(q.requestsPerPass)} HTTP request(s), ${bytes(q.bytesPerPass)} sent by the server (CLI: ${f0(row(maxN, 'cli')?.requestsPerPass ?? NaN)} requests); a full pass: ${f1(fv?.requestsPerPass ?? pl?.requestsPerPass ?? NaN)} too | ${yes(q.requestsPerPass <= 2 && (fv?.requestsPerPass ?? 1) <= 2)}${refetch ? ', wasteful' : ''} | ${before(`${opt(prevIdle?.requests, f1)} request(s), ${opt(prevIdle?.bytes, bytes)}`)} |`);
    const cyclePoll = cyc?.meanWallMs ?? NaN;
    p(`| … and wall ≤ the CLI sequence for one service (${ms(cli1.wallMs.median)}) | quiet poll ${ms(q.wallMs.median)} = ${ratio(q.wallMs.median, cli1.wallMs.median)}; but a full pass (every ${r.idle?.verifyEveryPolls ?? 10}th poll, every pull, every poll that finds a new tip) ${ms(fv?.wallMs.median ?? NaN)} = ${ratio(fv?.wallMs.median ?? NaN, cli1.wallMs.median)}, and the mean over a cycle of ${r.idle?.verifyEveryPolls ?? 10} polls ${ms(cyclePoll)} = ${ratio(cyclePoll, cli1.wallMs.median)} | quiet poll ${yes(q.wallMs.median <= cli1.wallMs.median)}; cycle mean ${yes(cyclePoll <= cli1.wallMs.median)}; full pass ${yes((fv?.wallMs.median ?? Infinity) <= cli1.wallMs.median)} | ${before(`${opt(prevIdle?.wallMs, ms)}, every pass (all were full)`)} |`);
  }
  if (med) {
    const host = med.ours.hostSumPeakMiB?.median ?? med.ours.peakMiB.median;
    p(`| first setup, medium repo: peak RSS < 120 MB | the host: ${mib(host)} at once (the daemon ${mib(med.ours.peakMiB.median)} + its fetch child, whose own peak is ${mib(med.ours.childPeakMiB?.median ?? NaN)}); the daemon process alone ${mib(med.ours.peakMiB.median)}; CLI ${mib(med.cli.peakMiB.median)} | host ${yes(host < 120 * MB)}; daemon process alone ${yes(med.ours.peakMiB.median < 120 * MB)} | ${before(`${opt(prevMed?.hostMiB, mib)} (one process)`)} |`);
    p(`| first setup, medium repo: wall ≤ 3× the CLI | ${ms(med.ours.wallMs.median)} vs ${ms(med.cli.wallMs.median)} = ${ratio(med.ours.wallMs.median, med.cli.wallMs.median)} (in-process fetch: ${ms(med.inproc.wallMs.median)} = ${ratio(med.inproc.wallMs.median, med.cli.wallMs.median)}) | ${yes(med.ours.wallMs.median <= 3 * med.cli.wallMs.median)} | ${before(`${opt(prevMed?.wallMs, ms)} = ${prevMed?.wallMs && prevMed.cliWallMs ? ratio(prevMed.wallMs, prevMed.cliWallMs) : '–'}`)} |`);
  }
  if (large) {
    const pack = r.repos.find((x) => x.name === 'large')?.packMiB ?? NaN;
    const host = large.ours.hostSumPeakMiB?.median ?? large.ours.peakMiB.median;
    const completed = large.ours.runs > 0 && Number.isFinite(large.ours.wallMs.median);
    p(`| first setup, large repo: completes, peak RSS reported | completes in ${ms(large.ours.wallMs.median)}; peak: the host ${mib(host)} at once (${f1(host / pack)}× the ${f1(pack)} MiB pack), the fetch child ${mib(large.ours.childPeakMiB?.median ?? NaN)}, the daemon process ${mib(large.ours.peakMiB.median)} | ${yes(completed)} (completes) | ${before(`${opt(prevLarge?.wallMs, ms)}, peak ${opt(prevLarge?.hostMiB, mib)} (one process)`)} |`);
  }
  if (shipped) {
    const x = steadyStats(shipped);
    const ps = prev?.steady;
    p(`| steady state: RSS < 150 MB after 1,000 passes (10 services, a commit every 10), no upward trend | ${shipped.passesDone} passes${shipped.capped ? ` (capped at ${f0(shipped.seconds)} s)` : ''}; RSS over the last 100 passes ${mib(x.rssLast100.median)} (${mib(x.rssLast100.min)}–${mib(x.rssLast100.max)}); per 100 passes: post-GC heap ${f1(x.gcHeapSlope * 1024)} KiB, RSS ${f1(x.rssSlope)} MiB over every sample (${f1(x.gcRssSlope)} MiB over the 10 post-GC samples); peak ${mib(shipped.peakRssMiB)} | ${yes(steadyOk(shipped))}${steadyOk(shipped) && x.rssLast100.max >= 150 * MB ? ' (median; the max sample is above)' : ''} | ${before(ps ? `${opt(ps.passesDone, f0)} passes (capped), RSS over the last 100 ${opt(ps.rssLast100, mib)} (${opt(ps.rssMin, mib)}–${opt(ps.rssMax, mib)})` : '–')} |`);
    p(`| steady state: \`.git\` ≤ 2× a fresh clone | store ${bytes(shipped.store.bytes)} after ${shipped.commits} commits = ${ratio(shipped.store.bytes, shipped.store.freshIsoBytes)} a fresh clone (${bytes(shipped.store.freshIsoBytes)}), ${shipped.store.packs} packs, ${shipped.compactions} compactions | ${yes(shipped.store.ratioToFresh <= 2)} | ${before(ps ? `${opt(ps.storeRatio, (v) => ratio(v, 1))} after ${opt(ps.commits, f0)} commits, ${opt(ps.packs, f0)} packs` : '–')} |`);
  }
  for (const row of leanRows(r, previous?.data as LeanInputs | undefined)) p(row);
  if (d?.api) p(`| API: ≥ 2,000 signed reads/s on one core | ${f0(d.api.rpsPerCpuSecond)} signed \`GET /list/service\` per daemon CPU-second (the one-core rate); ${f0(d.api.rps)}/s measured on the shared machine, p99 ${ms(d.api.latencyMs.p99)} | ${yes(d.api.rpsPerCpuSecond >= 2000)} | ${before(opt(prev?.apiRate, f0))} |`);
  p();

  // ---- 1
  if (d) {
    p('## 1. Push to applied');
    p();
    p(`From \`git push\` returning (to the bare repository the loopback server serves) to the unit's \`ExecReload\` having appended to its marker file, ${pullOurs?.n ?? 20} pushes per row, each changing one file under the service's link on the medium repo. Ours: the real daemon (\`dist/cmd/gitopper.js --user\`, systemd user manager, bind mounts, \`NODE_OPTIONS=${d.nodeOptions || '(none)'}\` as the unit sets it) with \`-t 1s\`, and a second one with \`-t 1h\` pulled by a signed \`POST /do/pull/<service>\` or by a GitHub-style push webhook (\`POST /hook\`, \`X-Hub-Signature-256\`, \`hook_secret_file\`). CLI: gitopper's pass for one service (one partial sparse clone) followed by the same D-Bus \`daemon-reload\` + \`reload\` the daemon does, polled with the same jitter ([1 s, 1.5 s)) or run at once after the push. In the polled rows the next push waits a random 0–0.5 s after the previous apply (the poll timer itself is jittered, so pushes land anywhere in the cycle).`);
    p();
    p('| mode | variant | p50 | p95 | min | max | p95 ratio to CLI |');
    p('|---|---|---|---|---|---|---|');
    const rowL = (mode: string, name: string, key: string, cliKey: string) => {
      const x = d.push[key];
      const c = d.push[cliKey];
      if (!x) return;
      if (!isLat(x)) return p(`| ${mode} | ${name} | skipped: ${x.skipped} | | | | |`);
      p(`| ${mode} | ${name} | ${ms(x.p50)} | ${ms(x.p95)} | ${ms(x.min)} | ${ms(x.max)} | ${key === cliKey ? '1' : isLat(c) ? ratio(x.p95, c.p95) : '–'} |`);
    };
    rowL('`-t 1s`', 'ours (daemon)', 'ours -t 1s', 'cli -t 1s');
    rowL('`-t 1s`', 'CLI', 'cli -t 1s', 'cli -t 1s');
    rowL('pull now', 'ours (daemon, signed `POST /do/pull`)', 'ours /do/pull', 'cli pull');
    rowL('pull now', 'ours (daemon, `POST /hook` webhook)', 'ours /hook', 'cli pull');
    rowL('pull now', 'CLI', 'cli pull', 'cli pull');
    p();
    p('With `-t 1s` the timer waits a random [1 s, 1.5 s) after each pass, so a push that lands just as a wait begins is applied after ~1.5 s plus one pass: the `-t 1s` p95 target sits at that bound whatever the git side does (the CLI\'s own p95 is in the table). A push always moves the tip, so the poll that sees it is a full pass (quiet polls change nothing here).');
    p();
    const peaks = Object.entries(d.daemonPeakRssMiB).map(([k, v]) => `${k}: ${mib(v)}`).join(', ');
    const kids = Object.entries(d.childPeakRssMiB ?? {}).map(([k, v]) => `${k}: ${mib(v)}`).join(', ');
    p(`Daemon peak RSS (VmHWM) in these runs: ${peaks}. Its first-fetch child during start-up (sampled every 2 ms): ${kids || '–'}.`);
    p();
  }

  // ---- 2
  if (r.idle) {
    const N = r.idle.verifyEveryPolls;
    p('## 2. A pass with nothing new');
    p();
    p(`Services on one upstream (the medium repo, each service with its own link directory), after their first setup and one warm-up pull. Ours: the core driven directly (\`new Agent(services, deps)\` with \`IsoGit\` built as the daemon builds it, ${r.idle.mounts === 'real' ? 'real bind mounts (BindMounter, in the bench\'s mount namespace)' : 'in-memory mounts'}, in-memory units: a nothing-new pass calls no unit), passes **triggered by the poll timer** as in the daemon (the bench's clock ends the tracker's wait between polls: \`bench/lib/core.ts\` \`TickClock\`), ${r.idle.rows.find((x) => x.variant === 'cycle')?.passes ?? '–'} polls per service count (whole cycles of ${N}), each ended when every service has reported, with the tracker's default \`verifyEveryPolls\` (${N}). Each poll is classified by what the tracker did: **quiet** (it skipped every service: fetch, tip unchanged, nothing else) or **full-verify** (the ${N}th quiet poll: every service reconciled: \`prepare\`, \`deployed\`, \`drift\`, mounts). **cycle** = the mean of each cycle of ${N} polls (median, min–max over the cycles), what the daemon spends per poll on average. **pull** = \`agent.pull()\` (\`POST /do/pull\`), always a full pass, for comparison. CPU = the agent process (ours) or the git processes (CLI; gitopper runs each service in its own goroutine, so the CLI runs 4 services at a time, and every CLI pass is a full one). Requests and bytes as seen by the git server; "server CPU" is git-http-backend\'s. "of which fetch" is the fetch time the tracker reports (whole milliseconds, so it can round above a quiet poll\'s wall).`);
    p();
    p('| services | variant | passes | wall per pass | CPU per pass | of which fetch | HTTP requests | bytes from server | server CPU | wall ratio to CLI (same services) | wall ratio to CLI, 1 service |');
    p('|---|---|---|---|---|---|---|---|---|---|---|');
    for (const x of r.idle.rows) {
      const c = row(x.services, 'cli');
      p(`| ${x.services} | ${variantName[x.variant] ?? x.variant} | ${x.passes} | ${range(x.wallMs)} | ${ms(x.cpuMs.median)} | ${x.fetchMs && x.variant !== 'cycle' ? ms(x.fetchMs.median) : x.fetchMs ? ms(x.fetchMs.median) : '–'} | ${f1(x.requestsPerPass)} | ${bytes(x.bytesPerPass)} | ${ms(x.serverCpuMsPerPass)} | ${c ? ratio(x.wallMs.median, c.wallMs.median) : '–'} | ${cli1 ? ratio(x.wallMs.median, cli1.wallMs.median) : '–'} |`);
    }
    p();
    p(`The polls in order (q = quiet, F = full): ${Object.entries(r.idle.pollKinds).map(([n, k]) => `${n} service(s) \`${k}\``).join(', ')}. CLI passes at ${maxN} services: ${row(maxN, 'cli')?.passes ?? '–'} runs.`);
    const errs = [...new Set(r.idle.rows.flatMap((x) => x.errors))];
    if (errs.length) p(`\nErrors reported by the agent during these passes: ${errs.join('; ')}.`);
    p();
  }

  // ---- 3
  if (r.setup) {
    p('## 3. First setup');
    p();
    p('Clone + checkout of one service\'s links (medium/large: `svc000/etc`, 5 files; small: grafana\'s two links), each run in a fresh process: `IsoGit.fetch` into a new store, `prepare`, `checkout`. **ours** = `IsoGit` with the daemon\'s options: the store\'s first fetch runs in a forked child (`dist/cmd/gitopper-fetch.js`), then the parent checks out. **in-process** = the same with `fetchInChild: false`: the library\'s own cost in one process, as before the fix. Wall inside the process. Peak RSS: **daemon process** = the process\'s VmHWM (what the daemon keeps as its high-water mark; it includes Node\'s own ~60 MiB with the modules loaded); **fetch child** = the child\'s peak (VmHWM sampled every 2 ms from `/proc/<pid>/status` from its `spawn` to its `exit` on the `gitopper:git-child` diagnostics channel, or the child\'s own `maxRSS` if larger); **host at once** = the largest sum of the parent\'s and the child\'s RSS sampled at the same instant: what the machine must have free during a first setup. The daemon\'s peak and the host\'s peak differ: moving the fetch into a child lowers the first, not the second. CLI: the three git commands (peak RSS = the largest git process\'s VmHWM, sampled every 2 ms).');
    p();
    p('| repo | variant | runs | wall | ratio to CLI | CPU (of which the child) | daemon process peak RSS | fetch child peak RSS | host at once | bytes from server |');
    p('|---|---|---|---|---|---|---|---|---|---|');
    for (const x of r.setup) {
      const pr = (name: string, o: SetupRepoResult['ours']) => p(`| ${x.repo} | ${name} | ${o.runs} | ${range(o.wallMs)} | ${ratio(o.wallMs.median, x.cli.wallMs.median)} | ${ms(o.cpuMs.median + (o.childCpuMs?.median ?? 0))}${o.childCpuMs ? ` (${ms(o.childCpuMs.median)})` : ''} | ${mib(o.peakMiB.median)} | ${o.childPeakMiB ? mib(o.childPeakMiB.median) : '–'} | ${o.hostSumPeakMiB ? mib(o.hostSumPeakMiB.median) : mib(o.peakMiB.median)} | ${bytes(x.bytes.ours)} |`);
      pr('ours (as the daemon: a filtered first fetch in-process, a whole history in a child)', x.ours);
      if (x.inproc.runs > 0) pr('ours in-process', x.inproc);
      p(`| ${x.repo} | CLI | ${x.cli.wallMs.n} | ${range(x.cli.wallMs)} | 1 | ${ms(x.cli.cpuMs.median)} | – | – | ${mib(x.cli.peakMiB.median)} | ${bytes(x.bytes.cli)} |`);
    }
    p();
    const unsampled = r.setup.reduce((s, x) => s + (x.ours.childUnsampled ?? 0), 0);
    if (med) p(`The fetch is ${f0((med.inproc.fetchMs.median / med.inproc.wallMs.median) * 100)}% of the in-process setup on the medium repo (${ms(med.inproc.fetchMs.median)}); in a child it takes ${ms(med.ours.fetchMs.median)} (a new node process loads the modules first). The CLI asks for no blob outside the sparse links (\`--filter=blob:none\`) and downloads ${bytes(med.bytes.cli)}; ours, a partial clone too (protocol v2 \`filter blob:none\`, then the blobs under the links), downloads ${bytes(med.bytes.ours)}.${unsampled ? ` In ${unsampled} run(s) the child ended before a sample; its own maxRSS was used.` : ''}`);
    p();
  }

  // ---- 4
  if (r.steady) {
    p('## 4. Steady state');
    p();
    p(`10 services on one upstream (a private copy of the medium repo), ${shipped?.passesPlanned ?? 1000} timer polls driven through the core as the daemon runs them (quiet or full as the tracker decides; \`IsoGit\` with the daemon\'s options: first fetch in a child, compaction above ${shipped?.compactAbove ?? 16} packs), a commit pushed every 10 passes (touching the next service\'s link, so each service applies every 100 passes; the poll after a commit finds a new tip and is a full pass, the 9 after it are quiet). Each variant in a fresh process: **shipped** = node with the unit\'s environment (\`NODE_OPTIONS=${unitOpts || 'none'}\` and the glibc malloc variables); **NODE_OPTIONS only** = without the malloc variables; **without the unit\'s environment** = node\'s and glibc\'s defaults: each setting\'s share. RSS/heap sampled every 10 passes, and after a forced GC every 100 passes; the leak check is the least-squares slope of the post-GC heap samples, and the trend check that of RSS over every sample (the 10 post-GC RSS samples are shown too: one taken next to a compaction swings them), the RSS figure the median of the raw samples over the last 100 passes. The store is measured at rest — after the last pass, a compaction still running ends and two more nothing-new polls, the retire grace (1 s) apart, swap its copy in and delete the packs it replaced, as the daemon\'s next polls would; a run that ends within that second of a swap holds both copies, shown in brackets as the size at the last pass — and compared with a fresh clone of the same tip made afterwards (a new IsoGit store: one fetch, one pack). Passes are capped by time: a variant that cannot do 1,000 passes in its budget says how many it did.`);
    p();
    p('| variant | passes (commits): quiet / full | pass wall: quiet / full (median) | pass wall: first 100 / last 100 | RSS after first setup | RSS, last 100 passes: median (min–max) | peak RSS | heap after GC at end | slope per 100 passes: post-GC heap / post-GC RSS | `.git` store / fresh clone | packs (compactions) | fetch children: first fetch / compactions (largest peak RSS) |');
    p('|---|---|---|---|---|---|---|---|---|---|---|---|');
    for (const s of r.steady) {
      const envText = Object.entries(s.env ?? {}).map(([k, v]) => `${k}=${v}`).join(' ');
      const name = s.variant === 'shipped' ? `shipped (\`${envText || (s.nodeArgs ?? []).join(' ') || 'no flags'}\`)` : s.variant === 'node-options-only' ? `NODE_OPTIONS only (\`${envText}\`)` : s.variant === 'no-unit-env' ? 'without the unit\'s environment' : s.variant === 'no-node-options' ? 'without NODE_OPTIONS' : s.variant;
      const x = steadyStats(s);
      p(`| ${name} | ${s.passesDone}${s.capped ? ` of ${s.passesPlanned} (capped at ${f0(s.seconds)} s)` : ''} (${s.commits}): ${s.kinds.quiet} / ${s.kinds.full}${s.kinds.mixed ? ` / ${s.kinds.mixed} mixed` : ''} | ${ms(s.wallByKind.quiet.median)} / ${ms(s.wallByKind.full.median)} | ${ms(s.passWallMs.first100.median)} / ${ms(s.passWallMs.last100.median)} | ${mib(s.rssAfterSetupMiB)} | ${mib(x.rssLast100.median)} (${mib(x.rssLast100.min)}–${mib(x.rssLast100.max)}) | ${mib(s.peakRssMiB)} | ${mib(s.gcHeapEndMiB)} | ${Number.isFinite(x.gcHeapSlope) ? `${f1(x.gcHeapSlope * 1024)} KiB / ${f1(x.gcRssSlope)} MiB` : 'n/a (too few passes)'} | ${bytes(s.store.bytes)} / ${bytes(s.store.freshIsoBytes)} = ${ratio(s.store.bytes, s.store.freshIsoBytes)}${s.store.bytesAtLastPass !== undefined && s.store.bytesAtLastPass !== s.store.bytes ? ` (at the last pass ${bytes(s.store.bytesAtLastPass)}, ${s.store.packsAtLastPass} packs)` : ''} | ${s.store.packs} (${s.compactions}) | ${s.children.fetch} / ${s.children.compact} (${mib(Math.max(s.children.fetchPeakMiB, s.children.compactPeakMiB))}) |`);
    }
    p();
    const s0 = r.steady[0];
    if (s0) p(`For scale: a full \`git clone --bare\` of the same tip is ${bytes(s0.store.freshCliBareBytes)}; gitopper keeps one partial sparse clone per service, ${bytes(s0.store.cliPartialPerServiceBytes)} each (${bytes(10 * s0.store.cliPartialPerServiceBytes)} for 10 services), against one shared store here.`);
    const errs = [...new Set(r.steady.flatMap((s) => s.errors))];
    if (errs.length) p(`\nErrors and notices during the steady-state runs: ${errs.join('; ')}.`);
    p();
  }

  // ---- 5
  if (d?.api) {
    const a = d.api;
    p('## 5. API');
    p();
    p(`\`GET /list/service\` on a daemon of its own (one service, \`-t 1h\`, so no pass ran meanwhile), over loopback plain HTTP (\`--insecure-http\`), every request signed as gitopperctl signs (RFC 9421, ed25519 key; a fresh nonce each, signatures made before the timed run in ${ms(a.presignMs)}). ${a.concurrency} requests in flight on keep-alive connections for ${f1(a.seconds)} s after a 1 s warm-up, load generator in the bench process (a small bounded node loop).`);
    p();
    p('| daemon | requests | errors | requests/s | p50 | p99 | max | daemon CPU | requests per daemon CPU-second | GC share of its CPU |');
    p('|---|---|---|---|---|---|---|---|---|---|');
    for (const [label, x] of [[`with the unit's \`NODE_OPTIONS\` (\`${d.nodeOptions || 'none'}\`)`, a], ['without NODE_OPTIONS (node defaults)', d.apiNoNodeOptions]] as const) {
      if (x) p(`| ${label} | ${x.requests} | ${x.errors} | ${f0(x.rps)} | ${ms(x.latencyMs.p50)} | ${ms(x.latencyMs.p99)} | ${ms(x.latencyMs.max)} | ${f1(x.daemonCpuSeconds)} s | ${f0(x.rpsPerCpuSecond)} | ${f1(x.profile?.byCaller.find((m) => m.module === '(gc)')?.share ?? NaN)}% |`);
    }
    p();
    p('There is no CLI counterpart (gitopper\'s API is Go), so no ratio. "On one core": the daemon serves requests on one thread, so requests per daemon CPU-second is the one-core figure; on a loaded machine the raw rate is lower because the daemon does not get a whole core (and the load generator shares the 2 cores). The daemon\'s CPU can exceed wall time: V8\'s GC threads run beside the main thread.');
    p();
    if (a.profile) p(profileTable('API daemon, with the unit\'s NODE_OPTIONS (start-up with its first setup, then the timed requests)', a.profile));
  }

  if (r.scale) p(renderScale(r.scale));
  // ---- profiles
  p('## Where isomorphic-git is the limit');
  p();
  p('CPU profiles (`node --cpu-prof`, or the inspector for the in-process passes) of the runs above; shares are of sampled CPU time, not wall time (the rest of the wall time is waiting for the server).');
  p();
  if (med?.profile) p(profileTable('First setup, medium repo (in-process: the fetch the child makes, plus the checkout)', med.profile));
  if (large?.profile) p(profileTable('First setup, large repo (in-process)', large.profile));
  if (r.idle?.profiles) {
    for (const [k, v] of Object.entries(r.idle.profiles)) {
      const [kind, n] = k.split('-');
      p(profileTable(kind === 'quiet' ? `Quiet polls, ${n} services (${(r.idle.verifyEveryPolls ?? 10) - 1} polls)` : `Full passes, ${n} services (2 pulls: the same reconcile of every service as a full-verify poll)`, v));
    }
  }
  p(findings(r, prev));
  p('## How to run');
  p();
  p('```');
  p('npm ci');
  p('npm run bench          # as root: npm run build, then bench/run.mjs (unshare -m --propagation private)');
  p('```');
  p();
  p('Needs root (bind mounts and a systemd user manager in a private mount namespace, as `npm test`), `git`, `systemd` and `dbus-user-session`, and about 600 MB of free space in the temp dir. Takes about 40 minutes on 2 cores, most of it the 300 polls per row of the `scale` section. `BENCH_QUICK=1` runs fewer passes (writes `bench/results/<date>-quick.json` and the page it would make beside it, `<date>-quick.preview.md`; leaves this page alone); `BENCH_ONLY=setup,idle,steady,daemon,scale` (or `npm run bench -- scale --quick`) runs a subset; `--polls N`, `--counts 1,10,100` (medium repo) and `--large-counts 10` (large repo; `0` = none) size the `scale` section, `--profile` CPU-profiles its daemons over the measured polls and takes a heap snapshot at the end. The "before" column is the newest other full results file in `bench/results/` (by the date it records). `node dist/bench/render.js bench/results/<file>.json` rewrites this page from a results file without measuring again. CPU profiles land in `bench/results/profiles/` (not committed).');
  p();
  return out.join('\n');
}

export function apiNote(d: DaemonResult | undefined): string {
  const a = d?.api;
  if (!a?.profile) return '';
  const share = (m: string) => a.profile!.byCaller.find((x) => x.module === m)?.share ?? 0;
  const verify = a.profile.topFunctions.find((t) => t.fn.startsWith('verifyOneShot'))?.share ?? 0;
  const met = a.rpsPerCpuSecond >= 2000;
  return `
**API** (${met ? 'met' : '**not met** in this run'}): ${f0(a.rpsPerCpuSecond)} signed reads per daemon CPU-second (${f0(a.rps)}/s on the shared machine). Request signing is a large part of the cost: http-message-signatures ${f1(share('http-message-signatures'))}% and structured-headers ${f1(share('structured-headers'))}% of the API daemon's CPU (the ed25519 verification itself, \`verifyOneShot\`, ${f1(verify)}%), express and its router ${f1(share('express') + share('router'))}%.${d?.apiNoNodeOptions ? ` With node's defaults (no \`NODE_OPTIONS\`) the same daemon served ${f0(d.apiNoNodeOptions.rpsPerCpuSecond)} per CPU-second in this run (GC ${f1(d.apiNoNodeOptions.profile?.byCaller.find((m) => m.module === '(gc)')?.share ?? NaN)}% of its CPU, against ${f1(share('(gc)'))}% with \`${d.nodeOptions}\`).` : ''} ${met ? 'Nothing to fix for the target; if more is ever needed,' : 'The machine was shared (its load is at the top of this page): the rate per CPU-second still drops when the daemon loses its caches to other processes. To gain margin,'} parse \`Signature-Input\` once (\`auth.ts\` parses it and http-message-signatures parses it again).
`;
}
