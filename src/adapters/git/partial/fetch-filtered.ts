/**
 * The filtered fetch of a branch (git's partial clone, `--filter=blob:none`): commits and trees
 * only, over protocol v2 (`../transport/v2/`), into a store recorded as a partial clone
 * (`store-config.ts`), as a promisor pack (`pack-writer.ts`). Blobs come later, exactly those a
 * checkout needs (`fetch-objects.ts`).
 */
import git from 'isomorphic-git';
import type { SourceRef } from '../../../ports/git.js';
import { redactUpstream } from '../../../upstream/upstream.js';
import { BranchNotFoundError, headOf, heads } from '../store-refs.js';
import { fetchFeature } from '../transport/v2/client.js';
import { connect, timed } from './connect.js';
import type { PartialFetchOptions } from './options.js';
import { PackWriter } from './pack-writer.js';
import { ensurePartialStore } from './store-config.js';
import { isoFs } from '../iso-fs.js';

/**
 * Fetch the commits and trees of `source.branch` (v2 `fetch` with `filter blob:none`) into the bare
 * store `gitdir` (made when missing, the layout of `../fetch.ts`), with the store's `refs/heads/*`
 * tips as haves; set `refs/heads/<branch>` to the tip and return it (40 hex). Nothing new (the
 * `ls-refs` tip is the local one) costs the capability advertisement and `ls-refs` only.
 * Returns undefined, having written nothing, when the upstream cannot filter: it does not speak
 * protocol v2, or its `fetch` lacks the `filter` feature (git: `uploadpack.allowFilter`); then
 * `opts.onNotice('upstream cannot filter', { upstream, reason })` is called.
 * @throws BranchNotFoundError for a branch the upstream does not have; GitProtocolError (HTTP status,
 *   `ERR`, side-band error, malformed answer), GitTransportError (SSH, local), FetchTimeoutError,
 *   FetchAbortedError; `token_file` errors; Error for a corrupt pack
 */
export async function fetchFiltered(gitdir: string, source: SourceRef, opts: PartialFetchOptions): Promise<string | undefined> {
  const c = await connect(source, opts);
  try {
    return await timed(c, (async () => {
      const caps = await c.client.capabilities();
      if (!caps || !fetchFeature(caps, 'filter')) {
        const reason = !caps ? 'it does not speak git protocol v2' : 'its fetch has no filter capability (git: uploadpack.allowFilter)';
        opts.onNotice?.('upstream cannot filter', { upstream: redactUpstream(source.upstream), reason });
        return undefined;
      }
      const ref = `refs/heads/${source.branch}`;
      // the tip from a ref advertisement just read (`../fetch.ts`) saves the ls-refs round trip
      const tip = opts.knownTip ?? (await c.client.lsRefs([ref])).get(ref);
      if (tip === undefined) throw new BranchNotFoundError(source.branch);
      if ((await headOf(gitdir, source.branch)) === tip) return tip;
      await ensurePartialStore(gitdir, source);
      const haves = await haveTips(gitdir);
      const w = await PackWriter.open(gitdir);
      try {
        await c.client.fetch({ wants: [tip], haves, filter: 'blob:none' }, w.write);
        await w.finish(`${tip} ${ref}\n`);
      } catch (err) {
        await w.abort();
        throw err;
      }
      await git.writeRef({ fs: isoFs, gitdir, ref, value: tip, force: true });
      return tip;
    })());
  } finally {
    await c.close();
  }
}

/** The distinct tips of the store's `refs/heads/*` (what it has: the server leaves it out). */
async function haveTips(gitdir: string): Promise<string[]> {
  const tips = new Set<string>();
  for (const b of await heads(gitdir)) {
    const oid = await headOf(gitdir, b);
    if (oid !== undefined) tips.add(oid);
  }
  return [...tips];
}
