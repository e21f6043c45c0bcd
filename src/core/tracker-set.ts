/**
 * The trackers of a host: its services grouped by source (upstream, branch and the credentials that
 * go with them), one {@link Tracker} per source (hence one fetch per pass per distinct source), each
 * with the loop that runs it. `Agent` and `reconfigure.ts` add and remove services through it.
 * No I/O imports.
 */
import type { ServiceSpec } from '../config/config.js';
import { UnknownServiceError } from './errors.js';
import type { SourceRef } from '../ports/git.js';
import type { PersistedService } from '../ports/state-store.js';
import type { ServiceRecord } from './service.js';
import { Tracker, type TrackerDeps } from './tracker.js';

/** A service's record and the tracker that follows its branch. */
export interface Tracked {
  readonly tracker: Tracker;
  readonly record: ServiceRecord;
}

/** A tracker with the handle that stops it. */
interface Running {
  readonly tracker: Tracker;
  abort: AbortController;
  loop: Promise<void> | undefined;
}

/** A source as a map key: equal keys share one tracker. */
export function sourceKey(s: SourceRef): string {
  return JSON.stringify([s.upstream, s.branch, s.tokenFile ?? '', s.sshKey ?? '', s.knownHosts ?? '']);
}

/** Where `spec`'s tracker fetches from: upstream, branch and the credentials that go with them. */
export function sourceOf(spec: ServiceSpec): SourceRef {
  return { upstream: spec.upstream, branch: spec.branch, tokenFile: spec.tokenFile, sshKey: spec.sshKey, knownHosts: spec.knownHosts };
}

/** The host's trackers and, by service name, each service's record and tracker. */
export class TrackerSet {
  private readonly running = new Map<string, Running>();
  private readonly byService = new Map<string, Tracked>();
  private quietPolls = true;
  private started = false;

  /** @param onChange called whenever something worth saving changed (given to each tracker) */
  constructor(private readonly deps: TrackerDeps, private readonly onChange: () => void) {}

  /** Every tracker, in the order they were made. */
  trackers(): Tracker[] {
    return [...this.running.values()].map((t) => t.tracker);
  }

  /** Every tracked service, by name, in the order they were added. */
  services(): [string, Tracked][] {
    return [...this.byService.entries()];
  }

  /** The service called `name`. Throws UnknownServiceError. */
  find(name: string): Tracked {
    const found = this.byService.get(name);
    if (!found) throw new UnknownServiceError(name);
    return found;
  }

  /** The service called `name`, or undefined. */
  get(name: string): Tracked | undefined {
    return this.byService.get(name);
  }

  /** Start every tracker's loop (first pass at once), and those made later. Idempotent. */
  start(): void {
    this.started = true;
    for (const t of this.running.values()) this.launch(t);
  }

  /** Stop every tracker after its current step; resolves when their loops ended. */
  async stop(): Promise<void> {
    this.started = false;
    for (const t of this.running.values()) t.abort.abort();
    await Promise.all([...this.running.values()].map((t) => t.loop));
    for (const t of this.running.values()) t.loop = undefined;
  }

  /** Put `spec` in the tracker of its source (made, and started if the set runs, if new). */
  track(spec: ServiceSpec, saved?: PersistedService, runtime?: ServiceRecord['runtime']): void {
    const source = sourceOf(spec);
    const key = sourceKey(source);
    let t = this.running.get(key);
    if (!t) {
      t = { tracker: new Tracker(source, [], this.deps, {}, this.onChange), abort: new AbortController(), loop: undefined };
      t.tracker.setQuietPolls(this.quietPolls);
      this.running.set(key, t);
      if (this.started) this.launch(t);
    }
    const record = t.tracker.add(spec, saved, runtime);
    this.byService.set(spec.service, { tracker: t.tracker, record });
  }

  /** Stop tracking `name` once anything running on it finished (its tracker stays until {@link dropIdle}). */
  async untrack(name: string): Promise<void> {
    const found = this.byService.get(name);
    if (!found) return;
    await found.tracker.remove(name);
    this.byService.delete(name);
  }

  /** Stop and forget the trackers left without services; resolves when their loops ended. */
  async dropIdle(): Promise<void> {
    for (const [key, t] of [...this.running]) {
      if (t.tracker.records.size > 0) continue;
      t.abort.abort();
      await t.loop;
      this.running.delete(key);
    }
  }

  /** Allow quiet polls on every tracker (`Tracker.setQuietPolls`), now and for trackers made later. */
  setQuietPolls(allowed: boolean): void {
    this.quietPolls = allowed;
    for (const t of this.running.values()) t.tracker.setQuietPolls(allowed);
  }

  private launch(t: Running): void {
    if (t.loop) return;
    if (t.abort.signal.aborted) t.abort = new AbortController();
    t.loop = t.tracker.run(t.abort.signal);
  }
}
