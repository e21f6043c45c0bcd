/**
 * Rows of the Targets table for "lean at any scale" (a partial clone, objects read by offset, the
 * daemon at 100 services): bytes, wall and host peak of a first setup against the git CLI, a
 * rollback whose blobs are not yet present, the full pass at 100 services, and the real daemon's RSS
 * and CPU per poll at 100 services (the `scale` section). The "before" column reads the previous
 * results file defensively (older files lack some figures: then `–`).
 */
import type { SetupRepoResult } from '../sections/setup.js';
import type { IdleResult } from '../sections/idle.js';
import type { ScaleResult } from '../sections/scale.js';

/** What the rows read of a results file (the current run's, or the previous one's, parsed as unknown). */
export interface LeanInputs {
  readonly setup?: readonly SetupRepoResult[] | undefined;
  readonly idle?: IdleResult | undefined;
  readonly scale?: ScaleResult | undefined;
}

const MB = 1e6 / 2 ** 20; // MiB per MB
const num = (x: number | undefined) => (x !== undefined && Number.isFinite(x) ? x : NaN);
const fx = (x: number, d = 1) => (Number.isFinite(x) ? x.toFixed(d) : '–');
const r = (a: number, b: number) => (Number.isFinite(a / b) ? `${fx(a / b, a / b >= 10 ? 0 : 1)}×` : '–');
const kib = (b: number) => (!Number.isFinite(b) ? '–' : b >= 2 ** 20 ? `${fx(b / 2 ** 20)} MiB` : b >= 1024 ? `${fx(b / 1024, 0)} KiB` : `${fx(b, 0)} B`);
const met = (ok: boolean) => (ok ? '**met**' : '**not met**');

/** The Markdown rows (without header) for run `now`, with `before` = the previous run's figures when known. */
export function leanRows(now: LeanInputs, before: LeanInputs | undefined): string[] {
  const out: string[] = [];
  // an older file may lack any of these figures, or have them in another shape: then '–'
  const b = (f: (x: LeanInputs) => string) => {
    try {
      return before ? f(before) : '–';
    } catch {
      return '–';
    }
  };
  const setup = (x: LeanInputs, repo: string) => x.setup?.find((s) => s.repo === repo);
  const host = (s: SetupRepoResult | undefined) => num(s?.ours.hostSumPeakMiB?.median ?? s?.ours.peakMiB.median);
  const med = setup(now, 'medium');
  if (med) {
    out.push(`| medium, first setup: bytes from the server ≤ 1.5× CLI | ${kib(med.bytes.ours)} vs ${kib(med.bytes.cli)} = ${r(med.bytes.ours, med.bytes.cli)} | ${met(med.bytes.ours <= 1.5 * med.bytes.cli)} | ${b((x) => { const p = setup(x, 'medium'); return p ? `${kib(p.bytes.ours)} = ${r(p.bytes.ours, p.bytes.cli)}` : '–'; })} |`);
  }
  const large = setup(now, 'large');
  if (large) {
    const lw = large.ours.wallMs.median;
    const lc = large.cli.wallMs.median;
    out.push(`| large, first setup: bytes ≤ 2× CLI / wall ≤ 5× CLI / host peak < 150 MiB | ${kib(large.bytes.ours)} (${r(large.bytes.ours, large.bytes.cli)}) / ${fx(lw, 0)} ms (${r(lw, lc)}) / ${fx(host(large), 0)} MiB | bytes ${met(large.bytes.ours <= 2 * large.bytes.cli)}; wall ${met(lw <= 5 * lc)}; peak ${met(host(large) < 150)} | ${b((x) => { const p = setup(x, 'large'); return p ? `${kib(p.bytes.ours)} (${r(p.bytes.ours, p.bytes.cli)}) / ${r(p.ours.wallMs.median, p.cli.wallMs.median)} / ${fx(host(p), 0)} MiB` : '–'; })} |`);
  }
  const rb = med?.rollback;
  if (rb) {
    out.push(`| rollback to a commit ${rb.back} back, medium, blobs not yet present: completes, bytes ≈ that commit's link blobs | completes in ${fx(rb.ours.wallMs, 0)} ms, ${kib(rb.ours.bytes)} in ${rb.ours.requests} request(s); CLI (\`git checkout\`, lazy fetch) ${fx(rb.cli.wallMs, 0)} ms, ${kib(rb.cli.bytes)} in ${rb.cli.requests} | ${met(rb.ours.bytes <= 1.5 * Math.max(rb.cli.bytes, 1))} (${r(rb.ours.bytes, rb.cli.bytes)} the CLI's bytes) | – (new) |`);
  }
  const idleRow = (x: LeanInputs, v: string) => {
    const rows = x.idle?.rows ?? [];
    const n = Math.max(0, ...rows.map((y) => y.services));
    return { n, row: rows.find((y) => y.services === n && y.variant === v), cli: rows.find((y) => y.services === 1 && y.variant === 'cli') };
  };
  const full = idleRow(now, 'full-verify');
  if (full.row && full.cli) {
    const f = full.row.wallMs.median;
    const c = full.cli.wallMs.median;
    out.push(`| full pass, ${full.n} services on one upstream: ≤ 2× the CLI's one-service pass | ${fx(f, 0)} ms = ${r(f, c)} (CLI ${fx(c, 1)} ms) | ${met(f <= 2 * c)} | ${b((x) => { const p = idleRow(x, 'full-verify'); return p.row && p.cli ? `${fx(p.row.wallMs.median, 0)} ms = ${r(p.row.wallMs.median, p.cli.wallMs.median)}` : '–'; })} |`);
  }
  const largeRow = (x: LeanInputs) => x.scale?.rows.find((y) => y.repo === 'large');
  const lg = largeRow(now);
  if (lg) {
    const tenths = lg.rssTrendMiB.filter(Number.isFinite);
    const drift = tenths.length >= 2 ? tenths[tenths.length - 1]! - tenths[0]! : NaN;
    out.push(`| large, steady state over ${lg.polls} polls (real daemon, ${lg.services} services): RSS < 150 MiB, flat | ${fx(lg.rssEndMiB, 0)} MiB at the end (median ${fx(lg.rssMiB.median, 0)}, max ${fx(lg.rssMiB.max, 0)}; first to last tenth ${drift >= 0 ? '+' : ''}${fx(drift)} MiB); VmHWM ${fx(lg.hwmMiB, 0)} MiB | ${met(lg.rssEndMiB < 150 && lg.rssMiB.max < 150)}${Number.isFinite(drift) && drift > 10 ? ', rising' : ''} | ${b((x) => { const p = largeRow(x); return p ? `${fx(p.rssEndMiB, 0)} MiB, max ${fx(p.rssMiB.max, 0)}` : 'not measured'; })} |`);
  }
  const scale100 = (x: LeanInputs) => x.scale?.rows.find((y) => y.services === 100 && (y.repo ?? 'medium') === 'medium');
  const s = scale100(now);
  if (s && now.scale) {
    const tenths = s.rssTrendMiB.filter(Number.isFinite);
    const drift = tenths.length >= 2 ? tenths[tenths.length - 1]! - tenths[0]! : NaN;
    out.push(`| real daemon, 100 services, medium repo: RSS after ${s.polls} polls < 150 MB, flat | ${fx(s.rssEndMiB, 0)} MiB at the end (median ${fx(s.rssMiB.median, 0)}, max ${fx(s.rssMiB.max, 0)}; first to last tenth ${drift >= 0 ? '+' : ''}${fx(drift)} MiB); VmHWM ${fx(s.hwmMiB, 0)} MiB | ${met(s.rssEndMiB < 150 * MB && s.rssMiB.max < 150 * MB)}${Number.isFinite(drift) && drift > 10 ? ', rising' : ''} | ${b((x) => { const p = scale100(x); return p ? `${fx(p.rssEndMiB, 0)} MiB, VmHWM ${fx(p.hwmMiB, 0)} MiB` : '–'; })} |`);
    const cli = now.scale.cli.cpuMs.median;
    out.push(`| real daemon, 100 services: CPU per nothing-new poll (default flags: every 10th a full pass) ≤ 1.0× the CLI's one-service pass | ${fx(s.cpuMsPerPoll)} ms = ${r(s.cpuMsPerPoll, cli)} (CLI ${fx(cli)} ms) | ${met(s.cpuMsPerPoll <= cli)} | ${b((x) => { const p = scale100(x); return p && x.scale ? `${fx(p.cpuMsPerPoll)} ms = ${r(p.cpuMsPerPoll, x.scale.cli.cpuMs.median)}` : '–'; })} |`);
  }
  return out;
}
