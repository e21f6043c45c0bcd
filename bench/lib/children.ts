/**
 * The fetch children of `IsoGit` (a store's first fetch of a branch and compaction run in a forked
 * `dist/cmd/gitopper-fetch.js`, src/adapters/git/fetch-child.ts), seen from the process that forks them:
 * each `{event:'spawn'}` on `CHILD_CHANNEL` starts sampling `/proc/<pid>/status` every `everyMs` (as
 * the CLI's git processes are sampled) until its `{event:'exit'}`, which also carries the child's own
 * `maxRSS` in its reply. Alongside, the forking process's VmRSS is read at the same instants, so the
 * largest sum (what the host holds at once) is known too.
 */
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { CHILD_CHANNEL, type ChildEvent } from '../../src/adapters/git/fetch-child.js';
import { statusKiB } from './util.js';

/** One child's run. */
export interface ChildRun {
  /** `compact`: a compaction (the request's store is `<store>.compact`); `fetch`: a first fetch. */
  kind: 'fetch' | 'compact';
  pid: number | undefined;
  ms: number;
  /** Largest VmHWM sampled, KiB (NaN when the child lived less than one sampling period). */
  sampledPeakKiB: number;
  /** `process.resourceUsage().maxRSS` the child reported in its reply, KiB (NaN without a reply). */
  reportedPeakKiB: number;
  ok: boolean;
}

export class ChildWatch {
  readonly runs: ChildRun[] = [];
  /** Largest (this process's VmRSS + every live child's VmRSS) sampled while a child ran, KiB. */
  maxSumKiB = 0;
  private readonly live = new Map<number, { kind: ChildRun['kind']; peak: number }>();
  private timer: NodeJS.Timeout | undefined;
  private readonly onEvent = (m: unknown) => this.event(m as ChildEvent);

  constructor(private readonly everyMs = 2) {
    subscribe(CHILD_CHANNEL, this.onEvent);
  }

  private event(e: ChildEvent): void {
    if (e.event === 'spawn') {
      if (e.pid === undefined) return;
      this.live.set(e.pid, { kind: e.request.gitdir.endsWith('.compact') ? 'compact' : 'fetch', peak: NaN });
      this.sample();
      this.timer ??= setInterval(() => this.sample(), this.everyMs);
      return;
    }
    const l = e.pid === undefined ? undefined : this.live.get(e.pid);
    if (e.pid !== undefined) this.live.delete(e.pid);
    const reply = e.reply;
    this.runs.push({ kind: l?.kind ?? 'fetch', pid: e.pid, ms: e.ms, sampledPeakKiB: l?.peak ?? NaN, reportedPeakKiB: reply?.ok ? reply.maxRssKiB : NaN, ok: reply?.ok === true && e.code === 0 });
    if (this.live.size === 0 && this.timer) {
      clearInterval(this.timer);
      this.timer = undefined;
    }
  }

  private sample(): void {
    let sum = statusKiB('self', 'VmRSS');
    for (const [pid, l] of this.live) {
      const hwm = statusKiB(pid, 'VmHWM');
      if (Number.isFinite(hwm) && !(hwm <= l.peak)) l.peak = hwm;
      const rss = statusKiB(pid, 'VmRSS');
      if (Number.isFinite(rss)) sum += rss;
    }
    if (sum > this.maxSumKiB) this.maxSumKiB = sum;
  }

  /** Peak of one run: the larger of the sampled VmHWM and the child's own report. */
  static peakKiB(r: ChildRun): number {
    const xs = [r.sampledPeakKiB, r.reportedPeakKiB].filter(Number.isFinite);
    return xs.length ? Math.max(...xs) : NaN;
  }

  count(kind: ChildRun['kind']): number {
    return this.runs.filter((r) => r.kind === kind).length;
  }

  /** Largest peak of any child (of `kind`, or any), KiB. */
  maxPeakKiB(kind?: ChildRun['kind']): number {
    const xs = this.runs.filter((r) => kind === undefined || r.kind === kind).map(ChildWatch.peakKiB).filter(Number.isFinite);
    return xs.length ? Math.max(...xs) : NaN;
  }

  close(): void {
    unsubscribe(CHILD_CHANNEL, this.onEvent);
    if (this.timer) clearInterval(this.timer);
  }
}
