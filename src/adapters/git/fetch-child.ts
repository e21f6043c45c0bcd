/**
 * Fetches that download a whole history run in a short-lived child process, so the daemon never
 * holds a whole pack: isomorphic-git collects the pack into one Buffer and indexes it in JS, peaking
 * at ~5–6× the pack (docs/performance.md, finding 5), and a process keeps its memory high-water mark.
 * Used for a store's first fetch of a branch and for compaction (`compact.ts`).
 *
 * Parent ({@link runFetchChild}): `fork(dist/cmd/gitopper-fetch.js)` with `--enable-source-maps` and no
 * other argument, in the daemon's environment less its heap bound ({@link childNodeOptions}); the
 * {@link FetchRequest} goes over the IPC channel, never on argv (ps shows argv) and holds no secret:
 * the child reads `token_file` itself. The child answers one {@link FetchReply} and exits 0.
 * Anything else (exit ≠ 0, a signal, no or bad reply, the overall timeout, after which the child is
 * killed with SIGKILL) rejects with the child's error message. Each start and end is published on
 * {@link CHILD_CHANNEL}.
 *
 * Child ({@link serveFetchRequest}, called by `cmd/gitopper-fetch.ts`): {@link fetchBranch} of each
 * requested branch into the request's store, in order (with `dropGone`, skipping branches the upstream
 * no longer has), then checks that every `mustHave` commit is there, then fetches the blobs of `keep`
 * the store lacks.
 */
import { fork } from 'node:child_process';
import { channel } from 'node:diagnostics_channel';
import { fileURLToPath } from 'node:url';
import git from 'isomorphic-git';
import type { SourceRef } from '../../ports/git.js';
import { fetchBranch } from './fetch.js';
import { BranchNotFoundError } from './store-refs.js';
import { BlobFetches, ensureBlobs } from './on-demand.js';
import { redactUpstream } from '../../upstream/upstream.js';
import { isoFs } from './iso-fs.js';

/** Default bound on one child's whole run, in milliseconds (10 min). */
export const DEFAULT_CHILD_TIMEOUT_MS = 600_000;

/** Name of the `node:diagnostics_channel` on which {@link ChildEvent}s are published. */
export const CHILD_CHANNEL = 'gitopper:git-child';

/** Published on {@link CHILD_CHANNEL}: a child started (with the exact argv given to `fork`), or ended. */
export type ChildEvent =
  | { readonly event: 'spawn'; readonly pid: number | undefined; readonly execArgv: readonly string[]; readonly args: readonly string[]; readonly request: FetchRequest }
  | { readonly event: 'exit'; readonly pid: number | undefined; readonly code: number | null; readonly signal: string | null; readonly reply: FetchReply | undefined; readonly ms: number };

/** What a child is asked to do: fetch `branches` of `source.upstream` into the bare store `gitdir`. */
export interface FetchRequest {
  /** Absolute path of the bare store; made when missing. */
  readonly gitdir: string;
  /** Upstream, token file path (read by the child), SSH key and known_hosts; `branch` is ignored. */
  readonly source: SourceRef;
  /** Branches to fetch, in order (each later one sends the first one's tip as its haves). */
  readonly branches: readonly string[];
  /**
   * Label → commit that must be in the store afterwards, or the child fails (compaction's safety
   * check: a force-push upstream would otherwise drop a commit the store had). A label is a branch
   * name (not checked when that branch is gone upstream and `dropGone` is set) or a text with a
   * space, e.g. `deployed in <dir>`.
   */
  readonly mustHave: Readonly<Record<string, string>>;
  /**
   * Commits whose blobs under `links` must be in the store afterwards (compaction of a partial
   * clone: what checkouts have deployed stays readable offline); fetched on demand (`on-demand.ts`).
   */
  readonly keep: readonly { readonly commit: string; readonly links: readonly string[] }[];
  /** Ask for commits and trees only (see `FetchOptions.filter` in `fetch.ts`); omitted = true. */
  readonly filter?: boolean;
  /**
   * Compaction: a branch the upstream no longer has is skipped and named in the reply's `gone`
   * instead of failing the whole request.
   */
  readonly dropGone: boolean;
  /** Inactivity timeout per request, ms (0 = none). */
  readonly idleTimeoutMs: number;
}

/**
 * What {@link runFetchChild} resolves with: the fetched tips by branch, the branches gone upstream
 * (with `dropGone`), the child's peak RSS in KiB, and whether the upstream could not filter (the
 * whole history was fetched: no partial clone).
 */
export interface ChildResult {
  readonly tips: Readonly<Record<string, string>>;
  readonly gone: readonly string[];
  readonly maxRssKiB: number;
  readonly unfiltered: boolean;
}

/** The child's one answer: every branch's fetched tip, or the error that stopped it. */
export type FetchReply =
  | { readonly ok: true; readonly tips: Readonly<Record<string, string>>; readonly gone: readonly string[]; readonly maxRssKiB: number; readonly unfiltered: boolean }
  | { readonly ok: false; readonly message: string; readonly code?: string | undefined };

const events = channel(CHILD_CHANNEL);

/** Path of the child's entry script: `dist/cmd/gitopper-fetch.js`, found from this file's place in `dist/src/adapters`. */
export const CHILD_ENTRY = fileURLToPath(new URL('../../../cmd/gitopper-fetch.js', import.meta.url));

/**
 * The child's NODE_OPTIONS: the daemon's own (`NODE_OPTIONS` of the unit), less any
 * `--max-old-space-size`. That flag bounds the daemon's heap for its steady state
 * (systemd/gitopper.service); a whole-history fetch holds what its pack needs (isomorphic-git indexes
 * the pack in JS) and then exits, so it runs with node's default limit instead of failing on a large
 * history. Both spellings (`--max-old-space-size=N`, `--max_old_space_size=N`) are dropped; every other
 * option is kept in order. Returns undefined when nothing is left.
 */
export function childNodeOptions(daemon: string | undefined): string | undefined {
  const kept = (daemon ?? '').split(/\s+/).filter((o) => o !== '' && !/^--max[-_]old[-_]space[-_]size(=|$)/.test(o));
  return kept.length > 0 ? kept.join(' ') : undefined;
}

/**
 * Run `req` in a child process (see the file comment) and return the fetched tips by branch.
 * @param timeoutMs overall bound; the child is killed (SIGKILL) when it runs longer
 * @param abort kills the child at once (the daemon is stopping); the promise then rejects
 * The child runs in its own process group: a timeout or an abort kills the group (ssh included).
 * @throws Error with the child's own message (e.g. isomorphic-git's `HTTP Error: 404 Not Found`,
 *   ssh's reason, a timeout), or saying how the child died (exit code or signal, last stderr line).
 */
export function runFetchChild(req: FetchRequest, timeoutMs: number = DEFAULT_CHILD_TIMEOUT_MS, abort?: AbortSignal): Promise<ChildResult> {
  const started = Date.now();
  // a 1 MiB young generation: the fetch churns through inflated objects, and V8's default young
  // generation kept ~50 MiB more resident (bench, medium repo: peak 150 → 97 MiB, wall unchanged)
  const execArgv = ['--enable-source-maps', '--max-semi-space-size=1'];
  const args: string[] = [];
  // its own process group, so a kill reaches what it runs too (ssh for SSH upstreams)
  const env = { ...process.env, NODE_OPTIONS: childNodeOptions(process.env.NODE_OPTIONS) };
  const child = fork(CHILD_ENTRY, args, { execArgv, env, stdio: ['ignore', 'ignore', 'pipe', 'ipc'], serialization: 'json', detached: true });
  const killGroup = () => {
    try {
      if (child.pid !== undefined) process.kill(-child.pid, 'SIGKILL');
    } catch {
      child.kill('SIGKILL'); // the group is gone already, or was never made
    }
  };
  events.publish({ event: 'spawn', pid: child.pid, execArgv, args, request: req } satisfies ChildEvent);
  const what = `fetching ${req.branches.join(', ')} from ${redactUpstream(req.source.upstream)} in a child process`;
  let reply: FetchReply | undefined;
  let stderr = '';
  let timedOut = false;
  child.stderr?.setEncoding('utf8').on('data', (d: string) => (stderr = (stderr + d).slice(-4096)));
  child.on('message', (m) => {
    if (reply === undefined && isReply(m)) reply = m;
  });
  const timer = setTimeout(() => {
    timedOut = true;
    killGroup();
  }, timeoutMs);
  let aborted = false;
  const onAbort = () => {
    aborted = true;
    killGroup();
  };
  if (abort?.aborted) onAbort();
  else abort?.addEventListener('abort', onAbort, { once: true });
  return new Promise((resolve, reject) => {
    child.once('error', (err) => {
      clearTimeout(timer);
      abort?.removeEventListener('abort', onAbort);
      killGroup();
      reject(new Error(`${what}: cannot start ${CHILD_ENTRY}: ${err.message}`));
    });
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      abort?.removeEventListener('abort', onAbort);
      events.publish({ event: 'exit', pid: child.pid, code, signal, reply, ms: Date.now() - started } satisfies ChildEvent);
      if (timedOut) return reject(new Error(`${what}: no result after ${timeoutMs / 1000} s, killed`));
      if (aborted) return reject(new Error(`${what}: stopped (the daemon is shutting down)`));
      if (reply?.ok === false) return reject(Object.assign(new Error(reply.message), reply.code ? { code: reply.code } : {}));
      if (reply?.ok === true && code === 0) return resolve({ tips: { ...reply.tips }, gone: [...reply.gone], maxRssKiB: reply.maxRssKiB, unfiltered: reply.unfiltered === true });
      const last = stderr.trim().split('\n').filter(Boolean).slice(-3).join(' | ');
      reject(new Error(`${what}: the child ${signal ? `was killed by ${signal}` : `exited with code ${code}`}${reply ? '' : ' without a result'}${last ? `: ${last}` : ''}`));
    });
    child.send(req, (err) => {
      if (err) killGroup(); // 'close' then rejects, naming the missing result
    });
  });
}

/**
 * The child's work (called by `cmd/gitopper-fetch.ts` with the request it received over IPC): fetch
 * each branch into the store, then check `mustHave`. Never throws: failures become `{ ok: false }`.
 */
export async function serveFetchRequest(req: FetchRequest): Promise<FetchReply> {
  try {
    const cache = {};
    const tips: Record<string, string> = {};
    const gone: string[] = [];
    let unfiltered = false;
    for (const branch of req.branches) {
      try {
        tips[branch] = await fetchBranch(req.gitdir, { ...req.source, branch }, { cache, idleTimeoutMs: req.idleTimeoutMs, filter: req.filter !== false, onUnfiltered: () => (unfiltered = true) });
      } catch (err) {
        if (!(req.dropGone && err instanceof BranchNotFoundError)) throw err;
        gone.push(branch);
      }
    }
    if (Object.keys(tips).length === 0) throw new Error(`none of the store's branches (${req.branches.join(', ')}) exists upstream any more`);
    for (const [branch, oid] of Object.entries(req.mustHave)) {
      if (gone.includes(branch)) continue;
      await git.readCommit({ fs: isoFs, gitdir: req.gitdir, oid, cache }).catch(() => {
        throw new Error(`commit ${oid} (${branch.includes(' ') ? branch : `the store's ${branch}`}) is no longer reachable from any branch upstream (force-pushed?)`);
      });
    }
    const blobs = new BlobFetches();
    for (const k of req.keep) await ensureBlobs(blobs, req.gitdir, req.source, k.commit, k.links, { cache }, { idleTimeoutMs: req.idleTimeoutMs });
    return { ok: true, tips, gone, maxRssKiB: process.resourceUsage().maxRSS, unfiltered };
  } catch (err) {
    const e = err as { message?: unknown; code?: unknown };
    return { ok: false, message: typeof e.message === 'string' ? e.message : String(err), code: typeof e.code === 'string' ? e.code : undefined };
  }
}

/** True for a well-formed {@link FetchReply}. */
function isReply(m: unknown): m is FetchReply {
  if (typeof m !== 'object' || m === null) return false;
  const r = m as Record<string, unknown>;
  if (r.ok === false) return typeof r.message === 'string';
  return r.ok === true && typeof r.maxRssKiB === 'number' && Array.isArray(r.gone) && r.gone.every((g) => typeof g === 'string') && typeof r.tips === 'object' && r.tips !== null && Object.values(r.tips).every((v) => typeof v === 'string' && /^[0-9a-f]{40}$/.test(v));
}

/** True for a well-formed {@link FetchRequest} (the child checks what it was sent). */
export function isFetchRequest(m: unknown): m is FetchRequest {
  if (typeof m !== 'object' || m === null) return false;
  const r = m as Record<string, unknown>;
  const s = r.source as Record<string, unknown> | undefined;
  const strings = (v: unknown) => Array.isArray(v) && v.every((x) => typeof x === 'string');
  return typeof r.gitdir === 'string' && typeof s === 'object' && s !== null && typeof s.upstream === 'string' && strings(r.branches) && (r.branches as string[]).length > 0 && typeof r.mustHave === 'object' && r.mustHave !== null && !Array.isArray(r.mustHave) && Object.values(r.mustHave).every((v) => typeof v === 'string') && typeof r.dropGone === 'boolean' && (r.filter === undefined || typeof r.filter === 'boolean') && typeof r.idleTimeoutMs === 'number' && Array.isArray(r.keep) && r.keep.every((k: unknown) => typeof k === 'object' && k !== null && typeof (k as { commit?: unknown }).commit === 'string' && strings((k as { links?: unknown }).links));
}
