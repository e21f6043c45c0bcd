/**
 * Item 4, steady state (run in its own process with --expose-gc): 10 services on one upstream (a
 * private copy of the medium repo), `passes` passes driven through the core with a commit pushed
 * every `commitEvery` passes (each touching the next service's link). Sampled every 10 passes:
 * RSS, heap, external memory; every 100 passes also after a forced GC. Leak check: least-squares
 * slope of RSS and of the post-GC heap over the second half of the run. Then the store's size on
 * disk against a fresh clone of the same tip (a fresh IsoGit store: one pack; and `git clone --bare`).
 */
import { execFile } from 'node:child_process';
import { cp, mkdir, writeFile } from 'node:fs/promises';
import { promisify } from 'node:util';
import path from 'node:path';
import { IsoGit } from '../../src/adapters/git.js';
import { removeDirs } from '../../test/rig/repo.js';
import { cliSetup } from '../lib/cli.js';
import { CoreRig } from '../lib/core.js';
import { BenchGitServer, type ServerPorts } from '../lib/gitserver.js';
import { fileOf, linksOf } from '../lib/repos.js';
import { countFiles, duBytes, git, ROOT, slope, statusKiB, summary, type Summary } from '../lib/util.js';

const run = promisify(execFile);

export interface SteadyArgs {
  tmp: string;
  server: ServerPorts;
  serverRoot: string;
  adapter: 'ours' | 'proposed';
  passes: number;
  capSeconds: number;
  services: number;
  commitEvery: number;
  /**
   * Make the store (the first, full fetch) in a short-lived child process before the agent starts, so
   * the agent's process never holds a whole pack (the recommended fix for steady-state RSS).
   */
  setupInChild?: boolean;
  /** Compact the store above this many packs (fix 6); 0 = never. */
  compactAbove?: number;
}

interface Sample {
  pass: number;
  rssMiB: number;
  heapMiB: number;
  heapTotalMiB: number;
  externalMiB: number;
  arrayBuffersMiB: number;
  gcHeapMiB?: number;
  gcRssMiB?: number;
}

export interface SteadyResult {
  adapter: 'ours' | 'proposed';
  setupInChild: boolean;
  compactAbove: number;
  compactions: number;
  /** RSS right after the first pass (first setup of every service). */
  rssAfterSetupMiB: number;
  passesPlanned: number;
  passesDone: number;
  commits: number;
  capped: boolean;
  seconds: number;
  passWallMs: { first100: Summary; last100: Summary; all: Summary };
  rssEndMiB: number;
  heapEndMiB: number;
  gcHeapEndMiB: number;
  peakRssMiB: number;
  /** MiB per 100 passes over the second half. */
  rssSlopeMiBPer100: number;
  gcHeapSlopeMiBPer100: number;
  samples: Sample[];
  store: { bytes: number; packs: number; freshIsoBytes: number; freshCliBareBytes: number; cliPartialPerServiceBytes: number; ratioToFresh: number };
  errors: string[];
  /** Extra node flags of the process (set by main). */
  nodeArgs?: string[];
}

const MiB = 1024 * 1024;

export async function steadySection(a: SteadyArgs): Promise<SteadyResult> {
  const server = new BenchGitServer(a.server);
  const variant = `${a.adapter}${a.setupInChild ? '-child' : ''}${a.compactAbove ? '-compact' : ''}`;
  const repoDir = `steady-${variant}.git`;
  const bare = path.join(a.serverRoot, repoDir);
  await cp(path.join(a.serverRoot, 'medium.git'), bare, { recursive: true });
  const dir = path.join(a.tmp, `steady-${variant}`);
  await mkdir(dir, { recursive: true });
  const work = path.join(dir, 'work');
  await git(['clone', '--quiet', bare, work]);
  const url = server.url(repoDir);
  const agentDir = path.join(dir, 'agent');
  if (a.setupInChild) {
    await run(process.execPath, [path.join(ROOT, 'dist', 'bench', 'setup-child.js'), a.adapter === 'ours' ? 'iso' : 'proposed', url, path.join(agentDir, 'state'), path.join(agentDir, 'mount', 'svc0'), JSON.stringify(linksOf('medium', 0))]);
  }
  const rig = new CoreRig({ url, dir: agentDir, services: a.services, links: (i) => linksOf('medium', i), proposed: a.adapter === 'proposed', compactAbove: a.compactAbove ?? 0 });
  await rig.start();
  const rssAfterSetupMiB = process.memoryUsage().rss / MiB;
  const gc = (globalThis as { gc?: () => void }).gc;
  const samples: Sample[] = [];
  const walls: number[] = [];
  let commits = 0;
  const t0 = performance.now();
  let done = 0;
  const mem = (): Sample => {
    const m = process.memoryUsage();
    return { pass: done, rssMiB: m.rss / MiB, heapMiB: m.heapUsed / MiB, heapTotalMiB: m.heapTotal / MiB, externalMiB: m.external / MiB, arrayBuffersMiB: m.arrayBuffers / MiB };
  };
  samples.push(mem());
  for (let p = 1; p <= a.passes; p++) {
    if (p % a.commitEvery === 0) {
      const k = commits++;
      const file = path.join(work, fileOf('medium', k % a.services));
      await writeFile(file, `# steady state commit ${k}\nvalue = ${k}\n`);
      await git(['commit', '--quiet', '-am', `steady ${k}`], { cwd: work });
      await git(['push', '--quiet', 'origin', 'HEAD:main'], { cwd: work });
    }
    const t = await rig.pass();
    walls.push(t.wallMs);
    done = p;
    if (p % 10 === 0) {
      const s = mem();
      if (p % 100 === 0 && gc) {
        gc();
        const g = process.memoryUsage();
        s.gcHeapMiB = g.heapUsed / MiB;
        s.gcRssMiB = g.rss / MiB;
      }
      samples.push(s);
    }
    if ((performance.now() - t0) / 1000 > a.capSeconds) break;
    if (p % 100 === 0) process.stderr.write(`  steady ${variant}: ${p} passes, ${Math.round(mem().rssMiB)} MiB RSS, last pass ${Math.round(t.wallMs)} ms\n`);
  }
  const seconds = (performance.now() - t0) / 1000;
  const endRaw = process.memoryUsage();
  gc?.();
  const end = process.memoryUsage();
  const peakRssMiB = statusKiB('self', 'VmHWM') / 1024;
  await rig.stop();

  const half = samples.filter((s) => s.pass >= done / 2);
  const gcs = samples.filter((s) => s.gcHeapMiB !== undefined);
  const gcHalf = gcs.filter((s) => s.pass >= done / 2);
  const store = rig.git.storeOf(url);
  const storeBytes = duBytes(store);
  const packs = countFiles(path.join(store, 'objects', 'pack'), '.pack');
  // a fresh clone of the same tip: a new IsoGit store (one fetch, one pack), the CLI's full bare clone,
  // and the CLI's per-service partial sparse clone (gitopper keeps one per service)
  const fresh = new IsoGit(path.join(dir, 'fresh'));
  await fresh.fetch({ upstream: url, branch: 'main', tokenFile: undefined }, { cache: {} });
  const freshIsoBytes = duBytes(fresh.storeOf(url));
  await git(['clone', '--quiet', '--bare', url, path.join(dir, 'cli-bare.git')]);
  const freshCliBareBytes = duBytes(path.join(dir, 'cli-bare.git'));
  await cliSetup(url, path.join(dir, 'cli-partial'), linksOf('medium', 0));
  const cliPartialPerServiceBytes = duBytes(path.join(dir, 'cli-partial', '.git'));
  await removeDirs(dir, bare);
  const ix = (s: Sample[]) => s.map((x) => x.pass / 100);
  return {
    adapter: a.adapter,
    setupInChild: a.setupInChild === true,
    compactAbove: a.compactAbove ?? 0,
    compactions: (rig.git as { compactions?: number }).compactions ?? 0,
    rssAfterSetupMiB,
    passesPlanned: a.passes,
    passesDone: done,
    commits,
    capped: done < a.passes,
    seconds,
    passWallMs: { first100: summary(walls.slice(0, 100)), last100: summary(walls.slice(-100)), all: summary(walls) },
    rssEndMiB: endRaw.rss / MiB,
    heapEndMiB: endRaw.heapUsed / MiB,
    gcHeapEndMiB: end.heapUsed / MiB,
    peakRssMiB,
    rssSlopeMiBPer100: slope(ix(half), half.map((s) => s.rssMiB)),
    gcHeapSlopeMiBPer100: gcHalf.length >= 2 ? slope(ix(gcHalf), gcHalf.map((s) => s.gcHeapMiB!)) : NaN,
    samples,
    store: { bytes: storeBytes, packs, freshIsoBytes, freshCliBareBytes, cliPartialPerServiceBytes, ratioToFresh: storeBytes / freshIsoBytes },
    errors: rig.errors.slice(0, 5),
  };
}
