/**
 * Item 2, a pass with nothing new, for 1, 10 and 100 services on one upstream (the medium repo):
 * wall and CPU time per pass and HTTP requests seen by the git server, for
 *  - ours: the core (`new Agent`) with the real IsoGit adapter as the daemon builds it, real bind
 *    mounts (BindMounter, in the bench's private mount namespace) and in-memory units (a nothing-new
 *    pass calls no unit). Passes are TIMER polls (lib/core.ts TickClock), with the tracker's default
 *    `verifyEveryPolls` (10): after a warm-up pull, `polls` polls (a multiple of 10: whole cycles),
 *    each classified by what the tracker did (quiet: every service skipped; full: none skipped),
 *    then `passes` pulls (`agent.pull()`, always a full pass) for comparison;
 *  - cli: gitopper's per-service sequence (stash, fetch, diff --name-only, merge, rev-parse), one
 *    partial sparse clone per service, 4 services at a time (CPU = git processes').
 * At the largest service count, quiet polls and full passes are CPU-profiled (inspector).
 */
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { Session } from 'node:inspector/promises';
import { writeFile } from 'node:fs/promises';
import { BindMounter } from '../../src/adapters/mount/bind.js';
import { DEFAULT_VERIFY_EVERY } from '../../src/core/tracker.js';
import { removeDirs } from '../../test/rig/repo.js';
import { cliPass, cliSetup } from '../lib/cli.js';
import { CoreRig, type PassTiming } from '../lib/core.js';
import { BenchGitServer, type ServerPorts } from '../lib/gitserver.js';
import { summarize, type ProfileSummary } from '../lib/profile.js';
import { linksOf } from '../lib/repos.js';
import { childCpuMs, summary, type Summary } from '../lib/util.js';

export interface IdleArgs {
  tmp: string;
  server: ServerPorts;
  counts: number[];
  /** Timer polls measured per count (whole cycles of DEFAULT_VERIFY_EVERY). */
  polls: number;
  /** Pulls measured per count, and CLI passes. */
  passes: number;
  /** Passes of the CLI at the largest count (it takes seconds each). */
  cliPassesLargest: number;
  profileDir: string;
  realMounts: boolean;
}

/**
 * quiet: a timer poll that skipped every service; full-verify: the every-Nth poll (a full pass);
 * cycle: the mean over whole cycles of N polls (quiet and full together, as the daemon runs);
 * pull: `agent.pull()` (always full); cli: gitopper's sequence.
 */
export type IdleVariant = 'quiet' | 'full-verify' | 'cycle' | 'pull' | 'cli';

export interface IdleRow {
  services: number;
  variant: IdleVariant;
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
  /** cycle: mean wall and CPU per poll over all measured polls. */
  meanWallMs?: number;
  meanCpuMs?: number;
  setupMs: number;
  errors: string[];
}

export interface IdleResult {
  rows: IdleRow[];
  profiles: Record<string, ProfileSummary>;
  mounts: 'real' | 'in-memory';
  verifyEveryPolls: number;
  /** Kinds of the measured polls in order, per service count (q = quiet, F = full, m = mixed). */
  pollKinds: Record<string, string>;
}

const REPO = 'medium';
/** CLI services run at once (gitopper: a goroutine per service). */
export const CLI_CONCURRENCY = 4;

interface Measured {
  t: PassTiming;
  requests: number;
  posts: number;
  bytes: number;
  serverCpuMs: number;
}

async function measure(server: BenchGitServer, f: () => Promise<PassTiming>): Promise<Measured> {
  const before = await server.count(1e12);
  const t = await f();
  const c = await server.count(before.mark);
  return { t, requests: c.requests, posts: c.posts, bytes: c.bytesOut - before.bytesOut, serverCpuMs: c.cpuMs - before.cpuMs };
}

const mean = (xs: readonly number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;

function rowOf(n: number, variant: IdleVariant, ms: Measured[], setupMs: number, errors: string[]): IdleRow {
  return {
    services: n,
    variant,
    passes: ms.length,
    wallMs: summary(ms.map((m) => m.t.wallMs)),
    cpuMs: summary(ms.map((m) => m.t.cpuMs)),
    requestsPerPass: mean(ms.map((m) => m.requests)),
    uploadPackPostsPerPass: mean(ms.map((m) => m.posts)),
    serverCpuMsPerPass: mean(ms.map((m) => m.serverCpuMs)),
    bytesPerPass: mean(ms.map((m) => m.bytes)),
    fetchMs: summary(ms.map((m) => m.t.fetchMs)),
    setupMs,
    errors,
  };
}

async function profiled(dir: string, name: string, f: () => Promise<void>): Promise<ProfileSummary> {
  const s = new Session();
  s.connect();
  await s.post('Profiler.enable');
  await s.post('Profiler.setSamplingInterval', { interval: 250 });
  await s.post('Profiler.start');
  await f();
  const { profile: p } = await s.post('Profiler.stop');
  s.disconnect();
  const file = path.join(dir, `${name}.cpuprofile`);
  await mkdir(dir, { recursive: true });
  await writeFile(file, JSON.stringify(p));
  return summarize(file);
}

async function ours(a: IdleArgs, server: BenchGitServer, n: number, profile: boolean): Promise<{ rows: IdleRow[]; kinds: string; profiles: Record<string, ProfileSummary> }> {
  const dir = path.join(a.tmp, `idle-ours-${n}`);
  const rig = new CoreRig({ url: server.url(`${REPO}.git`), dir, services: n, links: (i) => linksOf(REPO, i), ...(a.realMounts ? { mounts: new BindMounter() } : {}) });
  const setupMs = await rig.start();
  await rig.pull(); // warm-up (a full pass); a pull also restarts the tracker's count of quiet polls
  const polls: Measured[] = [];
  for (let i = 0; i < a.polls; i++) polls.push(await measure(server, () => rig.poll()));
  const pulls: Measured[] = [];
  for (let i = 0; i < a.passes; i++) pulls.push(await measure(server, () => rig.pull()));
  const profiles: Record<string, ProfileSummary> = {};
  if (profile) {
    // after the pulls the count of quiet polls starts again: the next N-1 polls are quiet
    const kinds: string[] = [];
    profiles[`quiet-${n}`] = await profiled(a.profileDir, `idle-quiet-${n}`, async () => {
      for (let i = 0; i < DEFAULT_VERIFY_EVERY - 1; i++) kinds.push((await rig.poll()).kind);
    });
    if (kinds.some((k) => k !== 'quiet')) rig.errors.push(`profiled polls were not all quiet: ${kinds.join(',')}`);
    profiles[`full-${n}`] = await profiled(a.profileDir, `idle-full-${n}`, async () => {
      for (let i = 0; i < 2; i++) await rig.pull();
    });
  }
  const errors = rig.errors.slice(0, 5);
  await rig.stop();
  await removeDirs(dir);
  const quiet = polls.filter((m) => m.t.kind === 'quiet');
  const full = polls.filter((m) => m.t.kind === 'full');
  const rows = [rowOf(n, 'quiet', quiet, setupMs, errors), rowOf(n, 'full-verify', full, setupMs, errors)];
  // the cycle: every measured poll (a whole number of cycles), summarised per cycle of N polls
  const cycles: Measured[][] = [];
  for (let i = 0; i + DEFAULT_VERIFY_EVERY <= polls.length; i += DEFAULT_VERIFY_EVERY) cycles.push(polls.slice(i, i + DEFAULT_VERIFY_EVERY));
  const cyc = rowOf(n, 'cycle', polls, setupMs, errors);
  cyc.wallMs = summary(cycles.map((c) => mean(c.map((m) => m.t.wallMs))));
  cyc.cpuMs = summary(cycles.map((c) => mean(c.map((m) => m.t.cpuMs))));
  cyc.meanWallMs = mean(polls.map((m) => m.t.wallMs));
  cyc.meanCpuMs = mean(polls.map((m) => m.t.cpuMs));
  rows.push(cyc, rowOf(n, 'pull', pulls, setupMs, errors));
  const kinds = polls.map((m) => (m.t.kind === 'quiet' ? 'q' : m.t.kind === 'full' ? 'F' : 'm')).join('');
  return { rows, kinds, profiles };
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
  const pollKinds: Record<string, string> = {};
  const largest = Math.max(...a.counts);
  for (const n of a.counts) {
    const o = await ours(a, server, n, n === largest);
    rows.push(...o.rows);
    Object.assign(profiles, o.profiles);
    pollKinds[String(n)] = o.kinds;
    const c = await cli(a, server, n, n === largest ? a.cliPassesLargest : a.passes, n !== largest);
    rows.push(c);
    for (const row of [...o.rows, c]) process.stderr.write(`  idle ${n} ${row.variant}: ${Math.round(row.wallMs.median)} ms/pass wall (${row.passes}), ${Math.round(row.cpuMs.median)} ms CPU, ${row.requestsPerPass} req/pass${row.errors.length ? ` errors: ${row.errors.join('; ')}` : ''}\n`);
    process.stderr.write(`  idle ${n} polls: ${o.kinds}\n`);
  }
  return { rows, profiles, mounts: a.realMounts ? 'real' : 'in-memory', verifyEveryPolls: DEFAULT_VERIFY_EVERY, pollKinds };
}
