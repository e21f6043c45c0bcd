/**
 * Compaction of a store's packs (docs/performance.md). Every fetch that brings something adds one
 * pack and isomorphic-git never repacks; every object read lists `objects/pack` and loads each
 * `.idx`, so reads slow down as packs pile up. A fetch that leaves more than a threshold of packs
 * starts a compaction **in the background**: no pass waits for it.
 *
 * 1. (under the store's lock, at that fetch) the pack files present now are noted, and every branch
 *    of the store (`refs/heads/*`: trackers of several branches share one store per upstream) with
 *    its tip;
 * 2. (in the background, no lock) a child process (`fetch-child.ts`) fetches those branches into a
 *    fresh bare store `<store>.compact`: one pack, plus one small pack per further branch. The child
 *    checks that every noted tip, and every commit a checkout of the store has deployed, is in the
 *    copy (a commit that a force-push removed upstream would otherwise be dropped); a branch the
 *    upstream no longer has is skipped and named;
 * 3. (under the store's lock, at the **next** fetch, before anything of that pass reads objects) each
 *    new `.pack`, then its `.idx`, is renamed into `objects/pack` (readers look for `.idx` files, so
 *    they never see a pack without its data). Packs fetched while the child ran are kept: they hold
 *    only objects newer than the copy or objects the copy also has;
 * 4. the refs of branches gone upstream are deleted (their objects were not kept; a tracker still on
 *    such a branch already fails its fetch) and `<store>.compact` is removed;
 * 5. the noted files are **retired**, not deleted: objects are then in two packs, which is harmless.
 *    They are deleted (`.idx` files first, then the rest: old `.pack`s, a `.pack` left without `.idx`
 *    by a killed fetch, temporary files) at the first fetch at least {@link RETIRE_GRACE_MS} later, or
 *    at the next swap. Readers that do not hold the store's lock (other trackers of the store, drift
 *    checks, API actions) list the packs and then open what they listed: a reader that listed the
 *    old ones just before the swap still finds their files.
 *
 * A failed compaction changes nothing, is reported through `onNotice` (warn) and is not tried again
 * until the store has twice the packs it had then. Objects reachable only from commits that no branch
 * upstream has any more (a force-push) are dropped; a checkout deployed at such a commit keeps its
 * files, and `deployed()` reports it as not deployed, so the next pass checks out the tip.
 */
import { readdir, rename, rm } from 'node:fs/promises';
import path from 'node:path';
import git from 'isomorphic-git';
import type { SourceRef } from '../../ports/git.js';
import type { ChildResult, FetchRequest } from './fetch-child.js';
import { headOf, heads } from './store-refs.js';
import { isoFs } from './iso-fs.js';

/**
 * How long retired pack files stay after a swap before a fetch deletes them, in ms. isomorphic-git
 * lists `objects/pack` at every object read and opens what it listed right after: the window a
 * deletion can hit is that moment, milliseconds; 1 s covers it with room (and a read that still
 * missed would make that pass DIFF, retried at the next one: `deployed()` reports nothing else).
 */
export const RETIRE_GRACE_MS = 1_000;

/** A commit a checkout has deployed, and the repository paths it checks out (its links). */
export interface Deployed {
  readonly commit: string;
  readonly links: readonly string[];
}

/** Default threshold: compact when a fetch leaves more than this many packs (bench: 16). */
export const DEFAULT_COMPACT_ABOVE = 16;

/** What a {@link Compactor} needs from its owner. */
export interface CompactDeps {
  /** Runs a {@link FetchRequest} in a child process (`runFetchChild` with its timeout). */
  readonly runChild: (req: FetchRequest) => Promise<ChildResult>;
  /** Inactivity timeout per request for the child's fetches, ms. */
  readonly idleTimeoutMs: number;
  /** Where "store compacted" (level info) and "compaction failed" (warn) go (the daemon logs them, component `git`). */
  readonly onNotice: (msg: string, data: object, level: 'info' | 'warn') => void;
}

/** A compaction whose fresh copy is ready, waiting for the store's next fetch to be swapped in. */
interface Ready {
  readonly tmp: string;
  /** Pack files of the store when the compaction started (deleted at the swap). */
  readonly old: readonly string[];
  /** `pack-*.pack|idx` files of the fresh copy. */
  readonly fresh: readonly string[];
  readonly branches: readonly string[];
  readonly gone: readonly string[];
  readonly packsBefore: number;
  readonly started: number;
}

/** Number of complete packs (`.idx` files) in the store. */
export async function packCount(gitdir: string): Promise<number> {
  return (await readdir(path.join(gitdir, 'objects', 'pack')).catch(() => [] as string[])).filter((f) => f.endsWith('.idx')).length;
}

/**
 * Schedules and applies compactions for the stores of one IsoGit (see the file comment). Call
 * {@link beforeFetch} and {@link afterFetch} under the store's lock. Never throws.
 */
export class Compactor {
  private readonly running = new Map<string, Promise<void>>();
  private readonly ready = new Map<string, Ready>();
  /** Store → pack files replaced by a swap, deleted once the grace period is over. */
  private readonly retired = new Map<string, { readonly files: readonly string[]; readonly at: number }>();
  /** Store → pack count above which the next compaction is tried, after one failed (twice its packs then). */
  private readonly backoff = new Map<string, number>();

  /** Stores whose leftover `<store>.compact` (a compaction cut short by a restart) was looked for. */
  private readonly swept = new Set<string>();

  /**
   * @param above compact when a fetch leaves more than this many packs (0 = never)
   * @param graceMs how long replaced packs stay before a fetch deletes them ({@link RETIRE_GRACE_MS})
   */
  constructor(private readonly deps: CompactDeps, private readonly above: number, private readonly graceMs: number = RETIRE_GRACE_MS) {}

  /** Delete retired packs whose grace period is over (step 5), then swap in a ready copy (steps 3–4). */
  async beforeFetch(gitdir: string): Promise<void> {
    const packDir = path.join(gitdir, 'objects', 'pack');
    if (!this.swept.has(gitdir)) {
      this.swept.add(gitdir);
      if (!this.running.has(gitdir)) await rm(`${gitdir}.compact`, { recursive: true, force: true }).catch(() => undefined);
    }
    const r = this.ready.get(gitdir);
    // retired packs go once their grace is over, or at the next swap at the latest (they have then
    // waited a whole compaction)
    const old = this.retired.get(gitdir);
    if (old && (r !== undefined || Date.now() - old.at >= this.graceMs)) {
      this.retired.delete(gitdir);
      // old .idx first (readers stop finding those packs), then their .pack and any leftover
      for (const f of [...old.files].sort(idxFirst)) await rm(path.join(packDir, f), { recursive: true, force: true }).catch(() => undefined);
    }
    if (!r) return;
    this.ready.delete(gitdir);
    try {
      // .pack before its .idx: a reader that finds the .idx finds the data
      for (const f of [...r.fresh].sort(packFirst)) await rename(path.join(r.tmp, 'objects', 'pack', f), path.join(packDir, f));
      this.retired.set(gitdir, { files: r.old.filter((x) => !r.fresh.includes(x)), at: Date.now() });
      for (const b of r.gone) {
        await git.deleteRef({ fs: isoFs, gitdir, ref: `refs/heads/${b}` });
        await git.deleteRef({ fs: isoFs, gitdir, ref: `refs/remotes/origin/${b}` }).catch(() => undefined); // isomorphic-git's remote-tracking ref, if any
      }
      this.backoff.delete(gitdir);
      const packsAfter = (await packCount(gitdir)) - r.old.filter((f) => f.endsWith('.idx') && !r.fresh.includes(f)).length;
      this.deps.onNotice('object store compacted', { store: gitdir, branches: r.branches.filter((b) => !r.gone.includes(b)), ...(r.gone.length > 0 ? { dropped: r.gone } : {}), packsBefore: r.packsBefore, packsAfter, seconds: (Date.now() - r.started) / 1000 }, 'info');
    } catch (err) {
      this.failed(gitdir, r.packsBefore, err);
    } finally {
      await rm(r.tmp, { recursive: true, force: true }).catch(() => undefined);
    }
  }

  /**
   * After a fetch that brought something: start a compaction of `gitdir` in the background when it
   * has more packs than the threshold (raised after a failure) and none is running or waiting.
   * `source` gives the upstream and its credentials (every branch of the store is fetched);
   * `deployed` maps checkout directories to the commit each has deployed and its links: the copy
   * must keep those commits, and (in a partial clone) the blobs under those links at them, so what
   * is deployed still works offline after the swap.
   */
  async afterFetch(gitdir: string, source: SourceRef, deployed: ReadonlyMap<string, Deployed> = new Map()): Promise<void> {
    if (this.above <= 0 || this.running.has(gitdir) || this.ready.has(gitdir)) return;
    try {
      const retired = new Set(this.retired.get(gitdir)?.files ?? []);
      const old = (await readdir(path.join(gitdir, 'objects', 'pack'))).filter((f) => !retired.has(f));
      const packsBefore = old.filter((f) => f.endsWith('.idx')).length;
      if (packsBefore <= Math.max(this.above, this.backoff.get(gitdir) ?? 0)) return;
      const mustHave: Record<string, string> = {};
      for (const b of await heads(gitdir)) {
        const oid = await headOf(gitdir, b);
        if (oid !== undefined) mustHave[b] = oid;
      }
      const branches = Object.keys(mustHave);
      if (branches.length === 0) return;
      // commits deployed in checkouts (a service held by DIFF or a freeze may sit on a commit that is
      // no branch tip): losing one would make its checkout look never deployed
      for (const [dir, d] of deployed) mustHave[`deployed in ${dir}`] = d.commit;
      const keep = [...deployed.values()].map((d) => ({ commit: d.commit, links: [...d.links] }));
      const job = this.prepare(gitdir, source, { old, branches, mustHave, keep, packsBefore, started: Date.now() }).finally(() => this.running.delete(gitdir));
      this.running.set(gitdir, job);
    } catch (err) {
      this.failed(gitdir, 0, err);
    }
  }

  /** Resolves once no compaction is running (its copy may still wait for the next fetch). For tests and shutdown. */
  async settle(): Promise<void> {
    while (this.running.size > 0) await Promise.all(this.running.values());
  }

  /** Step 2: the fresh copy, made by a child; ready for the next fetch, or failed (never throws). */
  private async prepare(gitdir: string, source: SourceRef, s: { old: string[]; branches: string[]; mustHave: Record<string, string>; keep: FetchRequest['keep']; packsBefore: number; started: number }): Promise<void> {
    const tmp = `${gitdir}.compact`;
    try {
      await rm(tmp, { recursive: true, force: true });
      const { gone } = await this.deps.runChild({ gitdir: tmp, source, branches: s.branches, mustHave: s.mustHave, keep: s.keep, dropGone: true, idleTimeoutMs: this.deps.idleTimeoutMs });
      // a partial clone's packs have a `.promisor` file beside them (git's mark of objects a promisor remote can send again)
      const fresh = (await readdir(path.join(tmp, 'objects', 'pack'))).filter((f) => /^pack-[0-9a-f]+\.(pack|idx|promisor)$/.test(f));
      const freshIdx = fresh.filter((f) => f.endsWith('.idx'));
      if (freshIdx.length === 0 || freshIdx.some((i) => !fresh.includes(i.replace(/\.idx$/, '.pack')))) throw new Error(`the fresh copy has no complete pack (${fresh.join(', ') || 'nothing'})`);
      this.ready.set(gitdir, { tmp, old: s.old, fresh, branches: s.branches, gone, packsBefore: s.packsBefore, started: s.started });
    } catch (err) {
      await rm(tmp, { recursive: true, force: true }).catch(() => undefined);
      this.failed(gitdir, s.packsBefore, err);
    }
  }

  private failed(gitdir: string, packsBefore: number, err: unknown): void {
    if (packsBefore > 0) this.backoff.set(gitdir, 2 * packsBefore);
    this.deps.onNotice('object store compaction failed; the old packs are kept', { store: gitdir, packsBefore, err: err instanceof Error ? err.message : String(err) }, 'warn');
  }
}

/** `.pack`, then `.promisor`, then `.idx` (readers find a pack by its `.idx`: it comes last). */
const packFirst = (a: string, b: string) => swapRank(a) - swapRank(b) || a.localeCompare(b);
function swapRank(f: string): number {
  return f.endsWith('.pack') ? 0 : f.endsWith('.promisor') ? 1 : 2;
}
const idxFirst = (a: string, b: string) => rank(a, '.idx') - rank(b, '.idx') || a.localeCompare(b);
function rank(f: string, first: string): number {
  return f.endsWith(first) ? 0 : 1;
}
