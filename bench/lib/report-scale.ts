/**
 * The `scale` section of docs/performance.md: the real daemon (as shipped) at 1, 10 and 100
 * services, RSS, VmHWM and CPU per poll, beside the CLI's one-service pass.
 */
import type { ScaleResult } from '../sections/scale.js';

const f1 = (x: number) => (Number.isFinite(x) ? x.toFixed(1) : '–');
const f0 = (x: number) => (Number.isFinite(x) ? x.toFixed(0) : '–');

/** Markdown for `s` (a section of its own, `## …` heading included); '' when the section did not run. */
export function renderScale(s: ScaleResult | undefined): string {
  if (!s) return '';
  const out: string[] = [];
  const p = (x = '') => out.push(x);
  const cli = s.cli.cpuMs.median;
  p('## 6. The real daemon by number of services, and on the large repository');
  p();
  p(`\`dist/cmd/gitopper.js --user\` spawned as the shipped unit runs it (\`node\` with the unit's environment: ${Object.entries(s.env).map(([k, v]) => `\`${k}=${v}\``).join(', ')}; no other node flags) under the bench's systemd user manager; N services on one upstream (the medium repo, or the large one where the row says so; service i links \`svcNNN/etc\`, 5 files), \`action = ""\`, \`-t 1s\`, default flags (\`--verify-every 10\`). After the daemon is ready and a warm-up, ${s.pollsPlanned} polls are measured: polls counted by the git server's requests (calibrated against \`gitopper_machine_git_ops_total\`), CPU = utime + stime of the daemon (all threads) and its waited-for children from \`/proc/<pid>/stat\` over whole cycles of quiet and full polls, split by thread (\`main\`; \`node\` = V8's and libuv's worker threads: mostly GC); RSS sampled every 250 ms from \`/proc/<pid>/status\`. CLI = gitopper's one-service pass (lib/cli.ts), ${s.cli.passes} passes, CPU of its git processes.`);
  p();
  p('| services | repo | ready after | RSS at ready | RSS over the polls (median, min–max) | RSS at the end | RSS by tenths of the window | VmHWM | CPU per poll | of which main / other threads / children | ratio to CLI one service |');
  p('|---|---|---|---|---|---|---|---|---|---|---|');
  for (const r of s.rows) {
    const sp = r.cpuSplitMsPerPoll;
    const others = Object.entries(sp).filter(([k]) => k !== 'main' && k !== 'children').reduce((a, [, v]) => a + v, 0);
    p(`| ${r.services} | ${r.repo ?? 'medium'} | ${f1(r.readyMs / 1000)} s | ${f0(r.rssReadyMiB)} MiB | ${f0(r.rssMiB.median)} (${f0(r.rssMiB.min)}–${f0(r.rssMiB.max)}) MiB | ${f0(r.rssEndMiB)} MiB | ${r.rssTrendMiB.map(f0).join(' ')} | ${f0(r.hwmMiB)} MiB | ${f1(r.cpuMsPerPoll)} ms | ${f1(sp.main ?? 0)} / ${f1(others)} / ${f1(sp.children ?? 0)} ms | ${f1(r.cpuMsPerPoll / cli)}× |`);
  }
  p(`| CLI, 1 service | medium | – | – | – | – | – | – | ${f1(cli)} ms (wall ${f1(s.cli.wallMs.median)} ms) | – | 1 |`);
  p();
  const traced = s.rows.filter((r) => r.heapTrend && r.heapTrend.length > 0);
  if (traced.length > 0) {
    p('Where the RSS is: each cell is `RSS: V8 heap reserved / used / external` in MiB (used = live objects and garbage not yet collected; external = Buffers and typed arrays), from the daemon\'s own `/metrics` (prom-client\'s default metrics) at `ready` and at each tenth of the window.');
    p();
    const ats = traced[0]!.heapTrend!.map((h) => h.at);
    p(`| services | repo | ${ats.join(' | ')} |`);
    p(`|---|---|${ats.map(() => '---').join('|')}|`);
    for (const r of traced) p(`| ${r.services} | ${r.repo ?? 'medium'} | ${r.heapTrend!.map((h) => `${f0(h.rssMiB)}: ${f0(h.heapTotalMiB)} / ${f0(h.heapUsedMiB)} / ${f0(h.externalMiB)}`).join(' | ')} |`);
  }
  p();
  return out.join('\n');
}
