/**
 * Item 2, a pass with nothing new, for 1, 10 and 100 services on one upstream (the medium repo):
 * wall and CPU time per pass and HTTP requests seen by the git server, for
 *  - ours: the core (`new Agent`) with the real IsoGit adapter, real bind mounts (BindMounter, in
 *    the bench's private mount namespace) and in-memory units (a nothing-new pass calls no unit);
 *  - proposed: the same with the fixes of `lib/proposed-git.ts`;
 *  - cli: gitopper's per-service sequence (stash, fetch, diff --name-only, merge, rev-parse), one
 *    partial sparse clone per service, 4 services at a time (CPU = git processes').
 * One profiled set of passes per adapter at the largest service count.
 */
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { Session } from 'node:inspector/promises';
import { writeFile } from 'node:fs/promises';
import { BindMounter } from '../../src/adapters/mount.js';
import { removeDirs } from '../../test/rig/repo.js';
import { cliPass, cliSetup } from '../lib/cli.js';
import { CoreRig } from '../lib/core.js';
import { BenchGitServer, type ServerPorts } from '../lib/gitserver.js';
import { summarize, type ProfileSummary } from '../lib/profile.js';
import { linksOf } from '../lib/repos.js';
import { childCpuMs, summary, type Summary } from '../lib/util.js';

export interface IdleArgs {
  tmp: string;
  server: ServerPorts;
  counts: number[];
  passes: number;
  /** Passes of the CLI at the largest count (it takes seconds each). */
  cliPassesLargest: number;
  profileDir: string;
  realMounts: boolean;
}

export interface IdleRow {
  services: number;
  variant: 'ours' | 'proposed' | 'cli';
  passes: number;
  wallMs: Summary;
  cpuMs: Summary;
  requestsPerPass: number;
  uploadPackPostsPerPass: number;
  serverCpuMsPerPass: number;
  /** Bytes the git server sent per pass. */
  bytesPerPass: number;
  /** ms of the pass spent in the fetch (ours only). */
  fetchMs?: Summary;
  setupMs: number;
  errors: string[];
}

export interface IdleResult {
  rows: IdleRow[];
  profiles: Record<string, ProfileSummary>;
  mounts: 'real' | 'in-memory';
}

const REPO = 'medium';
/** CLI services run at once (gitopper: a goroutine per service). */
export const CLI_CONCURRENCY = 4;

async function ours(a: IdleArgs, server: BenchGitServer, n: number, proposed: boolean, profile: boolean): Promise<{ row: IdleRow; profile?: ProfileSummary }> {
  const dir = path.join(a.tmp, `idle-${proposed ? 'proposed' : 'ours'}-${n}`);
  const rig = new CoreRig({ url: server.url(`${REPO}.git`), dir, services: n, links: (i) => linksOf(REPO, i), proposed, ...(a.realMounts ? { mounts: new BindMounter() } : {}) });
  const setupMs = await rig.start();
  await rig.pass(); // warm-up
  const wall: number[] = [];
  const cpu: number[] = [];
  const fetchMs: number[] = [];
  const before = await server.count(1e12);
  for (let i = 0; i < a.passes; i++) {
    const p = await rig.pass();
    wall.push(p.wallMs);
    cpu.push(p.cpuMs);
    fetchMs.push(p.fetchMs);
  }
  const c = await server.count(before.mark);
  let prof: ProfileSummary | undefined;
  if (profile) {
    const s = new Session();
    s.connect();
    await s.post('Profiler.enable');
    await s.post('Profiler.setSamplingInterval', { interval: 250 });
    await s.post('Profiler.start');
    for (let i = 0; i < 2; i++) await rig.pass();
    const { profile: p } = await s.post('Profiler.stop');
    s.disconnect();
    const file = path.join(a.profileDir, `idle-${proposed ? 'proposed' : 'ours'}-${n}.cpuprofile`);
    await mkdir(a.profileDir, { recursive: true });
    await writeFile(file, JSON.stringify(p));
    prof = summarize(file);
  }
  await rig.stop();
  await removeDirs(dir);
  return {
    row: {
      services: n,
      variant: proposed ? 'proposed' : 'ours',
      passes: a.passes,
      wallMs: summary(wall),
      cpuMs: summary(cpu),
      requestsPerPass: c.requests / a.passes,
      uploadPackPostsPerPass: c.posts / a.passes,
      serverCpuMsPerPass: (c.cpuMs - before.cpuMs) / a.passes,
      bytesPerPass: (c.bytesOut - before.bytesOut) / a.passes,
      fetchMs: summary(fetchMs),
      setupMs,
      errors: rig.errors.slice(0, 5),
    },
    ...(prof ? { profile: prof } : {}),
  };
}

async function cli(a: IdleArgs, server: BenchGitServer, n: number, passes: number, warmup: boolean): Promise<IdleRow> {
  const dir = path.join(a.tmp, `idle-cli-${n}`);
  await mkdir(dir, { recursive: true });
  const url = server.url(`${REPO}.git`);
  const t0 = performance.now();
  for (let i = 0; i < n; i += 4) {
    await Promise.all(Array.from({ length: Math.min(4, n - i) }, (_, k) => cliSetup(url, path.join(dir, `svc${i + k}`), linksOf(REPO, i + k))));
  }
  const setupMs = performance.now() - t0;
  // gitopper runs each service in its own goroutine: 4 services at a time here (2 cores)
  const pass = async () => {
    let next = 0;
    const worker = async () => {
      while (next < n) {
        const i = next++;
        await cliPass(path.join(dir, `svc${i}`), linksOf(REPO, i));
      }
    };
    await Promise.all(Array.from({ length: Math.min(CLI_CONCURRENCY, n) }, worker));
  };
  if (warmup) await pass();
  const wall: number[] = [];
  const cpu: number[] = [];
  const before = await server.count(1e12);
  for (let p = 0; p < passes; p++) {
    const c0 = childCpuMs();
    const w0 = performance.now();
    await pass();
    wall.push(performance.now() - w0);
    cpu.push(childCpuMs() - c0);
  }
  const c = await server.count(before.mark);
  await removeDirs(dir);
  return { services: n, variant: 'cli', passes, wallMs: summary(wall), cpuMs: summary(cpu), requestsPerPass: c.requests / passes, uploadPackPostsPerPass: c.posts / passes, serverCpuMsPerPass: (c.cpuMs - before.cpuMs) / passes, bytesPerPass: (c.bytesOut - before.bytesOut) / passes, setupMs, errors: [] };
}

export async function idleSection(a: IdleArgs): Promise<IdleResult> {
  const server = new BenchGitServer(a.server);
  const rows: IdleRow[] = [];
  const profiles: Record<string, ProfileSummary> = {};
  const largest = Math.max(...a.counts);
  for (const n of a.counts) {
    for (const variant of ['ours', 'proposed', 'cli'] as const) {
      let row: IdleRow;
      if (variant === 'cli') row = await cli(a, server, n, n === largest ? a.cliPassesLargest : a.passes, n !== largest);
      else {
        const r = await ours(a, server, n, variant === 'proposed', n === largest);
        row = r.row;
        if (r.profile) profiles[`${variant}-${n}`] = r.profile;
      }
      rows.push(row);
      process.stderr.write(`  idle ${n} ${variant}: ${Math.round(row.wallMs.median)} ms/pass wall, ${Math.round(row.cpuMs.median)} ms CPU, ${row.requestsPerPass} req/pass\n`);
    }
  }
  return { rows, profiles, mounts: a.realMounts ? 'real' : 'in-memory' };
}
