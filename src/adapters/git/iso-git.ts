/**
 * GitPort over isomorphic-git: a shared bare object store per upstream, and per service a sparse
 * checkout whose `.git/objects` is a symlink to that store.
 *
 * Layout (ours; gitopper used one full `git clone --sparse` per service):
 *   <stateDir>/upstreams/<slug>-<hash of the normalised upstream>.git   bare repo; one fetch per pass fills it
 *   <mount>/<service>/.git/objects -> that store's objects      so every checkout sees the history
 *   <mount>/<service>/.git/HEAD -> refs/heads/<branch>          = the deployed commit
 *   <mount>/<service>/<link>...                                  only the service's links (sparse)
 * Credentials come from `token_file` at each fetch through `onAuth`; never written to `.git/config`.
 * The checkout dir and its store link: `checkout-dir.ts`; writing a commit's links: `checkout.ts`;
 * putting paths back: `restore.ts`; age-encrypted files decrypted beside the tree: `secrets*.ts`. Tree comparisons are in `trees.ts`, the work tree's symlink guards in `symlinks.ts`.
 * Fetching: `fetch-plan.ts` (which way a fetch goes), `partial/` (commits and trees only, blobs by
 * id), `fetch.ts` (one branch, in-process), `fetch-child.ts` (a store's first fetch of a whole history
 * in a child process), `compact.ts` (packs compacted), `transport/http.ts` (inactivity timeout).
 */
import path from 'node:path';
import AsyncLock from 'async-lock';
import git from 'isomorphic-git';
import type { CheckoutRef, GitPort, SourceRef } from '../../ports/git.js';
import { ObjectCaches, type Pass } from './object-cache.js';
import { writeCommit } from './checkout.js';
import { wireCheckout } from './checkout-dir.js';
import type { Owner } from '../../ports/host.js';
import { clearApplying, undoInterrupted } from './apply-marker.js';
import { DEFAULT_CHILD_TIMEOUT_MS } from './fetch-child.js';
import { FetchPlan } from './fetch-plan.js';
import { Compactor, DEFAULT_COMPACT_ABOVE, RETIRE_GRACE_MS, type Deployed } from './compact.js';
import { headOf } from './store-refs.js';
import { DEFAULT_IDLE_TIMEOUT_MS } from './transport/http.js';
import { matchingCommit } from './drift.js';
import { catchUpSecrets, driftWithSecrets, restoreWithSecrets, withSecretOutputs } from './secrets-drift.js';
import { headOid, isNotFound } from './head.js';
import { commitTree, diffEntries, entryAt } from './trees.js';
import { storeName } from '../../upstream/upstream.js';
import { markUsed } from './stores.js';
import { BlobFetches, ensureBlobs } from './on-demand.js';
import { isoFs } from './iso-fs.js';

export { removeForeignSymlinks } from './symlinks.js';
export { NotOurCheckoutError } from './checkout-dir.js';

/** How {@link IsoGit.fetch} fetches; every field optional (defaults below). docs/daemon.md "Object stores". */
export interface IsoGitOptions {
  /**
   * Fetch a branch the store does not have yet (a whole history) in a short-lived child process
   * (`fetch-child.ts`), so this process never holds the pack (~5–6× its size at the peak). Default
   * false (tests and tools fetch in-process, where `TRANSPORT_CHANNEL` events are seen); the daemon sets true.
   */
  readonly fetchInChild?: boolean;
  /**
   * Fetch commits and trees only, blobs on demand (a partial clone, `partial/`, `on-demand.ts`).
   * Default true; false = whole histories with isomorphic-git's fetch, as an upstream that cannot
   * filter gets them (tests of that path; no notice is logged then).
   */
  readonly partialClone?: boolean;
  /** Compact the store when a fetch leaves more than this many packs (`compact.ts`); 0 = never. Default 16. */
  readonly compactAbove?: number;
  /** A request with no response headers, or no body bytes, for this many ms fails (`transport/http.ts`). Default 60 000. */
  readonly idleTimeoutMs?: number;
  /** A child process (first fetch, compaction) running longer than this many ms is killed. Default 600 000. */
  readonly childTimeoutMs?: number;
  /** How long packs replaced by a compaction stay before a fetch deletes them, ms (default 1 s; tests use 0). */
  readonly compactGraceMs?: number;
}

/** isomorphic-git implementation of {@link GitPort}. */
export class IsoGit implements GitPort {
  /** One queue per store directory and per checkout directory (isomorphic-git has no locking); no bound on waiting work, no timeouts. */
  private readonly lock = new AsyncLock({ maxPending: Infinity });
  private readonly options: Required<IsoGitOptions>;
  private readonly compactor: Compactor;
  /** Store → checkout directory → the commit it has deployed (as last seen): compaction keeps them. */
  private readonly inUse = new Map<string, Map<string, Deployed>>();
  /** isomorphic-git's object cache per store, never seen outside this adapter (`object-cache.ts`). */
  private readonly caches = new ObjectCaches();
  /** Aborted by {@link close}: fetch children are killed, blob fetches end. */
  private readonly stopping = new AbortController();
  /** How each fetch goes: filtered or whole, here or in a child (`fetch-plan.ts`). */
  private readonly plan: FetchPlan;

  /**
   * @param stateDir absolute directory for the shared object stores (`--state-dir`)
   * @param onNotice called for things an operator should read in the log, with a level: `warn` for
   *   an old objects dir kept aside, a re-pointed checkout, a compaction that failed; `info` for a
   *   store compacted
   * @param options how fetches run ({@link IsoGitOptions})
   */
  constructor(private readonly stateDir: string, private readonly onNotice: (msg: string, data: object, level: 'info' | 'warn') => void = () => {}, options: IsoGitOptions = {}) {
    this.options = {
      fetchInChild: options.fetchInChild ?? false,
      partialClone: options.partialClone ?? true,
      compactAbove: options.compactAbove ?? DEFAULT_COMPACT_ABOVE,
      idleTimeoutMs: options.idleTimeoutMs ?? DEFAULT_IDLE_TIMEOUT_MS,
      childTimeoutMs: options.childTimeoutMs ?? DEFAULT_CHILD_TIMEOUT_MS,
      compactGraceMs: options.compactGraceMs ?? RETIRE_GRACE_MS,
    };
    this.plan = new FetchPlan(this.options, this.stopping.signal, onNotice);
    this.compactor = new Compactor({ runChild: this.plan.runChild, idleTimeoutMs: this.options.idleTimeoutMs, onNotice }, this.options.compactAbove, this.options.compactGraceMs);
  }

  /**
   * Directory of the bare store for `upstream` (https, SSH or local): `<stateDir>/upstreams/<slug>-<hash>.git`,
   * the hash over the normalised upstream (`storeName` in src/upstream/upstream.ts; unchanged for http(s)).
   */
  storeOf(upstream: string): string {
    let dir = this.stores.get(upstream);
    if (dir === undefined) this.stores.set(upstream, (dir = path.join(this.stateDir, 'upstreams', storeName(upstream))));
    return dir;
  }

  /** {@link storeOf}'s answers, asked by every read of every service (one entry per upstream string). */
  private readonly stores = new Map<string, string>();

  /**
   * Fetch `source.branch` into the upstream's store and return its tip (see {@link IsoGitOptions} and
   * docs/daemon.md "Object stores"): commits and trees only (a partial clone, `partial/`), in this
   * process; a branch the store does not have yet, from an upstream that cannot filter, is fetched
   * whole in a child process when `fetchInChild` is set. Nothing new costs one `GET info/refs`. A fetch that brought something may start a compaction of the store's
   * packs in the background (`compact.ts`), swapped in at the store's next fetch.
   * @throws Error from the fetch (HTTP status, ssh's reason, `FetchTimeoutError`, a child that failed);
   *   never for a failed compaction (reported through `onNotice`).
   */
  async fetch(source: SourceRef): Promise<string> {
    const gitdir = this.storeOf(source.upstream);
    // a fetch begins a pass: the reads after it share a fresh object cache
    return this.caches.with(gitdir, (pass) => this.lock.acquire(gitdir, async () => {
      await this.compactor.beforeFetch(gitdir); // a compacted copy made meanwhile goes in before this pass reads
      const local = await headOf(gitdir, source.branch);
      // stopping the daemon ends it at once; a trickling upstream cannot hold it past the children's bound
      const signal = AbortSignal.any([this.stopping.signal, AbortSignal.timeout(this.options.childTimeoutMs)]);
      const tip = await this.plan.fetch(gitdir, source, local, pass.cache, signal);
      if (tip !== local) await this.compactor.afterFetch(gitdir, source, this.inUse.get(gitdir)); // starts in the background when due
      await markUsed(gitdir);
      return tip;
    }), true);
  }

  /** Fetches of missing blobs, merged across the services of a store (`on-demand.ts`). */
  private readonly blobFetches = new BlobFetches();

  /** The store of `co` gets every blob under its links at `commit` (fetched when missing: `on-demand.ts`). */
  private async needBlobs(co: CheckoutRef, commit: string, pass: Pass): Promise<void> {
    await ensureBlobs(this.blobFetches, this.storeOf(co.upstream), co, commit, co.links, pass, { idleTimeoutMs: this.options.idleTimeoutMs, signal: this.stopping.signal });
  }

  /**
   * Make sure the store of `co` has every blob under `paths` (repository paths, e.g. a hooks
   * directory) at `commit`, fetching the missing ones (`on-demand.ts`); for `IsoStage`, which reads
   * files outside the links. Throws as {@link ensureBlobs}.
   */
  async ensureFiles(co: CheckoutRef, commit: string, paths: readonly string[]): Promise<void> {
    await this.cached(co.upstream, (pass) => ensureBlobs(this.blobFetches, this.storeOf(co.upstream), co, commit, paths, pass, { idleTimeoutMs: this.options.idleTimeoutMs, signal: this.stopping.signal }));
  }

  /** Run `fn` with the object cache of `upstream`'s store. */
  private cached<T>(upstream: string, fn: (pass: Pass) => Promise<T>): Promise<T> {
    return this.caches.with(this.storeOf(upstream), fn);
  }

  /**
   * Run `fn` holding the lock of the store at `gitdir` (no fetch into it runs meanwhile), and forget
   * what this process remembered of its checkouts once `fn` resolved: for removing the store
   * (`stores.ts`).
   */
  async withStoreRemoved(gitdir: string, fn: () => Promise<void>): Promise<void> {
    await this.lock.acquire(gitdir, fn);
    this.inUse.delete(gitdir);
  }


  /** Resolves once no compaction runs in the background (tests). */
  settle(): Promise<void> {
    return this.compactor.settle();
  }

  /**
   * Kill every fetch child (a first fetch or a compaction still running): call when the daemon
   * stops, so it does not wait for a long first fetch. Fetches in progress then reject; later ones
   * run no child. Resolves once background compactions ended.
   */
  async close(): Promise<void> {
    this.stopping.abort(new Error('the daemon is stopping'));
    await this.compactor.settle();
  }

  /**
   * Wire the checkout to its store (`checkout-dir.ts`), then undo a checkout that was cut short
   * (`apply-marker.ts`): the files it had written are put back to the deployed commit's version,
   * so they are never taken for local edits, and the pass goes on from a consistent tree.
   */
  async prepare(co: CheckoutRef, owner: Owner | undefined): Promise<void> {
    await wireCheckout(co, path.join(this.storeOf(co.upstream), 'objects'), owner, (msg, data) => this.onNotice(msg, data, 'warn'));
    await undoInterrupted(this, co, owner, (msg, data) => this.onNotice(msg, data, 'warn'));
    await this.cached(co.upstream, (pass) => this.lock.acquire(co.dir, async () => {
      const deployed = await this.deployedIn(co, pass);
      if (deployed !== undefined && co.ageIdentity !== undefined) await this.needBlobs(co, deployed, pass);
      await catchUpSecrets(co, this.storeOf(co.upstream), deployed, owner, pass);
    }));
  }

  async missingLinks(co: CheckoutRef, commit: string): Promise<string[]> {
    const store = this.storeOf(co.upstream);
    return this.cached(co.upstream, async (pass) => {
      const missing: string[] = [];
      for (const link of co.links) if (!(await entryAt(store, commit, link, pass))) missing.push(link);
      return missing.sort();
    });
  }

  async has(source: SourceRef, commit: string): Promise<boolean> {
    return this.cached(source.upstream, async (pass) => {
      try {
        await commitTree(this.storeOf(source.upstream), commit, pass);
        return true;
      } catch (err) {
        if (isNotFound(err)) return false;
        throw err;
      }
    });
  }

  deployed(co: CheckoutRef): Promise<string | undefined> {
    return this.cached(co.upstream, (pass) => this.deployedIn(co, pass));
  }

  private async deployedIn(co: CheckoutRef, pass: Pass): Promise<string | undefined> {
    const gitdir = path.join(co.dir, '.git');
    // only "not there" means nothing deployed; any other failure (EIO, EACCES, a pack that vanished
    // under a read) is an error for the pass (DIFF), never a reason to check out over the links
    let oid: string;
    try {
      oid = await headOid(gitdir);
    } catch (err) {
      if (isNotFound(err)) return undefined; // unborn HEAD: nothing deployed yet
      throw err;
    }
    try {
      await commitTree(this.storeOf(co.upstream), oid, pass);
    } catch (err) {
      if (isNotFound(err)) return undefined; // HEAD names a commit the store does not have (adopted or re-pointed checkout)
      throw err;
    }
    this.used(co, oid);
    return oid;
  }

  changedPaths(co: CheckoutRef, from: string, to: string): Promise<string[]> {
    return this.cached(co.upstream, (pass) => this.changedIn(co, from, to, pass));
  }

  private async changedIn(co: CheckoutRef, from: string, to: string, pass: Pass): Promise<string[]> {
    const gitdir = this.storeOf(co.upstream); // objects are read through the store: one pack cache per pass, not one per service
    const out: string[] = [];
    for (const link of co.links) {
      const [a, b] = await Promise.all([entryAt(gitdir, from, link, pass), entryAt(gitdir, to, link, pass)]);
      await diffEntries(gitdir, link, a, b, pass, out);
    }
    return withSecretOutputs(co, out);
  }

  async checkout(co: CheckoutRef, prev: string | undefined, commit: string, owner: Owner | undefined): Promise<void> {
    const gitdir = path.join(co.dir, '.git');
    await this.cached(co.upstream, (pass) => this.lock.acquire(co.dir, async () => {
      await this.needBlobs(co, commit, pass); // a partial store fetches the files it lacks first: nothing is written before
      await writeCommit(this.storeOf(co.upstream), co, prev, commit, owner, pass, () => this.changedIn(co, prev!, commit, pass));
      // HEAD moves only once the files are there: a failed checkout is retried on the next pass
      await this.point(gitdir, co.branch, commit);
      await clearApplying(gitdir);
      this.used(co, commit);
    }));
  }

  async markDeployed(co: CheckoutRef, commit: string): Promise<void> {
    await this.lock.acquire(co.dir, () => this.point(path.join(co.dir, '.git'), co.branch, commit));
    this.used(co, commit);
  }

  /** Remember that `co` has `commit` deployed (compaction must keep it). */
  private used(co: CheckoutRef, commit: string): void {
    const store = this.storeOf(co.upstream);
    let m = this.inUse.get(store);
    if (!m) this.inUse.set(store, (m = new Map()));
    m.set(co.dir, { commit, links: co.links });
  }

  /**
   * Paths under the links whose work-tree content differs from the deployed commit, or that exist on
   * one side only (sorted, repository-relative): `drift.ts`. No object is read through the
   * checkout; the deployed side is listed from the store (memoised per pass).
   */
  async drift(co: CheckoutRef, head: string): Promise<string[]> {
    return this.cached(co.upstream, (pass) => this.lock.acquire(co.dir, () => driftWithSecrets(co, this.storeOf(co.upstream), head, pass)));
  }

  async matching(co: CheckoutRef, commit: string, paths: readonly string[]): Promise<string[]> {
    return this.cached(co.upstream, (pass) => matchingCommit(co.dir, this.storeOf(co.upstream), commit, paths, pass));
  }

  async restore(co: CheckoutRef, head: string, paths: readonly string[], owner: Owner | undefined): Promise<void> {
    await this.cached(co.upstream, (pass) => this.lock.acquire(co.dir, async () => {
      await this.needBlobs(co, head, pass);
      await restoreWithSecrets(co, this.storeOf(co.upstream), head, paths, owner, pass);
    }));
  }

  /** See {@link GitPort.isAncestor}: isomorphic-git's `isDescendent` over the whole history. */
  async isAncestor(source: SourceRef, ancestor: string, descendant: string): Promise<boolean> {
    if (ancestor === descendant) return true;
    const gitdir = this.storeOf(source.upstream);
    return this.cached(source.upstream, (pass) => git.isDescendent({ fs: isoFs, gitdir, oid: descendant, ancestor, depth: -1, cache: pass.cache }));
  }

  async findInHistory(source: SourceRef, tip: string, prefix: string): Promise<string | undefined> {
    const gitdir = this.storeOf(source.upstream);
    return this.cached(source.upstream, async (pass) => {
      let full: string;
      try {
        full = await git.expandOid({ fs: isoFs, gitdir, oid: prefix, cache: pass.cache });
      } catch {
        return undefined; // unknown or ambiguous prefix
      }
      if (full === tip) return full;
      const ancestor = await git.isDescendent({ fs: isoFs, gitdir, oid: tip, ancestor: full, depth: -1, cache: pass.cache }).catch(() => false);
      return ancestor ? full : undefined;
    });
  }

  private async point(gitdir: string, branch: string, commit: string): Promise<void> {
    await git.writeRef({ fs: isoFs, gitdir, ref: `refs/heads/${branch}`, value: commit, force: true });
    await git.writeRef({ fs: isoFs, gitdir, ref: 'HEAD', value: `refs/heads/${branch}`, symbolic: true, force: true });
  }
}
