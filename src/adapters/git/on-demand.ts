/**
 * Blobs on demand, for a store that is a partial clone (`partial/`: its fetches bring commits and
 * trees only). Before anything reads files of a commit (a checkout, a restore of drifted files, the
 * catch-up of secrets), {@link ensureBlobs} lists the blobs under the service's links at that commit
 * (from the trees, memoised per pass), asks which of them the store lacks (`packs/`: a lookup in the
 * pack indexes, no object read), and fetches exactly those from the upstream in one request
 * (`want <oid>` lines, git's lazy fetch of a promisor remote). What the store has is never asked
 * again: a rollback to a commit whose files were deployed before works offline; one whose files
 * were never fetched needs the upstream, and fails with its error when it is down (nothing is
 * written then: the caller's checkout has not begun).
 *
 * A store that is no partial clone (an upstream that cannot filter) lacks nothing, so the only cost
 * there is the tree walk, which the checkout does anyway.
 */
import type { SourceRef } from '../../ports/git.js';
import type { Pass } from './object-cache.js';
import { entryAt, readTreeOid, type Entry } from './trees.js';
import { missingObjects } from './packs/object-presence.js';
import { fetchObjects } from './partial/index.js';

/** How {@link ensureBlobs} fetches: the same bounds as a fetch of the branch. */
export interface OnDemandOptions {
  /** Inactivity timeout per request, ms (0 = none). */
  readonly idleTimeoutMs: number;
  /** Aborts the fetch at once (the daemon stops). */
  readonly signal?: AbortSignal;
}

/**
 * The ids of the blobs (files and symlinks) under `links` at `commit` in `gitdir`. Submodule
 * entries (gitlinks) are not objects of this repository and are left out; a link the commit lacks
 * adds nothing.
 * @throws isomorphic-git's NotFoundError when a commit or tree is missing (a store never lacks those)
 */
export async function linkBlobs(gitdir: string, commit: string, links: readonly string[], pass: Pass): Promise<Set<string>> {
  const out = new Set<string>();
  const walk = async (e: Entry): Promise<void> => {
    if (e.type === 'blob') out.add(e.oid);
    else if (e.type === 'tree') for (const child of (await readTreeOid(gitdir, e.oid, pass)).values()) await walk(child);
  };
  for (const link of links) {
    const e = await entryAt(gitdir, commit, link, pass);
    if (e) await walk(e);
  }
  return out;
}

/**
 * Coalesces the blob fetches of one process: while a fetch into a store runs, every blob asked for
 * that store waits for the next one, which then asks for all of them at once. A first setup of 100
 * services on one upstream thus makes two or three requests, not 100. Each caller's promise settles
 * with the fetch that carried its blobs (a failure rejects every caller of that fetch).
 */
export class BlobFetches {
  private readonly stores = new Map<string, { next: Batch | undefined; running: boolean }>();

  /**
   * Fetch `oids` into `gitdir` from `source` (batched as the class comment says).
   * @throws the fetch's error (see `fetchObjects`)
   */
  fetch(gitdir: string, source: SourceRef, oids: readonly string[], opts: OnDemandOptions): Promise<void> {
    let s = this.stores.get(gitdir);
    if (!s) this.stores.set(gitdir, (s = { next: undefined, running: false }));
    const batch = (s.next ??= newBatch(source, opts));
    for (const oid of oids) batch.oids.add(oid);
    if (!s.running) void this.run(gitdir, s);
    return batch.done;
  }

  private async run(gitdir: string, s: { next: Batch | undefined; running: boolean }): Promise<void> {
    s.running = true;
    try {
      // one tick first, so the services reconciled in the same pass join the first request
      await new Promise((resolve) => setImmediate(resolve));
      for (let b = s.next; b !== undefined; b = s.next) {
        s.next = undefined;
        await fetchObjects(gitdir, b.source, [...b.oids], b.opts).then(() => b.resolve(), b.reject);
      }
    } finally {
      s.running = false;
      this.stores.delete(gitdir);
    }
  }
}

interface Batch {
  readonly oids: Set<string>;
  readonly source: SourceRef;
  readonly opts: OnDemandOptions;
  readonly done: Promise<void>;
  resolve: () => void;
  reject: (err: unknown) => void;
}

function newBatch(source: SourceRef, opts: OnDemandOptions): Batch {
  let resolve!: () => void;
  let reject!: (err: unknown) => void;
  const done = new Promise<void>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  done.catch(() => undefined); // every caller awaits it; this only keeps an unawaited rejection quiet
  return { oids: new Set(), source, opts, done, resolve, reject };
}

/**
 * Make sure the store `gitdir` has every blob under `links` at `commit` (see the file comment), and
 * return how many were fetched (0 when none was missing: nothing is asked of the upstream).
 * @param fetches the process's {@link BlobFetches} (requests of concurrent callers are merged)
 * @param source the upstream (and its token file, SSH key) the store was fetched from
 * @throws the fetch's error (the upstream down, a timeout, a server that cannot serve single
 *   objects), prefixed with what was missing
 */
export async function ensureBlobs(fetches: BlobFetches, gitdir: string, source: SourceRef, commit: string, links: readonly string[], pass: Pass, opts: OnDemandOptions): Promise<number> {
  const missing = await missingObjects(gitdir, await linkBlobs(gitdir, commit, links, pass));
  if (missing.length === 0) return 0;
  try {
    await fetches.fetch(gitdir, source, missing, opts);
  } catch (err) {
    const e = err as { message?: unknown };
    throw Object.assign(new Error(`the files of commit ${commit.slice(0, 12)} (${missing.length} blob${missing.length === 1 ? '' : 's'} under ${links.join(', ')}) are not in the store yet and fetching them failed: ${typeof e.message === 'string' ? e.message : String(err)}`), { cause: err });
  }
  return missing.length;
}
