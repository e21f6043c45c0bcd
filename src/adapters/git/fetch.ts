/**
 * One branch fetched into a bare object store with isomorphic-git: the work of `IsoGit.fetch`, done
 * in the daemon's process (fetches that add to a store) or in a child process (a store's first
 * fetch of a branch and compaction: `fetch-child.ts`).
 *
 * - The store is made on first use: `git init --bare`, remote `origin` = the plain upstream (the URL
 *   carries no credentials: they come from `token_file` through `onAuth` at each fetch).
 * - After a fetch `refs/heads/<branch>` is the fetched tip: isomorphic-git takes its "haves" from it,
 *   so the next fetch downloads only new objects. A branch the store has not fetched yet uses another
 *   branch of the store as its haves (the shared history is not downloaded twice).
 * - Pack files are written atomically (temporary name, then rename; the `.pack` before its `.idx`):
 *   isomorphic-git writes them with a plain `writeFile`, so a process killed mid-write left a truncated
 *   `.idx` that broke every later object read of the store. Now a killed fetch leaves at most a `.pack`
 *   without `.idx` (never read; removed by the next compaction) and no ref, so the next try fetches again.
 * - Every request has an inactivity timeout (`transport/http.ts`).
 * - The configured branch is fetched even when the upstream's `HEAD` names a branch that does not
 *   exist (`transport/advert.ts`).
 */
import fs from 'node:fs';
import { rename, rm } from 'node:fs/promises';
import git from 'isomorphic-git';
import http from 'isomorphic-git/http/node';
import type { SourceRef } from '../../ports/git.js';
import { withDefaultHead } from './transport/advert.js';
import { withIdleTimeout } from './transport/http.js';
import { openPipe } from './transport/pipe.js';
import { BranchNotFoundError, ensureStore, headOf, heads } from './store-refs.js';
import { readToken } from './transport/token.js';
import { fetchFiltered } from './partial/index.js';
import { isoFs } from './iso-fs.js';

/** Options of {@link fetchBranch}. */
export interface FetchOptions {
  /** isomorphic-git cache object (one per pass in the daemon; a fresh one in a child). */
  readonly cache: object;
  /** Inactivity timeout per request, ms (`transport/http.ts`); 0 = none. */
  readonly idleTimeoutMs: number;
  /** Aborts the fetch at once (the daemon stops, or an overall deadline); omitted = never. */
  readonly signal?: AbortSignal;
  /**
   * Ask for commits and trees only (a partial clone, `partial/`: protocol v2 `fetch` with
   * `filter blob:none`); blobs come later, exactly those a checkout needs. Default true; false = the
   * whole history, as isomorphic-git fetches it.
   */
  readonly filter?: boolean;
  /** Called when the upstream cannot filter (no protocol v2, or no `filter` feature): the whole history is fetched instead. */
  readonly onUnfiltered?: () => void;
}

/**
 * Fetch `source.branch` into the bare store `gitdir` (made when missing) and point
 * `refs/heads/<branch>` at the fetched tip, which is returned. When the store already has the branch
 * and the upstream is http(s), one `GET info/refs` comes first and nothing else is asked when the
 * advertised tip is the one we have. Then (unless `opts.filter` is false) a partial fetch of commits
 * and trees (`partial/`); an upstream that cannot filter gets isomorphic-git's whole-history fetch
 * (`opts.onUnfiltered` is called first).
 * @throws Error `branch "<b>" not found upstream`; isomorphic-git's errors (HttpError with the status,
 *   e.g. 401/404); `GitTransportError`/`UpstreamError` for SSH and local upstreams; `FetchTimeoutError`;
 *   `token_file … is empty` or the read error of an unreadable token file.
 */
export async function fetchBranch(gitdir: string, source: SourceRef, opts: FetchOptions): Promise<string> {
  await ensureStore(gitdir, source);
  const branchRef = `refs/heads/${source.branch}`;
  // SSH and local upstreams: the smart protocol over `ssh … git-upload-pack` / `git upload-pack` (`transport/pipe.ts`)
  const pipe = openPipe(source);
  const timed = withIdleTimeout(pipe ?? http, source.upstream, opts.idleTimeoutMs, opts.signal);
  // the configured branch is fetched whatever the upstream's HEAD says (`transport/advert.ts`)
  const client = withDefaultHead(timed, branchRef);
  try {
    const token = pipe || source.tokenFile === undefined ? undefined : await readToken(source.tokenFile);
    const auth = token ? { onAuth: () => token } : {};
    const local = await headOf(gitdir, source.branch);
    let remote: string | undefined;
    if (!pipe && local !== undefined) {
      // nothing new costs one GET info/refs: compare the advertised tip with the one we have
      const refs = await git.listServerRefs({ http: client, url: source.upstream, prefix: branchRef, protocolVersion: 1, ...auth });
      remote = refs.find((r) => r.ref === branchRef)?.oid;
      if (remote === undefined) throw new BranchNotFoundError(source.branch);
      if (remote === local) return local;
    }
    if (opts.filter !== false) {
      // commits and trees only; undefined = the upstream cannot filter: the whole history below
      const tip = await fetchFiltered(gitdir, source, { idleTimeoutMs: opts.idleTimeoutMs, ...(opts.signal ? { signal: opts.signal } : {}), ...(remote !== undefined ? { knownTip: remote } : {}) });
      if (tip !== undefined) return tip;
      opts.onUnfiltered?.();
    }
    // isomorphic-git sends as "haves" the local value of `ref`; the branch fetched is `remoteRef`
    const haves = local === undefined ? (await heads(gitdir)).find((b) => b !== source.branch) : undefined;
    const result = await git.fetch({
      fs: atomicPackFs,
      http: client,
      gitdir,
      url: pipe?.url ?? source.upstream,
      ref: haves === undefined ? source.branch : `refs/heads/${haves}`,
      remoteRef: source.branch,
      singleBranch: true,
      tags: false,
      cache: opts.cache,
      ...auth,
    });
    if (!result.fetchHead) throw new BranchNotFoundError(source.branch);
    // isomorphic-git takes its "haves" from refs/heads/<branch>, not refs/remotes/origin/<branch>:
    // without this every fetch downloads the whole history again (bench: 2.1 MiB per idle pass)
    await git.writeRef({ fs: isoFs, gitdir, ref: branchRef, value: result.fetchHead, force: true });
    return result.fetchHead;
  } catch (err) {
    if (timed.timeout) throw timed.timeout; // isomorphic-git may have turned our timeout into "Empty response"
    // isomorphic-git's NotFoundError for a ref the server does not advertise
    const e = err as { code?: string; data?: { what?: unknown } };
    if (e.code === 'NotFoundError' && e.data?.what === source.branch) throw new BranchNotFoundError(source.branch);
    throw err;
  } finally {
    await pipe?.close();
  }
}

const PACK_FILE = /\/objects\/pack\/pack-[0-9a-f]*\.(pack|idx)$/;

/**
 * node's `fs` for isomorphic-git, except that pack files (`objects/pack/pack-*.pack|idx`) are written
 * to a temporary name and renamed into place (see the file comment). isomorphic-git uses an fs
 * object's `promises` when it is an enumerable property, as here.
 */
export const atomicPackFs = {
  promises: {
    ...isoFs.promises,
    writeFile: async (file: fs.PathLike, data: Parameters<typeof fs.promises.writeFile>[1], options?: Parameters<typeof fs.promises.writeFile>[2]) => {
      if (typeof file !== 'string' || !PACK_FILE.test(file)) return fs.promises.writeFile(file, data, options);
      // never ending in .idx/.pack: readers list objects/pack for *.idx
      const tmp = `${file}.tmp-${process.pid}`;
      try {
        await fs.promises.writeFile(tmp, data, options);
        await rename(tmp, file);
      } catch (err) {
        await rm(tmp, { force: true });
        throw err;
      }
    },
  },
};
