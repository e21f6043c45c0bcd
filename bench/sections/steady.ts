/**
 * Item 4, steady state (run in its own process with --expose-gc, plus the variant's node flags): 10
 * services on one upstream (a private copy of the medium repo), `passes` timer polls driven through
 * the core as the daemon runs them (lib/core.ts: IsoGit with the daemon's options, so the first fetch
 * runs in a child and the store is compacted above the adapter's default; quiet polls and full passes
 * as the tracker decides), with a commit pushed every `commitEvery` passes (each touching the next
 * service's link; the poll after it is a full pass that applies it). Sampled every 10 passes:
 * RSS, heap, external memory; every 100 passes also after a forced GC. Leak check: least-squares
 * slope of RSS and of the post-GC heap over the second half of the run. Then the store's size on
 * disk at rest (two more quiet polls, the retire grace apart, delete the packs a compaction replaced)
 * against a fresh clone of the same tip (a fresh IsoGit store: one pack; and `git clone --bare`).
 */
import { cp, mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { IsoGit } from '../../src/adapters/git/iso-git.js';
import { DEFAULT_COMPACT_ABOVE, RETIRE_GRACE_MS } from '../../src/adapters/git/compact.js';
import { ChildWatch } from '../lib/children.js';
import { removeDirs } from '../../test/rig/repo.js';
import { cliSetup } from '../lib/cli.js';
import { CoreRig, DAEMON_GIT_OPTIONS } from '../lib/core.js';
import { BenchGitServer, type ServerPorts } from '../lib/gitserver.js';
import { fileOf, linksOf } from '../lib/repos.js';
import { countFiles, duBytes, git, sleep, slope, statusKiB, summary, type Summary } from '../lib/util.js';

export interface SteadyArgs {
  tmp: string;
  server: ServerPorts;
  serverRoot: string;
  /** Name of the variant (its node flags are given by main). */
  variant: string;
  passes: number;
  capSeconds: number;
  services: number;
  commitEvery: number;
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
  variant: string;
  /** IsoGit options used (the daemon's) and the adapter's compaction threshold. */
  gitOptions: object;
  compactAbove: number;
  /** Compactions reported through onNotice ('object store compacted'). */
  compactions: number;
  /** Fetch children seen on CHILD_CHANNEL: first fetches and compactions, with their largest peak RSS. */
  children: { fetch: number; compact: number; fetchPeakMiB: number; compactPeakMiB: number };
  /** Passes by what the tracker did: quiet (every service skipped), full, mixed. */
  kinds: { quiet: number; full: number; mixed: number };
  /** Pass wall by kind over the whole run. */
  wallByKind: { quiet: Summary; full: Summary };
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
  /**
   * The store at rest (bytes, packs: after the last pass, a compaction in flight swapped in and the
   * packs it replaced deleted, as the daemon's next polls do), its size as the last pass left it
   * (`bytesAtLastPass`, `packsAtLastPass`: both copies when a compaction was swapped in within the
   * retire grace), and fresh clones of the same tip.
   */
  store: { bytes: number; packs: number; bytesAtLastPass?: number; packsAtLastPass?: number; freshIsoBytes: number; freshCliBareBytes: number; cliPartialPerServiceBytes: number; ratioToFresh: number };
  errors: string[];
  /** Extra node flags of the process (set by main). */
  nodeArgs?: string[];
  /** The unit environment the variant ran with (set by main). */
  env?: Record<string, string>;
}

const MiB = 1024 * 1024;

export async function steadySection(a: SteadyArgs): Promise<SteadyResult> {
  const server = new BenchGitServer(a.server);
  const variant = a.variant;
  const repoDir = `steady-${variant}.git`;
  const bare = path.join(a.serverRoot, repoDir);
  await cp(path.join(a.serverRoot, 'medium.git'), bare, { recursive: true });
  const dir = path.join(a.tmp, `steady-${variant}`);
  await mkdir(dir, { recursive: true });
  const work = path.join(dir, 'work');
  await git(['clone', '--quiet', bare, work]);
  const url = server.url(repoDir);
  const agentDir = path.join(dir, 'agent');
  const watch = new ChildWatch(2);
  const rig = new CoreRig({ url, dir: agentDir, services: a.services, links: (i) => linksOf('medium', i) });
  await rig.start();
  const rssAfterSetupMiB = process.memoryUsage().rss / MiB;
  const gc = (globalThis as { gc?: () => void }).gc;
  const samples: Sample[] = [];
  const walls: number[] = [];
  const kinds = { quiet: 0, full: 0, mixed: 0 };
  const byKind: { quiet: number[]; full: number[] } = { quiet: [], full: [] };
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
    const t = await rig.poll();
    walls.push(t.wallMs);
    kinds[t.kind]++;
    if (t.kind !== 'mixed') byKind[t.kind].push(t.wallMs);
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
  const store = rig.git.storeOf(url);
  const bytesAtLastPass = duBytes(store);
  const packsAtLastPass = countFiles(path.join(store, 'objects', 'pack'), '.pack');
  // the store at rest, as the daemon's next polls leave it (compact.ts): a compaction still running
  // ends, the next fetch swaps its copy in and retires the packs it replaces, and the first fetch at
  // least RETIRE_GRACE_MS later deletes them (two nothing-new polls, not counted above)
  await rig.git.settle();
  await rig.poll();
  await sleep(RETIRE_GRACE_MS + 100);
  await rig.poll();
  await rig.stop();
  watch.close();

  const half = samples.filter((s) => s.pass >= done / 2);
  const gcs = samples.filter((s) => s.gcHeapMiB !== undefined);
  const gcHalf = gcs.filter((s) => s.pass >= done / 2);
  const storeBytes = duBytes(store);
  const packs = countFiles(path.join(store, 'objects', 'pack'), '.pack');
  // a fresh clone of the same tip: a new IsoGit store (one fetch, one pack), the CLI's full bare clone,
  // and the CLI's per-service partial sparse clone (gitopper keeps one per service)
  const fresh = new IsoGit(path.join(dir, 'fresh'), () => {}, DAEMON_GIT_OPTIONS);
  await fresh.fetch({ upstream: url, branch: 'main', tokenFile: undefined });
  const freshIsoBytes = duBytes(fresh.storeOf(url));
  await git(['clone', '--quiet', '--bare', url, path.join(dir, 'cli-bare.git')]);
  const freshCliBareBytes = duBytes(path.join(dir, 'cli-bare.git'));
  await cliSetup(url, path.join(dir, 'cli-partial'), linksOf('medium', 0));
  const cliPartialPerServiceBytes = duBytes(path.join(dir, 'cli-partial', '.git'));
  await removeDirs(dir, bare);
  const ix = (s: Sample[]) => s.map((x) => x.pass / 100);
  return {
    variant,
    gitOptions: DAEMON_GIT_OPTIONS,
    compactAbove: DAEMON_GIT_OPTIONS.compactAbove ?? DEFAULT_COMPACT_ABOVE,
    compactions: rig.compactions,
    children: { fetch: watch.count('fetch'), compact: watch.count('compact'), fetchPeakMiB: watch.maxPeakKiB('fetch') / 1024, compactPeakMiB: watch.maxPeakKiB('compact') / 1024 },
    kinds,
    wallByKind: { quiet: summary(byKind.quiet), full: summary(byKind.full) },
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
    store: { bytes: storeBytes, packs, bytesAtLastPass, packsAtLastPass, freshIsoBytes, freshCliBareBytes, cliPartialPerServiceBytes, ratioToFresh: storeBytes / freshIsoBytes },
    errors: [...rig.errors.slice(0, 5), ...rig.notices.filter((n) => n.msg !== 'object store compacted').slice(0, 3).map((n) => `notice: ${n.msg} ${JSON.stringify(n.data)}`)],
  };
}
