/**
 * First setup in a fresh process, so peak RSS is this setup's alone:
 *   setup-child iso URL STATE_DIR CHECKOUT_DIR LINKS_JSON        — IsoGit as the daemon builds it
 *       (lib/core.ts DAEMON_GIT_OPTIONS: the store's first fetch in a forked child): fetch, prepare, checkout
 *   setup-child iso-inproc URL STATE_DIR CHECKOUT_DIR LINKS_JSON — the same with `fetchInChild: false`
 *       (the fetch in this process: isomorphic-git's own cost)
 *   setup-child cli URL - CHECKOUT_DIR LINKS_JSON                — the git CLI sequence of gitopper
 *   setup-child iso-rollback|cli-rollback URL STATE_DIR CHECKOUT_DIR LINKS_JSON BACK
 *       — the same first setup (ours: the daemon's options), then prints `ready`, waits for a line on
 *       stdin (the parent reads the server's byte count), and checks out the commit BACK commits
 *       before the tip (ours: IsoGit.checkout, fetching the blobs it lacks; CLI: `git checkout`, whose
 *       lazy fetch does the same); prints the rollback's wall ms
 * Prints one JSON line: wall ms (inside the process), CPU ms (this process, plus the fetch child's
 * own), peak RSS KiB (iso: this process's VmHWM, also after the fetch alone; the fetch child's peak,
 * sampled every 2 ms from /proc/<pid>/status and as the child reports it; the largest sum of this
 * process's and the child's RSS sampled at the same instant; cli: the largest git process's VmHWM).
 */
import { IsoGit } from '../src/adapters/git/iso-git.js';
import type { CheckoutRef } from '../src/ports/git.js';
import { ChildWatch } from './lib/children.js';
import { cliSetup } from './lib/cli.js';
import { git as cliGit } from './lib/util.js';
import fs from 'node:fs';
import isogit from 'isomorphic-git';
import { DAEMON_GIT_OPTIONS } from './lib/core.js';
import { childCpuMs, selfCpuMs, statusKiB, TreePeak } from './lib/util.js';

const [mode, url, stateDir, dir, linksJson, backArg] = process.argv.slice(2);
const links = JSON.parse(linksJson!) as string[];
const baseKiB = statusKiB('self', 'VmRSS');
const t0 = performance.now();
if (mode === 'iso-rollback' || mode === 'cli-rollback') {
  const back = Number(backArg);
  let rollback: () => Promise<void>;
  if (mode === 'iso-rollback') {
    const iso = new IsoGit(stateDir!, () => {}, DAEMON_GIT_OPTIONS);
    const source = { upstream: url!, branch: 'main', tokenFile: undefined };
    const tip = await iso.fetch(source);
    const co: CheckoutRef = { ...source, dir: dir!, links };
    await iso.prepare(co, undefined);
    await iso.checkout(co, undefined, tip, undefined);
    const history = await isogit.log({ fs, gitdir: iso.storeOf(url!), ref: tip, depth: back + 1 });
    const target = history[back]!.oid;
    rollback = () => iso.checkout(co, tip, target, undefined);
  } else {
    await cliSetup(url!, dir!, links);
    rollback = async () => void (await cliGit(['checkout', '--quiet', `HEAD~${back}`], { cwd: dir! }));
  }
  process.stdout.write('ready\n');
  await new Promise((resolve) => process.stdin.once('data', resolve));
  const r0 = performance.now();
  await rollback();
  process.stdout.write(`${JSON.stringify({ mode, wallMs: performance.now() - r0 })}\n`);
} else if (mode === 'iso' || mode === 'iso-inproc') {
  const watch = new ChildWatch(2);
  const iso = new IsoGit(stateDir!, () => {}, mode === 'iso' ? DAEMON_GIT_OPTIONS : { ...DAEMON_GIT_OPTIONS, fetchInChild: false });
  const source = { upstream: url!, branch: 'main', tokenFile: undefined };
  const cpu0 = selfCpuMs();
  const ccpu0 = childCpuMs();
  const tip = await iso.fetch(source);
  const fetchMs = performance.now() - t0;
  const fetchHwm = statusKiB('self', 'VmHWM');
  const co: CheckoutRef = { ...source, dir: dir!, links };
  await iso.prepare(co, undefined);
  await iso.checkout(co, await iso.deployed(co), tip, undefined);
  const wallMs = performance.now() - t0;
  const m = process.memoryUsage();
  watch.close();
  const fetchChildren = watch.runs.filter((r) => r.kind === 'fetch');
  process.stdout.write(
    `${JSON.stringify({
      mode,
      wallMs,
      fetchMs,
      cpuMs: selfCpuMs() - cpu0,
      childCpuMs: childCpuMs() - ccpu0,
      peakKiB: statusKiB('self', 'VmHWM'),
      fetchPeakKiB: fetchHwm,
      baseKiB,
      children: fetchChildren.length,
      childPeakKiB: watch.maxPeakKiB('fetch'),
      childSampledPeakKiB: Math.max(...fetchChildren.map((r) => r.sampledPeakKiB)),
      childReportedPeakKiB: Math.max(...fetchChildren.map((r) => r.reportedPeakKiB)),
      childMs: fetchChildren.reduce((s, r) => s + r.ms, 0),
      hostSumPeakKiB: watch.maxSumKiB,
      heapUsed: m.heapUsed,
      arrayBuffers: m.arrayBuffers,
      tip,
    })}\n`,
  );
} else {
  const peak = new TreePeak(2);
  const cpu0 = childCpuMs();
  await cliSetup(url!, dir!, links);
  const wallMs = performance.now() - t0;
  process.stdout.write(`${JSON.stringify({ mode, wallMs, cpuMs: childCpuMs() - cpu0, peakKiB: peak.stop() })}\n`);
}
process.exit(0);
