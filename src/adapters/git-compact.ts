/**
 * Compaction of a store's packs (docs/performance.md, finding 6). Every fetch that brings something
 * adds one pack and isomorphic-git never repacks; every object read lists `objects/pack` and loads
 * each `.idx`, so reads slow down as packs pile up. Above a threshold, under the store's lock:
 *
 * 1. a child process (`git-child.ts`) fetches every branch the store has (`refs/heads/*`: trackers of
 *    several branches share one store per upstream) into a fresh bare store `<store>.compact`; later
 *    branches send the first one's tip as their haves, so it holds one pack plus one small pack per
 *    further branch. The child checks that every branch tip of the store is in the copy (a commit
 *    that a force-push removed upstream would otherwise be dropped): if not, nothing changes.
 * 2. each new `.pack`, then its `.idx`, is renamed into `<store>/objects/pack` (readers look for
 *    `.idx` files, so they never see a pack without its data);
 * 3. the old `.idx` files, then everything else that was in `objects/pack` (old `.pack`s, a `.pack`
 *    left without `.idx` by a killed fetch, temporary files), are deleted;
 * 4. `<store>.compact` is removed.
 *
 * A branch of the store that the upstream no longer has (deleted or renamed upstream, typically after
 * services moved to another branch) is not kept: its `refs/heads/*` is deleted once the new pack is
 * in, and the notice names it (`dropped`); a tracker still on that branch already fails its fetch.
 * A failed compaction is not tried again until the store has twice the packs it had then (IsoGit).
 *
 * Objects reachable only from commits that are on no branch upstream any more (a force-push) are
 * dropped; a checkout deployed at such a commit keeps its files, and `deployed()` reports it as not
 * deployed, so the next pass checks out the tip. A reader in another tracker that listed the old
 * `.idx` files just before step 3 may fail once (that service is DIFF for one pass).
 * A failed compaction leaves the store usable (at worst with the new pack beside the old ones) and
 * is reported through `onNotice`; it never fails the fetch.
 */
import fs from 'node:fs';
import { readdir, rename, rm } from 'node:fs/promises';
import path from 'node:path';
import git from 'isomorphic-git';
import type { SourceRef } from '../ports.js';
import type { ChildResult, FetchRequest } from './git-child.js';
import { headOf, heads } from './git-fetch.js';

/** Default threshold: compact when a fetch leaves more than this many packs (bench: 16). */
export const DEFAULT_COMPACT_ABOVE = 16;

/** What {@link compactStore} needs from its caller. */
export interface CompactDeps {
  /** Runs a {@link FetchRequest} in a child process (`runFetchChild` with its timeout). */
  readonly runChild: (req: FetchRequest) => Promise<ChildResult>;
  /** Inactivity timeout per request for the child's fetches, ms. */
  readonly idleTimeoutMs: number;
  /** Where "store compacted" (level info) and "compaction failed" (warn) go (the daemon logs them, component `git`). */
  readonly onNotice: (msg: string, data: object, level: 'info' | 'warn') => void;
}

/**
 * How {@link compactStore} ended: `skipped` (not above the threshold, or no branch), `compacted`,
 * or `failed` (the store is as it was); `packsBefore` = complete packs found.
 */
export interface CompactResult {
  readonly result: 'skipped' | 'compacted' | 'failed';
  readonly packsBefore: number;
}

/** Number of complete packs (`.idx` files) in the store. */
export async function packCount(gitdir: string): Promise<number> {
  return (await readdir(path.join(gitdir, 'objects', 'pack')).catch(() => [] as string[])).filter((f) => f.endsWith('.idx')).length;
}

/**
 * Compact the store `gitdir` (see the file comment) when it has more than `above` packs; call it
 * under the store's lock. `source` gives the upstream and its credentials (its branch is not used:
 * every branch of the store is fetched). Never throws.
 */
export async function compactStore(gitdir: string, source: SourceRef, above: number, deps: CompactDeps): Promise<CompactResult> {
  const packDir = path.join(gitdir, 'objects', 'pack');
  const tmp = `${gitdir}.compact`;
  const started = Date.now();
  let packsBefore = 0;
  try {
    const old = await readdir(packDir);
    packsBefore = old.filter((f) => f.endsWith('.idx')).length;
    if (packsBefore <= above) return { result: 'skipped', packsBefore };
    const branches = await heads(gitdir);
    if (branches.length === 0) return { result: 'skipped', packsBefore };
    const mustHave: Record<string, string> = {};
    for (const b of branches) {
      const oid = await headOf(gitdir, b);
      if (oid !== undefined) mustHave[b] = oid;
    }
    await rm(tmp, { recursive: true, force: true });
    const { gone } = await deps.runChild({ gitdir: tmp, source, branches, mustHave, dropGone: true, idleTimeoutMs: deps.idleTimeoutMs });
    const fresh = (await readdir(path.join(tmp, 'objects', 'pack'))).filter((f) => /^pack-[0-9a-f]+\.(pack|idx)$/.test(f));
    const freshIdx = fresh.filter((f) => f.endsWith('.idx'));
    if (freshIdx.length === 0 || freshIdx.some((i) => !fresh.includes(i.replace(/\.idx$/, '.pack')))) throw new Error(`the fresh copy has no complete pack (${fresh.join(', ') || 'nothing'})`);
    // .pack before its .idx: a reader that finds the .idx finds the data
    for (const f of [...fresh].sort(packFirst)) await rename(path.join(tmp, 'objects', 'pack', f), path.join(packDir, f));
    // old .idx first (readers stop using those packs), then their .pack and any leftover
    for (const f of old.filter((x) => !fresh.includes(x)).sort(idxFirst)) await rm(path.join(packDir, f), { recursive: true, force: true });
    // branches gone upstream: their objects were not kept, so their refs go too
    for (const b of gone) {
      await git.deleteRef({ fs, gitdir, ref: `refs/heads/${b}` });
      await git.deleteRef({ fs, gitdir, ref: `refs/remotes/origin/${b}` }).catch(() => undefined); // isomorphic-git's remote-tracking ref, if any
    }
    deps.onNotice('object store compacted', { store: gitdir, branches: branches.filter((b) => !gone.includes(b)), ...(gone.length > 0 ? { dropped: gone } : {}), packsBefore, packsAfter: await packCount(gitdir), seconds: (Date.now() - started) / 1000 }, 'info');
    return { result: 'compacted', packsBefore };
  } catch (err) {
    deps.onNotice('object store compaction failed; the old packs are kept', { store: gitdir, packsBefore, err: err instanceof Error ? err.message : String(err) }, 'warn');
    return { result: 'failed', packsBefore };
  } finally {
    await rm(tmp, { recursive: true, force: true }).catch(() => undefined);
  }
}

const packFirst = (a: string, b: string) => rank(a, '.pack') - rank(b, '.pack') || a.localeCompare(b);
const idxFirst = (a: string, b: string) => rank(a, '.idx') - rank(b, '.idx') || a.localeCompare(b);
function rank(f: string, first: string): number {
  return f.endsWith(first) ? 0 : 1;
}
