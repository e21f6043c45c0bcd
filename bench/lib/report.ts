/** Result types of a bench run and the renderer of docs/performance.md. */
import type { DaemonResult, Latency } from '../sections/daemon.js';
import type { IdleResult, IdleRow } from '../sections/idle.js';
import type { SetupRepoResult } from '../sections/setup.js';
import type { SteadyResult } from '../sections/steady.js';
import type { ProfileSummary } from './profile.js';
import { slope, summary, type Summary } from './util.js';
import type { machineLoad } from './util.js';
import { findings } from './findings.js';

export interface BenchResults {
  date: string;
  quick: boolean;
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
  return `**${title}** — ${f0(p.busyMs)} ms of CPU sampled. By package, native work (fs, zlib, hashing, buffers) charged to the package that asked for it: ${mods}.\n\n| function (self time) | package | ms | share of CPU |\n|---|---|---|---|\n${fns}\n`;
}

export interface SrcFeatures {
  /** IsoGit.fetch asks `GET info/refs` first and keeps refs/heads/<branch> (fix 1). */
  fetchShortcut: boolean;
  /** deployed() reads objects through the store's gitdir (fix 2). */
  storeReads: boolean;
  /** drift() still uses statusMatrix (fix 3 open). */
  driftStatusMatrix: boolean;
  /** Some pack compaction exists (fix 6). */
  compaction: boolean;
}

/** Derived steady-state figures: raw RSS over the last 100 passes, and slopes of the post-GC samples (every 100 passes). */
export function steadyStats(s: SteadyResult): { rssLast100: Summary; gcHeapSlope: number; gcRssSlope: number } {
  const last = s.samples.filter((x) => x.pass > s.passesDone - 100 && x.pass > 0);
  const gc = s.samples.filter((x) => x.gcHeapMiB !== undefined);
  const xs = gc.map((x) => x.pass / 100);
  return {
    rssLast100: summary(last.map((x) => x.rssMiB)),
    gcHeapSlope: gc.length >= 3 ? slope(xs, gc.map((x) => x.gcHeapMiB!)) : NaN,
    gcRssSlope: gc.length >= 3 ? slope(xs, gc.map((x) => x.gcRssMiB!)) : NaN,
  };
}

export function renderReport(r: BenchResults, jsonFile: string): string {
  const out: string[] = [];
  const p = (s = '') => out.push(s);
  const L = r.load;
  const loaded = Math.max(L.start.loadavg[0] ?? 0, L.end.loadavg[0] ?? 0) > 0.5;
  p('# Performance');
  p();
  p(`Measured by \`npm run bench\` (\`bench/\`) on ${r.date.slice(0, 16).replace('T', ' ')} UTC in ${f0(r.seconds.total ?? NaN)} s; every figure of this page comes from that one run, whose raw data (all samples, profiles summarised) is \`${jsonFile}\`. This page is rewritten by each full run.`);
  p();
  p(`- Machine: ${r.machine.cpu}, ${r.machine.cores} cores, ${r.machine.memGiB} GiB RAM, Linux ${r.machine.kernel}; Node ${r.machine.node}, ${r.machine.git}, isomorphic-git ${r.machine.isomorphicGit}.`);
  p(`- Load: 1-minute load average ${L.start.loadavg[0]} at the start and ${L.end.loadavg[0]} at the end${L.start.cpuPressureSomeAvg60 !== undefined ? `; CPU pressure (PSI some avg60) ${L.start.cpuPressureSomeAvg60}% → ${L.end.cpuPressureSomeAvg60}%` : ''}.${loaded ? ' Other work (concurrent test runs) shared the 2 cores: absolute times are pessimistic, ratios less affected since both sides ran interleaved in the same minutes.' : ''}`);
  p('- **ours** = the code in `src/` as it is. **CLI** = gitopper\'s own mechanism, the git CLI sequence (`clone --filter=blob:none --no-checkout --sparse`, `sparse-checkout set`, `checkout`; per pass and service `stash`, `fetch`, `diff --name-only`, `merge`, `rev-parse`), on the same loopback git server (git-http-backend, `uploadpack.allowFilter` on, as GitHub) and the same repositories. Ratio = ours / CLI. **proposed** = the fixes recommended at the end, measured in the same run through `bench/lib/proposed-git.ts` (a subclass of the adapter; nothing in `src/` uses it).');
  p(`- Medians of ≥ 5 runs with (min–max), except the large repository's first setup (${r.setup?.find((x) => x.repo === 'large')?.runs ?? '–'} runs: each takes ~5 s and ~450 MiB, and the whole bench must stay under 10 minutes) and the time-capped steady-state variants (§4).`);
  p();
  p('| repository | files | commits | pack |');
  p('|---|---|---|---|');
  for (const x of r.repos) p(`| ${x.name}${x.name === 'small' ? ' (gitopper-config bundle)' : ''} | ${x.files} | ${x.commits} | ${f1(x.packMiB)} MiB |`);
  p();

  // ---- targets
  const d = r.daemon;
  const pullOurs = d?.push['ours /do/pull'];
  const pollOurs = d?.push['ours -t 1s'];
  const pullProp = d?.push['proposed pull'];
  const pollProp = d?.push['proposed -t 1s'];
  const idle = r.idle?.rows ?? [];
  const row = (n: number, v: IdleRow['variant']) => idle.find((x) => x.services === n && x.variant === v);
  const maxN = Math.max(...idle.map((x) => x.services), 0);
  const cli1 = row(1, 'cli');
  const ours100 = row(maxN, 'ours');
  const prop100 = row(maxN, 'proposed');
  const med = r.setup?.find((x) => x.repo === 'medium');
  const large = r.setup?.find((x) => x.repo === 'large');
  const stOurs = r.steady?.find((s) => s.adapter === 'ours');
  const stProps = r.steady?.filter((s) => s.adapter === 'proposed') ?? [];
  const stBest = stProps.at(-1);
  // met: 1,000 passes done, RSS over the last 100 passes below 150 MiB (median of 10 samples), post-GC heap and RSS not growing
  const steadyOk = (s: SteadyResult | undefined) => {
    if (!s) return undefined;
    const x = steadyStats(s);
    return s.passesDone >= 1000 && x.rssLast100.median < 150 && x.gcHeapSlope < 0.25 && x.gcRssSlope < 1;
  };
  const rssText = (s: SteadyResult) => {
    const x = steadyStats(s);
    return `RSS over the last 100 passes ${mib(x.rssLast100.median)} (${mib(x.rssLast100.min)}–${mib(x.rssLast100.max)})${Number.isFinite(x.gcHeapSlope) ? `, post-GC heap ${f1(x.gcHeapSlope * 1024)} KiB and post-GC RSS ${f1(x.gcRssSlope)} MiB per 100 passes` : ''}`;
  };
  p('## Targets');
  p();
  p('| target | ours (src as it is) | met? | with the proposed fixes |');
  p('|---|---|---|---|');
  if (isLat(pullOurs)) p(`| push → applied with \`POST /do/pull\`, medium repo: p95 < 0.5 s | p95 ${ms(pullOurs.p95)} | ${yes(pullOurs.p95 < 500)} | ${isLat(pullProp) ? `p95 ${ms(pullProp.p95)} (${yes(pullProp.p95 < 500)}; pulled in-process, no HTTP)` : '–'} |`);
  if (isLat(pollOurs)) p(`| push → applied with \`-t 1s\`: p95 < 1.5 s | p95 ${ms(pollOurs.p95)} | ${yes(pollOurs.p95 < 1500)} | ${isLat(pollProp) ? `p95 ${ms(pollProp.p95)} (${yes(pollProp.p95 < 1500)})` : '–'} |`);
  if (ours100 && cli1) {
    const refetch = ours100.bytesPerPass > 64 * 1024;
    p(`| nothing-new pass, ${maxN} services on one upstream: one fetch in total | 1 fetch = ${f1(ours100.requestsPerPass)} HTTP request(s), ${bytes(ours100.bytesPerPass)} sent by the server per pass${refetch ? ' (the whole pack again)' : ''} (CLI: ${f0(row(maxN, 'cli')?.requestsPerPass ?? NaN)} requests) | ${yes(ours100.requestsPerPass <= 2)}${refetch ? ' (one fetch), wasteful' : ''} | ${prop100 ? `1 fetch = ${f1(prop100.requestsPerPass)} request, ${bytes(prop100.bytesPerPass)}` : '–'} |`);
    p(`| … and wall ≤ the CLI sequence for one service (${ms(cli1.wallMs.median)}) | ${ms(ours100.wallMs.median)} = ${ratio(ours100.wallMs.median, cli1.wallMs.median)} | ${yes(ours100.wallMs.median <= cli1.wallMs.median)} | ${prop100 ? `${ms(prop100.wallMs.median)} = ${ratio(prop100.wallMs.median, cli1.wallMs.median)} (${yes(prop100.wallMs.median <= cli1.wallMs.median)})` : '–'} |`);
  }
  if (med) {
    p(`| first setup, medium repo: peak RSS < 120 MB | ${mib(med.ours.peakMiB.median)} (CLI ${mib(med.cli.peakMiB.median)}) | ${yes(med.ours.peakMiB.median < 120)} | – (bounded by isomorphic-git, see below) |`);
    p(`| first setup, medium repo: wall ≤ 3× the CLI | ${ms(med.ours.wallMs.median)} vs ${ms(med.cli.wallMs.median)} = ${ratio(med.ours.wallMs.median, med.cli.wallMs.median)} | ${yes(med.ours.wallMs.median <= 3 * med.cli.wallMs.median)} | – |`);
  }
  if (large) p(`| first setup, large repo: completes, peak RSS reported | completes in ${ms(large.ours.wallMs.median)}, peak ${mib(large.ours.peakMiB.median)} (${f1(large.ours.peakMiB.median / (r.repos.find((x) => x.name === 'large')?.packMiB ?? NaN))}× the pack) | ${yes(true)} (completes) | – |`);
  if (stOurs) {
    p(`| steady state: RSS < 150 MB after 1,000 passes (10 services, a commit every 10), no upward trend | ${stOurs.passesDone} passes in ${f0(stOurs.seconds)} s (capped: ${ms(stOurs.passWallMs.all.median)} per pass); ${rssText(stOurs)} | ${yes(steadyOk(stOurs))} | ${stProps.map((s) => `${s.setupInChild ? 'all fixes (1–3, 5, 6)' : 'fixes 1–3'}: ${s.passesDone} passes, ${rssText(s)}`).join('; ')} (${yes(steadyOk(stBest))}) |`);
    const perCommit = stOurs.commits > 0 ? (stOurs.store.bytes - stOurs.store.freshIsoBytes) / stOurs.commits : 0;
    const plannedCommits = Math.floor(stOurs.passesPlanned / 10);
    const projected = stOurs.capped ? (stOurs.store.freshIsoBytes + plannedCommits * perCommit) / stOurs.store.freshIsoBytes : stOurs.store.ratioToFresh;
    p(`| steady state: \`.git\` ≤ 2× a fresh clone | store ${bytes(stOurs.store.bytes)} after ${stOurs.commits} commit(s) = ${ratio(stOurs.store.bytes, stOurs.store.freshIsoBytes)} a fresh clone (${bytes(stOurs.store.freshIsoBytes)})${stOurs.capped ? `; +${bytes(perCommit)} per commit, so ~${f0(projected)}× after the ${plannedCommits} commits of 1,000 passes` : ''} | ${yes(projected <= 2)} | ${stBest ? `${bytes(stBest.store.bytes)} after ${stBest.commits} commits = ${ratio(stBest.store.bytes, stBest.store.freshIsoBytes)} (${yes(stBest.store.ratioToFresh <= 2)}), ${stBest.store.packs} packs` : '–'} |`);
  }
  if (d?.api) p(`| API: ≥ 2,000 signed reads/s on one core | ${f0(d.api.rpsPerCpuSecond)} signed \`GET /list/service\` per daemon CPU-second (the one-core rate); ${f0(d.api.rps)}/s measured on the shared machine, p99 ${ms(d.api.latencyMs.p99)} | ${yes(d.api.rpsPerCpuSecond >= 2000)} | – |`);
  p();

  // ---- 1
  if (d) {
    p('## 1. Push to applied');
    p();
    p('From `git push` returning (to the bare repository the loopback server serves) to the unit\'s `ExecReload` having appended to its marker file, 20 pushes per row, each changing one file under the service\'s link on the medium repo. Ours: the real daemon (`dist/cmd/gitopper.js --user`, systemd user manager, bind mounts) with `-t 1s`, and a second one with `-t 1h` pulled by a signed `POST /do/pull/<service>` or by a GitHub-style push webhook (`POST /hook`, `X-Hub-Signature-256`, `hook_secret_file`). CLI: gitopper\'s pass for one service (one partial sparse clone) followed by the same D-Bus `daemon-reload` + `reload` the daemon does, polled with the same jitter ([1 s, 1.5 s)) or run at once after the push. In the polled rows the next push waits a random 0–0.5 s after the previous apply (the poll timer itself is jittered, so pushes land anywhere in the cycle).');
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
    rowL('`-t 1s`', 'proposed (core, real mounts + systemd)', 'proposed -t 1s', 'cli -t 1s');
    rowL('pull now', 'ours (daemon, signed `POST /do/pull`)', 'ours /do/pull', 'cli pull');
    rowL('pull now', 'CLI', 'cli pull', 'cli pull');
    rowL('pull now', 'proposed (core, `agent.pull()`)', 'proposed pull', 'cli pull');
    rowL('pull now', 'ours (daemon, `POST /hook` webhook)', 'ours /hook', 'cli pull');
    p();
    p('With `-t 1s` the timer waits a random [1 s, 1.5 s) after each pass, so a push that lands just as a wait begins is applied after ~1.5 s plus one pass: the `-t 1s` p95 target sits at that bound whatever the git side does (the CLI\'s own p95 is in the table).');
    p();
    const peaks = Object.entries(d.daemonPeakRssMiB).map(([k, v]) => `${k}: ${mib(v)}`).join(', ');
    p(`Daemon peak RSS (VmHWM) in these runs: ${peaks}.`);
    p();
  }

  // ---- 2
  if (r.idle) {
    p('## 2. A pass with nothing new');
    p();
    p(`Services on one upstream (the medium repo, each service with its own link directory), after their first setup and one warm-up pass. Ours: the core driven directly (\`new Agent(services, deps)\` with the real IsoGit adapter, ${r.idle.mounts === 'real' ? 'real bind mounts (BindMounter, in the bench\'s mount namespace)' : 'in-memory mounts'}, in-memory units: a nothing-new pass calls no unit), a pass triggered by \`pull()\` and ended when every service has reported. CPU = the agent process (ours) or the git processes (CLI; gitopper runs each service in its own goroutine, so the CLI runs 4 services at a time). Requests and bytes as seen by the git server; "server CPU" is git-http-backend\'s.`);
    p();
    p('| services | variant | wall per pass | CPU per pass | of which fetch | HTTP requests | bytes from server | server CPU | wall ratio to CLI (same services) | wall ratio to CLI, 1 service |');
    p('|---|---|---|---|---|---|---|---|---|---|');
    for (const x of idle) {
      const c = row(x.services, 'cli');
      p(`| ${x.services} | ${x.variant === 'ours' ? 'ours' : x.variant === 'proposed' ? 'proposed' : 'CLI'} | ${range(x.wallMs)} | ${ms(x.cpuMs.median)} | ${x.fetchMs ? ms(x.fetchMs.median) : '–'} | ${f1(x.requestsPerPass)} | ${bytes(x.bytesPerPass)} | ${ms(x.serverCpuMsPerPass)} | ${c ? ratio(x.wallMs.median, c.wallMs.median) : '–'} | ${cli1 ? ratio(x.wallMs.median, cli1.wallMs.median) : '–'} |`);
    }
    p();
    const cliN = row(maxN, 'cli');
    p(`CLI passes at ${maxN} services: ${cliN?.passes ?? '–'} runs; others ${idle[0]?.passes ?? '–'}.`);
    p();
  }

  // ---- 3
  if (r.setup) {
    p('## 3. First setup');
    p();
    p('Clone + checkout of one service\'s links (medium/large: `svc000/etc`, 5 files; small: grafana\'s two links), each run in a fresh process. Ours: `IsoGit.fetch` into a new store, `prepare`, `checkout` (wall inside the process; peak RSS = the process\'s VmHWM, which includes Node\'s own ~60 MiB with the modules loaded). CLI: the three git commands (peak RSS = the largest git process\'s VmHWM, sampled every 2 ms).');
    p();
    p('| repo | runs | ours wall | CLI wall | ratio | ours peak RSS (of which after the fetch) | CLI peak RSS | ratio | bytes from server: ours / CLI |');
    p('|---|---|---|---|---|---|---|---|---|');
    for (const x of r.setup) {
      p(`| ${x.repo} | ${x.runs} | ${range(x.ours.wallMs)} | ${range(x.cli.wallMs)} | ${ratio(x.ours.wallMs.median, x.cli.wallMs.median)} | ${mib(x.ours.peakMiB.median)} (${mib(x.ours.fetchPeakMiB.median)}) | ${mib(x.cli.peakMiB.median)} | ${ratio(x.ours.peakMiB.median, x.cli.peakMiB.median)} | ${bytes(x.bytes.ours)} / ${bytes(x.bytes.cli)} |`);
    }
    p();
    if (med) p(`The fetch is ${f0((med.ours.fetchMs.median / med.ours.wallMs.median) * 100)}% of ours on the medium repo (${ms(med.ours.fetchMs.median)}) and ${large ? f0((large.ours.fetchMs.median / large.ours.wallMs.median) * 100) : '–'}% on the large one. The CLI asks for no blob outside the sparse links (\`--filter=blob:none\`): it downloads ${bytes(med.bytes.cli)} where isomorphic-git, which has no partial clone, downloads the whole history (${bytes(med.bytes.ours)}).`);
    p();
  }

  // ---- 4
  if (r.steady) {
    p('## 4. Steady state');
    p();
    p('10 services on one upstream (a private copy of the medium repo), passes driven through the core back to back, a commit pushed every 10 passes (touching the next service\'s link, so each service applies every 100 passes). Each variant in a fresh process. RSS/heap sampled every 10 passes, and after a forced GC every 100 passes; the leak check is the least-squares slope of those post-GC samples (heap and RSS), the RSS figure the median of the raw samples over the last 100 passes (raw RSS swings by ±20 MiB between collections). The store is compared with a fresh clone of the same tip made afterwards (a new IsoGit store: one fetch, one pack). Passes are capped by time: a variant that cannot do 1,000 passes in its budget says how many it did.');
    p();
    p('| variant | passes (commits) | pass wall: first 100 / last 100 | RSS after first setup | RSS, last 100 passes: median (min–max) | peak RSS | heap after GC at end | slope per 100 passes: post-GC heap / post-GC RSS | `.git` store | fresh clone | ratio | packs |');
    p('|---|---|---|---|---|---|---|---|---|---|---|---|');
    for (const s of r.steady) {
      const name = s.adapter === 'ours' ? 'ours' : `proposed (fixes 1–3${s.setupInChild ? ', 5a: first fetch in a child process' : ''}${s.nodeArgs?.length ? `, 5b: \`${s.nodeArgs.join(' ')}\`` : ''}${s.compactAbove ? `, 6: compaction above ${s.compactAbove} packs (${s.compactions} done)` : ''})`;
      const x = steadyStats(s);
      p(`| ${name} | ${s.passesDone}${s.capped ? ` of ${s.passesPlanned} (capped at ${f0(s.seconds)} s)` : ''} (${s.commits}) | ${ms(s.passWallMs.first100.median)} / ${ms(s.passWallMs.last100.median)} | ${mib(s.rssAfterSetupMiB)} | ${mib(x.rssLast100.median)} (${mib(x.rssLast100.min)}–${mib(x.rssLast100.max)}) | ${mib(s.peakRssMiB)} | ${mib(s.gcHeapEndMiB)} | ${Number.isFinite(x.gcHeapSlope) ? `${f1(x.gcHeapSlope * 1024)} KiB / ${f1(x.gcRssSlope)} MiB` : 'n/a (too few passes)'} | ${bytes(s.store.bytes)} | ${bytes(s.store.freshIsoBytes)} | ${ratio(s.store.bytes, s.store.freshIsoBytes)} | ${s.store.packs} |`);
    }
    p();
    const s0 = r.steady[0];
    if (s0) p(`For scale: a full \`git clone --bare\` of the same tip is ${bytes(s0.store.freshCliBareBytes)}; gitopper keeps one partial sparse clone per service, ${bytes(s0.store.cliPartialPerServiceBytes)} each (${bytes(10 * s0.store.cliPartialPerServiceBytes)} for 10 services), against one shared store here.`);
    p();
  }

  // ---- 5
  if (d?.api) {
    const a = d.api;
    p('## 5. API');
    p();
    p(`\`GET /list/service\` on a daemon of its own (one service, \`-t 1h\`, so no pass ran meanwhile), over loopback plain HTTP (\`--insecure-http\`), every request signed as gitopperctl signs (RFC 9421, ed25519 key; a fresh nonce each, signatures made before the timed run in ${ms(a.presignMs)}). ${a.concurrency} requests in flight on keep-alive connections for ${f1(a.seconds)} s after a 1 s warm-up, load generator in the bench process (a small bounded node loop).`);
    p();
    p('| requests | errors | requests/s | p50 | p99 | max | daemon CPU | requests per daemon CPU-second |');
    p('|---|---|---|---|---|---|---|---|');
    p(`| ${a.requests} | ${a.errors} | ${f0(a.rps)} | ${ms(a.latencyMs.p50)} | ${ms(a.latencyMs.p99)} | ${ms(a.latencyMs.max)} | ${f1(a.daemonCpuSeconds)} s | ${f0(a.rpsPerCpuSecond)} |`);
    p();
    p('There is no CLI counterpart (gitopper\'s API is Go), so no ratio. "On one core": the daemon serves requests on one thread, so requests per daemon CPU-second is the one-core figure; on a loaded machine the raw rate is lower because the daemon does not get a whole core (and the load generator shares the 2 cores). The daemon\'s CPU can exceed wall time: V8\'s GC threads run beside the main thread.');
    p();
    if (a.profile) p(profileTable('API daemon (start-up with its first setup, then the timed requests)', a.profile));
  }

  // ---- profiles
  p('## Where isomorphic-git is the limit');
  p();
  p('CPU profiles (`node --cpu-prof`, or the inspector for the in-process passes) of the runs above; shares are of sampled CPU time, not wall time (the rest of the wall time is waiting for the server).');
  p();
  if (med?.profile) p(profileTable('First setup, medium repo (ours)', med.profile));
  if (large?.profile) p(profileTable('First setup, large repo (ours)', large.profile));
  if (r.idle?.profiles) {
    for (const [k, v] of Object.entries(r.idle.profiles)) p(profileTable(`Nothing-new passes, ${k.replace('-', ', ')} services`, v));
  }
  p(findings(r));
  p('## How to run');
  p();
  p('```');
  p('npm ci');
  p('npm run bench          # as root: npm run build, then bench/run.mjs (unshare -m --propagation private)');
  p('```');
  p();
  p('Needs root (bind mounts and a systemd user manager in a private mount namespace, as `npm test`), `git`, `systemd` and `dbus-user-session`, and about 600 MB of free space in the temp dir. Takes under 10 minutes on 2 cores. `BENCH_QUICK=1` runs fewer passes (writes `bench/results/<date>-quick.json`, leaves this page alone); `BENCH_ONLY=setup,idle,steady,daemon` runs a subset. CPU profiles land in `bench/results/profiles/`.');
  p();
  return out.join('\n');
}

export function apiNote(d: DaemonResult | undefined): string {
  const a = d?.api;
  if (!a?.profile) return '';
  const share = (m: string) => a.profile!.byCaller.find((x) => x.module === m)?.share ?? 0;
  const verify = a.profile.topFunctions.find((t) => t.fn.startsWith('verifyOneShot'))?.share ?? 0;
  return `
7. **API.** ${f0(a.rpsPerCpuSecond)} signed reads per CPU-second (${a.rpsPerCpuSecond >= 2000 ? 'the target is met' : 'below the target'}). Request signing is most of the cost: http-message-signatures ${f1(share('http-message-signatures'))}% and structured-headers ${f1(share('structured-headers'))}% of the API daemon's CPU (the ed25519 verification itself, \`verifyOneShot\`, ${f1(verify)}%), express and its router ${f1(share('express') + share('router'))}%. Nothing to fix for the target; if more is ever needed, parse \`Signature-Input\` once (\`auth.ts\` parses it and http-message-signatures parses it again).
`;
}
