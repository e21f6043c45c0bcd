/**
 * SSH and local upstreams for isomorphic-git, which only speaks smart HTTP: a custom `http` plugin
 * ({@link PipeTransport}) that carries the git protocol (v0, upload-pack only) over a child process:
 *
 *   ssh://user@host:port/path, user@host:path  →  ssh [-p port] [-i key] -o … -l user -- host "git-upload-pack '<path>'"
 *   /abs/path, file:///abs/path                 →  git upload-pack -- /abs/path
 *
 * HTTP's stateless-rpc exchange is emulated on ONE stateful connection per fetch:
 *   GET  …/info/refs?service=git-upload-pack  → start the process, read its ref advertisement up to the
 *        first flush-pkt and answer it behind the `# service=git-upload-pack` pkt-line + flush that
 *        git-http-backend adds (content type `application/x-git-upload-pack-advertisement`);
 *   POST …/git-upload-pack                    → write the request body (wants, haves, done) to that
 *        process's stdin and stream its stdout (ACK/NAK, side-band pack) back as the response body.
 * After `done`, upload-pack answers the same bytes in stateful and in stateless-rpc mode, so
 * isomorphic-git cannot tell the difference. One process (for SSH: one connection, one key exchange)
 * per fetch instead of two; no server-side flags (`--stateless-rpc` is refused by git-shell, which
 * GitHub/Gitea/gitolite-style servers run). {@link PipeTransport.close} ends a session that got no POST
 * (empty repository, missing branch) with a flush-pkt, as `git ls-remote` does.
 *
 * Protocol v2 (`transport/v2/`): a request with the header `Git-Protocol: version=2` starts its
 * process with `GIT_PROTOCOL=version=2` (ssh: `-o SendEnv=GIT_PROTOCOL`); a v2 capability
 * advertisement is answered without the `# service=` preamble, as git-http-backend does. A v2
 * command (POST) goes to the process the GET (or the previous command) left waiting, else to a new
 * one whose advertisement is skipped; its answer ends at its flush-pkt, and the process then waits
 * for the next command (so `ls-refs` then `fetch` cost one process, one SSH connection). A server
 * that ignores GIT_PROTOCOL answers v0, which the client sees as "not v2".
 *
 * Nothing goes through a shell; the one string the remote side parses (the command) quotes the path
 * the way git does. Each spawn and request is published on the diagnostics channel
 * {@link TRANSPORT_CHANNEL} (tests count them).
 *
 * This file is the plugin; its parts: `pipe-command.ts` (the argv, quoting, key/known_hosts checks),
 * `session.ts` (one process and its pkt-lines), `errors.ts` (ssh's and git's failures turned into what
 * to do). What an upstream string names is src/upstream/upstream.ts.
 */
import { spawn } from 'node:child_process';
import { channel } from 'node:diagnostics_channel';
import { childEnv, unreadableFiles, uploadPackCommand, type PipeSource } from './pipe-command.js';
import { FLUSH, SERVICE_LINE, Session } from './session.js';
import { GitTransportError, explainFailure, transportLabel } from './errors.js';
import { UpstreamError, parseUpstream, type LocalUpstream, type SshUpstream } from '../../../upstream/upstream.js';

// this module's public names from before it was split into the files above
export { UNSAFE_SSH_PATH, sqQuote, uploadPackCommand, type PipeSource } from './pipe-command.js';
export { GitTransportError } from './errors.js';

/** Name of the `node:diagnostics_channel` on which {@link TransportEvent}s are published. */
export const TRANSPORT_CHANNEL = 'gitopper:git-transport';

/** Published on {@link TRANSPORT_CHANNEL}: a process started, or isomorphic-git made a request. */
export type TransportEvent =
  | { readonly event: 'spawn'; readonly upstream: string; readonly command: readonly string[] }
  | { readonly event: 'request'; readonly upstream: string; readonly method: string; readonly service: 'info/refs' | 'git-upload-pack' };

const events = channel(TRANSPORT_CHANNEL);

/** isomorphic-git's `GitHttpRequest`, as much of it as this plugin reads. */
export interface PipeRequest {
  readonly url: string;
  readonly method?: string | undefined;
  readonly headers?: Record<string, string> | undefined;
  readonly body?: AsyncIterable<Uint8Array> | Iterable<Uint8Array> | undefined;
}

/** isomorphic-git's `GitHttpResponse`. */
export interface PipeResponse {
  url: string;
  method: string;
  statusCode: number;
  statusMessage: string;
  headers: Record<string, string>;
  body: AsyncIterableIterator<Uint8Array>;
}

/**
 * An isomorphic-git `http` plugin (`HttpClient`) for one fetch from an SSH or local upstream (see the
 * file comment). Pass {@link url} as the fetch URL and call {@link close} when the fetch is over.
 */
export class PipeTransport {
  /** The URL to give isomorphic-git (any http URL works: the plugin only looks at the path's end). */
  readonly url = 'http://gitopper.invalid/upstream';
  /** Requests served and processes started so far. */
  readonly stats = { requests: 0, processes: 0 };
  private readonly upstream: SshUpstream | LocalUpstream;
  private session: Session | undefined;
  private readonly sessions: Session[] = [];
  private command: string[] = [];

  /** @throws UpstreamError when `src.upstream` is http(s) or invalid. */
  constructor(private readonly src: PipeSource) {
    const u = parseUpstream(src.upstream, { httpCredentials: true });
    if (u.kind === 'http') throw new UpstreamError('is an http(s) upstream; it needs no pipe', { upstream: src.upstream });
    this.upstream = u;
  }

  /** isomorphic-git's `HttpClient.request`. */
  request = async (req: PipeRequest): Promise<PipeResponse> => {
    const method = (req.method ?? 'GET').toUpperCase();
    const u = new URL(req.url);
    const service = u.pathname.endsWith('/info/refs') ? 'info/refs' : u.pathname.endsWith('/git-upload-pack') ? 'git-upload-pack' : undefined;
    if (service === 'info/refs' && u.searchParams.get('service') !== 'git-upload-pack') {
      throw this.fail(`${u.searchParams.get('service') ?? 'that service'} is not supported: this agent only fetches`);
    }
    if (service === undefined || (service === 'info/refs') !== (method === 'GET')) throw this.fail(`unexpected request ${method} ${u.pathname}`);
    this.stats.requests++;
    events.publish({ event: 'request', upstream: this.src.upstream, method, service } satisfies TransportEvent);
    const v2 = Object.entries(req.headers ?? {}).some(([k, v]) => k.toLowerCase() === 'git-protocol' && /(^|:)version=2($|:)/.test(v));
    const headers = (type: string) => ({ 'content-type': `application/x-git-upload-pack-${type}`, 'cache-control': 'no-cache' });
    if (service === 'info/refs') {
      await this.end(); // a second discovery starts afresh
      const { session, refs } = await this.open(v2);
      this.session = session;
      const answer = v2 && refs.toString('latin1', 0, 14) === '000eversion 2\n' ? refs : Buffer.concat([SERVICE_LINE, FLUSH, refs]);
      return { url: req.url, method, statusCode: 200, statusMessage: 'OK', headers: headers('advertisement'), body: once(answer) };
    }
    // POST: continue the session the advertisement started (or start one and skip its advertisement)
    const session = this.session ?? (await this.open(v2)).session;
    this.session = undefined;
    const failure = async () => {
      const code = await session.exit;
      // v0 ends its answer by exiting; v2 must end it with a flush-pkt first
      return code === 0 && !v2 ? undefined : this.failed(session, code);
    };
    // v2: the process serves one command after another; its answer ends at a flush-pkt and the session
    // is kept for the next POST (one connection for ls-refs and fetch). v0: it answers once and ends.
    await session.send(req.body, !v2);
    const body = v2 ? session.untilFlush(failure, () => this.keep(session)) : session.rest(failure);
    return { url: req.url, method, statusCode: 200, statusMessage: 'OK', headers: headers('result'), body };
  };

  /**
   * End every process of this transport: a session still waiting for a request gets a flush-pkt
   * (a polite hang-up) and EOF; anything still running after 2 s is killed. Never throws.
   */
  async close(): Promise<void> {
    await this.end();
    await Promise.all(this.sessions.map((s) => s.stop()));
  }

  /** A v2 session that answered a command in full waits for the next one (another waiting one is ended). */
  private keep(s: Session): void {
    if (this.session !== undefined && this.session !== s) void this.end();
    this.session = s;
  }

  private async end(): Promise<void> {
    const s = this.session;
    this.session = undefined;
    if (!s || s.child.stdin.destroyed) return;
    s.child.stdin.end(FLUSH);
  }

  private async open(v2: boolean): Promise<{ session: Session; refs: Buffer }> {
    const u = this.upstream;
    const unreadable = await unreadableFiles(u, this.src);
    if (unreadable !== undefined) throw this.fail(unreadable);
    this.command = uploadPackCommand(u, this.src, v2);
    const [cmd, ...args] = this.command;
    const child = spawn(cmd!, args, { stdio: ['pipe', 'pipe', 'pipe'], env: childEnv(v2), ...(u.kind === 'local' ? { cwd: '/' } : {}) });
    const session = new Session(child);
    this.sessions.push(session);
    this.stats.processes++;
    events.publish({ event: 'spawn', upstream: this.src.upstream, command: this.command } satisfies TransportEvent);
    const ad = await session.advertisement();
    if (ad !== undefined && 'refs' in ad) return { session, refs: ad.refs };
    session.child.stdin.end();
    if (ad !== undefined) {
      const code = await Promise.race([session.exit, new Promise<null>((r) => setTimeout(() => r(null), 2000))]);
      throw this.failed(session, code, ad.err);
    }
    const code = await session.exit;
    throw this.failed(session, code);
  }

  private fail(problem: string): GitTransportError {
    return new GitTransportError(`${transportLabel(this.upstream)}: ${problem}`, { upstream: this.src.upstream, command: this.command });
  }

  /** A clear error for a session that failed (see {@link explainFailure}). */
  private failed(s: Session, exitCode: number | null, errLine?: string): GitTransportError {
    return explainFailure({ upstream: this.upstream, src: this.src, command: this.command }, s, exitCode, errLine);
  }
}

/** A response body of one chunk. */
async function* once(b: Buffer): AsyncGenerator<Uint8Array> {
  yield b;
}

/**
 * The `http` plugin for one fetch of `source`: a {@link PipeTransport} for SSH and local upstreams,
 * undefined for http(s) ones (isomorphic-git's own `http/node` serves them).
 * @throws UpstreamError for an unparseable upstream, or a `tokenFile` with an SSH or local upstream.
 */
export function openPipe(source: PipeSource & { readonly tokenFile?: string | undefined }): PipeTransport | undefined {
  // as the store's name: a bootstrap -U URL (not from the config) may carry https credentials
  const u = parseUpstream(source.upstream, { httpCredentials: true });
  if (u.kind === 'http') return undefined;
  if (source.tokenFile !== undefined) throw new UpstreamError('token_file applies to https upstreams only (SSH upstreams use ssh_key)', { upstream: source.upstream });
  return new PipeTransport(source);
}
