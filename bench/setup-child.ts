/**
 * First setup in a fresh process, so peak RSS is this setup's alone:
 *   setup-child iso URL STATE_DIR CHECKOUT_DIR LINKS_JSON   — IsoGit: fetch into the store, prepare, checkout
 *   setup-child proposed URL STATE_DIR CHECKOUT_DIR LINKS_JSON — the same with lib/proposed-git.ts
 *   setup-child cli URL - CHECKOUT_DIR LINKS_JSON           — the git CLI sequence of gitopper
 * Prints one JSON line: wall ms (inside the process), CPU ms, peak RSS KiB (iso: this process's
 * VmHWM, also after the fetch alone; cli: the largest git process's VmHWM), heap figures.
 */
import { IsoGit } from '../src/adapters/git.js';
import { ProposedGit } from './lib/proposed-git.js';
import type { CheckoutRef, Pass } from '../src/ports.js';
import { cliSetup } from './lib/cli.js';
import { childCpuMs, selfCpuMs, statusKiB, TreePeak } from './lib/util.js';

const [mode, url, stateDir, dir, linksJson] = process.argv.slice(2);
const links = JSON.parse(linksJson!) as string[];
const baseKiB = statusKiB('self', 'VmRSS');
const t0 = performance.now();
if (mode === 'iso' || mode === 'proposed') {
  const iso = mode === 'iso' ? new IsoGit(stateDir!) : new ProposedGit(stateDir!);
  const pass: Pass = { cache: {} };
  const source = { upstream: url!, branch: 'main', tokenFile: undefined };
  const cpu0 = selfCpuMs();
  const tip = await iso.fetch(source, pass);
  const fetchMs = performance.now() - t0;
  const fetchHwm = statusKiB('self', 'VmHWM');
  const co: CheckoutRef = { ...source, dir: dir!, links };
  await iso.prepare(co, undefined);
  await iso.checkout(co, tip, undefined, pass);
  const wallMs = performance.now() - t0;
  const m = process.memoryUsage();
  process.stdout.write(`${JSON.stringify({ mode, wallMs, fetchMs, cpuMs: selfCpuMs() - cpu0, peakKiB: statusKiB('self', 'VmHWM'), fetchPeakKiB: fetchHwm, baseKiB, heapUsed: m.heapUsed, arrayBuffers: m.arrayBuffers, tip })}\n`);
} else {
  const peak = new TreePeak(2);
  const cpu0 = childCpuMs();
  await cliSetup(url!, dir!, links);
  const wallMs = performance.now() - t0;
  process.stdout.write(`${JSON.stringify({ mode, wallMs, cpuMs: childCpuMs() - cpu0, peakKiB: peak.stop() })}\n`);
}
process.exit(0);
