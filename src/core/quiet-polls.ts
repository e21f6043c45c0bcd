/**
 * Quiet polls (the tracker's skip rule, docs/daemon.md `--verify-every`): a timer poll whose fetch
 * finds the tip the last full pass of every service applied skips the services settled at it;
 * every Nth such poll is a full pass, the safety net gitopper's per-pass `git stash` was. Pulls,
 * startup, the first poll after it and a moved tip are always full passes. Pure logic, no I/O.
 */
import type { Trigger } from './control.js';
import type { ServiceRecord } from './service.js';

/** Default of `TrackerDeps.verifyEveryPolls`: with `-t 5m`, a full check within ~50–75 minutes. */
export const DEFAULT_VERIFY_EVERY = 10;

/**
 * True when `r` needs nothing at `tip` as far as upstream is concerned: OK at exactly that commit,
 * no reload owed, no forced checkout (spec changed), no refused commit and no drift on record.
 */
export function settled(r: ServiceRecord, tip: string): boolean {
  const rt = r.runtime;
  return r.status.state === 'OK' && r.status.commit === tip && !rt.pendingAction && !rt.pendingStart && !rt.forceCheckout && rt.refused === undefined && r.drift.length === 0;
}

/** One tracker's quiet-poll bookkeeping. */
export class QuietPolls {
  /** Tip of the last full pass of every service, not counting startup (undefined: none yet, or a fetch failed since). */
  private settledTip: string | undefined;
  /** Quiet polls since then. */
  private count = 0;
  private allowed = true;

  /** @param verifyEvery a full pass every this many quiet polls (1 = never quiet) */
  constructor(private readonly verifyEvery: number = DEFAULT_VERIFY_EVERY) {}

  /** Whether a pass with `trigger` that fetched `tip` may skip settled services. */
  isQuiet(trigger: Trigger, tip: string): boolean {
    return this.allowed && trigger === 'poll' && tip === this.settledTip && this.count + 1 < this.verifyEvery;
  }

  /**
   * After a pass: `quiet` as {@link isQuiet} said; `allTargets` when it covered every service of the
   * tracker. A full pass of every service (not the startup one: the checkout watcher starts after it,
   * so the first poll is full too) restarts the count at `tip`.
   */
  passed(quiet: boolean, allTargets: boolean, trigger: Trigger, tip: string): void {
    if (quiet) this.count++;
    else if (allTargets && trigger !== 'startup') {
      this.settledTip = tip;
      this.count = 0;
    }
  }

  /** A fetch failed: the next poll is a full pass whatever it finds. */
  fetchFailed(): void {
    this.settledTip = undefined;
  }

  /** Allow quiet polls (default) or not (the daemon turns them off when the checkout watcher fails). */
  setAllowed(allowed: boolean): void {
    this.allowed = allowed;
  }
}
