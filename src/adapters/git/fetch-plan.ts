/**
 * Which way a store's fetch goes (docs/daemon.md "Object stores"; `IsoGit.fetch` holds the store's
 * lock around it):
 *  - an upstream that can filter: commits and trees only (a partial clone), in this process, the
 *    store's first fetch (`partial/`) as every later one (`fetch.ts`);
 *  - a branch the store lacks, from an upstream that cannot filter: the whole history in a child
 *    process (`fetch-child.ts`) when `fetchInChild` is set, so this process never holds the pack;
 *  - later fetches from such an upstream: isomorphic-git's own fetch, in this process.
 * An upstream found unable to filter is logged once per store (warn) and not asked to filter again
 * until the process restarts. Compactions run their child through {@link FetchPlan.runChild}, which
 * asks for a filter as the store's own fetches do.
 */
import type { SourceRef } from '../../ports/git.js';
import { runFetchChild, type ChildResult, type FetchRequest } from './fetch-child.js';
import { fetchBranch } from './fetch.js';
import { headOf } from './store-refs.js';
import { fetchFiltered } from './partial/index.js';
import { redactUpstream } from '../../upstream/upstream.js';

/** The settings of {@link FetchPlan} (the `IsoGitOptions` they come from, defaults applied). */
export interface FetchPlanOptions {
  /** A whole history fetched in a child process (the daemon) or in this one (tests, tools). */
  readonly fetchInChild: boolean;
  /** Ask upstreams for commits and trees only (false: whole histories, no notice). */
  readonly partialClone: boolean;
  /** A request with no response headers, or no body bytes, for this many ms fails. */
  readonly idleTimeoutMs: number;
  /** A child process running longer than this many ms is killed. */
  readonly childTimeoutMs: number;
}

/** Chooses and runs the fetch of a store; remembers which upstreams cannot filter. */
export class FetchPlan {
  /** Stores whose upstream could not filter (logged once per store and process). */
  private readonly noFilter = new Set<string>();

  /**
   * @param options see {@link FetchPlanOptions}
   * @param stopping aborted when the daemon stops: children are killed, later ones never start
   * @param onNotice told (warn) the first time a store's upstream cannot filter
   */
  constructor(
    private readonly options: FetchPlanOptions,
    private readonly stopping: AbortSignal,
    private readonly onNotice: (msg: string, data: object, level: 'info' | 'warn') => void,
  ) {}

  /**
   * Fetch `source.branch` into the store at `gitdir` and return its tip. `local` is the store's tip
   * of the branch before (undefined: the store lacks it). Call holding the store's lock.
   * @throws Error from the fetch (HTTP status, ssh's reason, `FetchTimeoutError`, a child that failed)
   */
  async fetch(gitdir: string, source: SourceRef, local: string | undefined, cache: object, signal: AbortSignal): Promise<string> {
    if (local === undefined && this.options.fetchInChild) {
      // commits and trees only are small: a filtered first fetch runs here; a whole history goes to a child
      const tip = this.filtering(gitdir) ? await fetchFiltered(gitdir, source, { idleTimeoutMs: this.options.idleTimeoutMs, signal }) : undefined;
      return tip ?? (await this.firstFetchInChild(gitdir, source));
    }
    return fetchBranch(gitdir, source, { cache, idleTimeoutMs: this.options.idleTimeoutMs, signal, filter: this.filtering(gitdir), onUnfiltered: () => this.unfiltered(gitdir, source) });
  }

  /** A child's fetch (a first fetch, a compaction's copy `<store>.compact`) asking for a filter as that store's fetches do. */
  readonly runChild = (req: FetchRequest): Promise<ChildResult> => runFetchChild({ ...req, filter: req.filter ?? this.filtering(req.gitdir.replace(/\.compact$/, '')) }, this.options.childTimeoutMs, this.stopping);

  /** A store's first fetch of a branch from an upstream that cannot filter: the whole history, in a child process. */
  private async firstFetchInChild(gitdir: string, source: SourceRef): Promise<string> {
    const { unfiltered } = await this.runChild({ gitdir, source, branches: [source.branch], mustHave: {}, keep: [], dropGone: false, idleTimeoutMs: this.options.idleTimeoutMs });
    if (unfiltered) this.unfiltered(gitdir, source);
    // the store is the truth, not the child's word: re-read the ref it wrote
    const written = await headOf(gitdir, source.branch);
    if (written === undefined) throw new Error(`fetching ${source.branch} in a child process left no refs/heads/${source.branch} in ${gitdir}`);
    return written;
  }

  /** False when `gitdir`'s fetches ask for no filter (the option is off, or its upstream could not filter). */
  private filtering(gitdir: string): boolean {
    return this.options.partialClone && !this.noFilter.has(gitdir);
  }

  /** The upstream of `gitdir` cannot filter: say so once (its fetches take the whole history). */
  private unfiltered(gitdir: string, source: SourceRef): void {
    if (this.noFilter.has(gitdir)) return;
    this.noFilter.add(gitdir);
    this.onNotice('upstream cannot filter (no protocol v2 or no filter support): fetching whole history, no partial clone', { upstream: redactUpstream(source.upstream), store: gitdir }, 'warn');
  }
}
