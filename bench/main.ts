/**
 * `npm run bench`: generates the repositories, starts the loopback git server, runs each section in
 * its own process, writes `bench/results/<date>.json` and `docs/performance.md`.
 * Must run as root in a private mount namespace (bench/run.mjs arranges it, as test/run.mjs does).
 *
 * Arguments (`npm run bench -- [SECTION…] [--quick] [--polls N]`) or environment:
 * SECTION… or BENCH_ONLY=setup,idle,steady,daemon,scale (a subset; the report then shows only those),
 * --quick or BENCH_QUICK=1 (fewer runs and passes: a smoke test, not for the record),
 * --polls N or BENCH_POLLS=N (polls the `scale` section measures per service count),
 * --counts 1,10,100 (service counts of the `scale` section on the medium repo), --large-counts 10 (on the large repo; 0 = none), --profile (the `scale` section's daemons CPU-profiled, a heap snapshot each: bench/results/profiles/scale-N/).
 */
import { execFileSync, spawn } from 'node:child_process';
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { startBenchGitServer } from './lib/gitserver.js';
import { configRepo, generate, type RepoInfo } from './lib/repos.js';
import { renderReport, type BenchResults, type SrcFeatures } from './lib/report.js';
import { DAEMON_GIT_OPTIONS } from './lib/core.js';
import type { SteadyResult } from './sections/steady.js';
import { machineLoad, ROOT, unitEnvironment, unitNodeOptions } from './lib/util.js';
import { removeDirs, tmpDir } from '../test/rig/repo.js';

const SECTIONS = ['setup', 'idle', 'steady', 'daemon', 'scale'];
const argv = process.argv.slice(2);
const flagValue = (name: string): string | undefined => {
  const i = argv.indexOf(name);
  return i >= 0 ? argv[i + 1] : undefined;
};
const positional = argv.filter((x, i) => !x.startsWith('--') && argv[i - 1] !== '--polls' && argv[i - 1] !== '--counts' && argv[i - 1] !== '--large-counts');
for (const x of positional) if (!SECTIONS.includes(x)) throw new Error(`unknown bench section ${x} (sections: ${SECTIONS.join(', ')})`);
const quick = process.env.BENCH_QUICK === '1' || argv.includes('--quick');
const only = positional.length > 0 ? positional : (process.env.BENCH_ONLY ?? SECTIONS.join(',')).split(',').map((s) => s.trim());
const scalePolls = Number(flagValue('--polls') ?? process.env.BENCH_POLLS ?? (quick ? 20 : 300));

/** Variables the shipped unit may set; a section run "without the unit's environment" drops them. */
const UNIT_VARS = ['NODE_OPTIONS', 'MALLOC_ARENA_MAX', 'MALLOC_MMAP_THRESHOLD_'];

async function section<T>(name: string, args: object, nodeArgs: string[] = [], env?: Record<string, string>): Promise<T> {
  const dir = await tmpDir(`bench-${name}`);
  const argsFile = path.join(dir, 'args.json');
  const outFile = path.join(dir, 'result.json');
  await writeFile(argsFile, JSON.stringify(args));
  const t0 = performance.now();
  process.stderr.write(`bench: ${name}…\n`);
  const code = await new Promise<number | null>((resolve) => {
    const base = env ? Object.fromEntries(Object.entries(process.env).filter(([k]) => !UNIT_VARS.includes(k))) : process.env;
    const child = spawn(process.execPath, [...nodeArgs, path.join(ROOT, 'dist', 'bench', 'section.js'), name, argsFile, outFile], { stdio: ['ignore', 'inherit', 'inherit'], env: { ...base, ...env } });
    child.on('exit', (c) => resolve(c));
  });
  if (code !== 0) throw new Error(`section ${name} exited ${code}`);
  const result = JSON.parse(await readFile(outFile, 'utf8')) as T;
  process.stderr.write(`bench: ${name} done in ${((performance.now() - t0) / 1000).toFixed(0)} s\n`);
  await removeDirs(dir);
  return result;
}

function version(cmd: string, args: string[]): string {
  try {
    return execFileSync(cmd, args, { encoding: 'utf8' }).trim();
  } catch {
    return 'unknown';
  }
}

/**
 * What the bench found in src/ and cmd/ when it ran (read from the source; the report cites it), and
 * whether the daemon still builds IsoGit as the bench does (lib/core.ts DAEMON_GIT_OPTIONS).
 */
async function srcFeatures(): Promise<SrcFeatures> {
  const dir = path.join(ROOT, 'src', 'adapters', 'git');
  const main = await readFile(path.join(dir, 'iso-git.ts'), 'utf8').catch(() => '');
  const gitFiles = (await readdir(dir, { recursive: true })).filter((f) => f.endsWith('.ts'));
  const all = (await Promise.all(gitFiles.map((f) => readFile(path.join(dir, f), 'utf8')))).join('\n');
  const tracker = await readFile(path.join(ROOT, 'src', 'core', 'tracker.ts'), 'utf8').catch(() => '');
  const daemon = await readFile(path.join(ROOT, 'src', 'daemon', 'host-ports.ts'), 'utf8').catch(() => '');
  const drift = /async drift\([\s\S]*?\n  }\n/.exec(main)?.[0] ?? '';
  // the third argument of `new IsoGit(stateDir, onNotice, {…})` in the daemon (balanced parentheses)
  let opts: string | undefined;
  const at = daemon.indexOf('new IsoGit(');
  if (at >= 0) {
    let depth = 0;
    let end = at + 'new IsoGit'.length;
    for (; end < daemon.length; end++) {
      if (daemon[end] === '(') depth++;
      else if (daemon[end] === ')' && --depth === 0) break;
    }
    opts = /,\s*(\{[^{}]*\})\s*$/.exec(daemon.slice(at + 'new IsoGit('.length, end))?.[1];
  }
  const daemonGitOptions = opts?.replace(/\s+/g, ' ').trim() ?? '(none: adapter defaults)';
  const benchGitOptions = JSON.stringify(DAEMON_GIT_OPTIONS).replace(/"/g, '').replace(/:/g, ': ').replace(/,/g, ', ').replace(/^\{/, '{ ').replace(/\}$/, ' }');
  return {
    fetchShortcut: /listServerRefs/.test(all),
    storeReads: /readCommit\(\{[^}]*gitdir: this\.storeOf\(/.test(main),
    driftStatusMatrix: /statusMatrix/.test(drift),
    driftWalk: /STAGE\(\)/.test(drift),
    quietPolls: /verifyEveryPolls/.test(tracker),
    fetchInChild: /fetchInChild/.test(main),
    compaction: /compactStore|class Compactor|packObjects/.test(all),
    compactionInBackground: /class Compactor/.test(all) && /beforeFetch/.test(main),
    daemonGitOptions,
    benchGitOptions,
    unitNodeOptions: unitNodeOptions(),
  };
}

/**
 * The newest results file other than `exclude` (not a -quick one, nor one recording `quick: true`), by the `date` it records:
 * the "before" column of the report. Undefined when there is none or it cannot be read.
 */
async function previousResults(dir: string, exclude: string): Promise<{ file: string; data: unknown } | undefined> {
  let best: { file: string; data: unknown; date: string } | undefined;
  for (const f of await readdir(dir).catch(() => [] as string[])) {
    if (!f.endsWith('.json') || f.endsWith('-quick.json') || f === path.basename(exclude)) continue;
    try {
      const data = JSON.parse(await readFile(path.join(dir, f), 'utf8')) as { date?: unknown; quick?: unknown };
      if (data.quick === true || (data as { partial?: unknown }).partial === true) continue; // a quick or partial run kept for its own section: no "before" for a full one
      const date = typeof data.date === 'string' ? data.date : '';
      if (!best || date > best.date) best = { file: path.relative(ROOT, path.join(dir, f)), data, date };
    } catch {
      /* unreadable: not a candidate */
    }
  }
  return best ? { file: best.file, data: best.data } : undefined;
}

async function main(): Promise<void> {
  if (process.getuid?.() !== 0 || process.env.GITOPPER_TEST_NS !== '1') {
    throw new Error('run the bench through `npm run bench` (bench/run.mjs): it needs root and a private mount namespace');
  }
  const started = new Date();
  const t0 = performance.now();
  const loadStart = machineLoad();
  const tmp = await tmpDir('gitopper-bench');
  const serverRoot = path.join(tmp, 'git');
  const profileDir = path.join(ROOT, 'bench', 'results', 'profiles');
  const repos: RepoInfo[] = [];
  process.stderr.write(`bench: generating repositories in ${serverRoot}\n`);
  repos.push(await configRepo(serverRoot));
  repos.push(await generate(serverRoot, 'medium'));
  repos.push(await generate(serverRoot, 'large'));
  const { server, stop } = await startBenchGitServer(serverRoot);
  const results: BenchResults = {
    date: started.toISOString(),
    quick,
    machine: {
      cpu: os.cpus()[0]?.model ?? 'unknown',
      cores: os.cpus().length,
      memGiB: Math.round(os.totalmem() / 2 ** 30),
      kernel: os.release(),
      node: process.version,
      git: version('git', ['--version']),
      isomorphicGit: (JSON.parse(await readFile(path.join(ROOT, 'node_modules', 'isomorphic-git', 'package.json'), 'utf8')) as { version: string }).version,
    },
    load: { start: loadStart, end: loadStart },
    repos: repos.map((r) => ({ name: r.name, files: r.files, commits: r.commits, packMiB: r.packBytes / 2 ** 20, generateSeconds: r.seconds })),
    seconds: { total: 0 },
    src: await srcFeatures(),
  };
  if (results.src!.daemonGitOptions !== results.src!.benchGitOptions) {
    process.stderr.write(`bench: WARNING: src/daemon/host-ports.ts builds IsoGit with ${results.src!.daemonGitOptions}, the bench with ${results.src!.benchGitOptions} (bench/lib/core.ts DAEMON_GIT_OPTIONS)\n`);
  }
  const base = { tmp, server: server.ports, serverRoot, profileDir };
  try {
    if (only.includes('setup')) {
      const t = performance.now();
      results.setup = await section('setup', { ...base, repos: [{ name: 'small', runs: quick ? 2 : 5, inprocRuns: quick ? 1 : 5 }, { name: 'medium', runs: quick ? 2 : 5, inprocRuns: quick ? 1 : 5 }, { name: 'large', runs: quick ? 1 : 3, inprocRuns: quick ? 1 : 2 }] });
      results.seconds.setup = (performance.now() - t) / 1000;
    }
    if (only.includes('idle')) {
      const t = performance.now();
      results.idle = await section('idle', { ...base, counts: quick ? [1, 10] : [1, 10, 100], polls: 20, passes: quick ? 3 : 5, cliPassesLargest: quick ? 2 : 5, realMounts: true });
      results.seconds.idle = (performance.now() - t) / 1000;
    }
    if (only.includes('steady')) {
      const t = performance.now();
      results.steady = [];
      // (a) as shipped: the daemon's IsoGit options and the unit's whole environment (NODE_OPTIONS and
      // glibc malloc variables); (b) NODE_OPTIONS alone; (c) none of it: each one's share
      const unit = unitEnvironment();
      const variants: { variant: string; env: Record<string, string> }[] = [
        { variant: 'shipped', env: unit },
        { variant: 'node-options-only', env: unit.NODE_OPTIONS ? { NODE_OPTIONS: unit.NODE_OPTIONS } : {} },
        { variant: 'no-unit-env', env: {} },
      ];
      for (const v of variants) {
        const r = await section<SteadyResult>('steady', { ...base, variant: v.variant, passes: quick ? 200 : 1000, capSeconds: quick ? 20 : 75, services: 10, commitEvery: 10 }, ['--expose-gc'], v.env);
        results.steady.push({ ...r, env: v.env, nodeArgs: (v.env.NODE_OPTIONS ?? '').split(/\s+/).filter(Boolean) });
      }
      results.seconds.steady = (performance.now() - t) / 1000;
    }
    if (only.includes('daemon')) {
      const t = performance.now();
      results.daemon = await section('daemon', { ...base, pushes: quick ? 5 : 20, apiSeconds: quick ? 2 : 5, apiConcurrency: 8 });
      results.seconds.daemon = (performance.now() - t) / 1000;
    }
    if (only.includes('scale')) {
      const t = performance.now();
      results.scale = await section('scale', { tmp, server: server.ports, counts: (flagValue('--counts') ?? '1,10,100').split(',').map(Number), largeCounts: (flagValue('--large-counts') ?? '10').split(',').map(Number).filter((n) => n > 0), polls: scalePolls, warmPolls: quick ? 3 : 10, cliPasses: quick ? 5 : 10, ...(argv.includes('--profile') ? { profileDir } : {}) });
      results.seconds.scale = (performance.now() - t) / 1000;
    }
  } finally {
    await stop();
    await removeDirs(tmp);
  }
  results.load.end = machineLoad();
  results.seconds.total = (performance.now() - t0) / 1000;
  const day = started.toISOString().slice(0, 10);
  await mkdir(path.join(ROOT, 'bench', 'results'), { recursive: true });
  // a run of some sections only never replaces the day's full run: it gets a file of its own
  const partial = !SECTIONS.every((x) => only.includes(x));
  if (partial) results.partial = true;
  const jsonFile = path.join(ROOT, 'bench', 'results', `${day}${partial ? `-${only.join('-')}` : ''}${quick ? '-quick' : ''}.json`);
  const prev = await previousResults(path.join(ROOT, 'bench', 'results'), jsonFile);
  if (prev) results.previousFile = prev.file;
  await writeFile(jsonFile, `${JSON.stringify(results, null, 1)}\n`);
  const page = renderReport(results, path.relative(ROOT, jsonFile), prev);
  if (!quick && !partial) await writeFile(path.join(ROOT, 'docs', 'performance.md'), page);
  else {
    // the page a full run would write, for checking the report: beside the quick results, never in docs/
    await writeFile(jsonFile.replace(/\.json$/, '.preview.md'), page);
    process.stderr.write(`bench: partial or quick run: docs/performance.md left unchanged (the page is in ${path.relative(ROOT, jsonFile.replace(/\.json$/, '.preview.md'))})\n`);
  }
  process.stderr.write(`bench: wrote ${path.relative(ROOT, jsonFile)} in ${results.seconds.total.toFixed(0)} s\n`);
}

main().catch((err: unknown) => {
  process.stderr.write(`bench: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
