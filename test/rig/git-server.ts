/**
 * Test rig: a git smart-HTTP server on 127.0.0.1 (port 0) that runs git's own CGI,
 * `git-http-backend`, once per request. Serves clone, fetch and push for the git CLI and
 * isomorphic-git; records every request; can demand Basic auth and can be switched "down" (503).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import http from 'node:http';
import type { AddressInfo } from 'node:net';

/** Path of git's smart-HTTP CGI program on Debian. */
export const GIT_HTTP_BACKEND = '/usr/lib/git-core/git-http-backend';

/** One request the server saw (including the ones answered 401 or 503). */
export interface GitRequest {
  /** HTTP method, e.g. `GET`, `POST`. */
  method: string;
  /** URL path, e.g. `/upstream.git/info/refs`. */
  path: string;
  /** Raw query string without `?`, e.g. `service=git-upload-pack` (empty when none). */
  query: string;
  /** `git-upload-pack` (clone/fetch) or `git-receive-pack` (push), from the query or the path. */
  service?: string;
  /** `Date.now()` when the request arrived. */
  at: number;
  /** HTTP status the server answered with (set once the response head is sent). */
  status?: number;
  /** The authenticated user, when Basic auth succeeded. */
  user?: string;
  /** The request's `Content-Encoding` header (git sends `gzip` for larger fetch negotiations). */
  contentEncoding?: string;
  /** The request's `Content-Length`; absent for chunked bodies (git streams large pushes) and bodiless requests. */
  contentLength?: number;
}

/** Selects requests for {@link GitServer.countSince}: a predicate or fields that must all match. */
export type GitRequestFilter =
  | ((r: GitRequest) => boolean)
  | Partial<Pick<GitRequest, 'method' | 'service' | 'status' | 'user'>> & { pathEndsWith?: string };

/** Options of {@link startGitServer}. */
export interface GitServerOptions {
  /** Directory holding the bare repositories (`GIT_PROJECT_ROOT`); `url('x.git')` serves `<root>/x.git`. */
  root: string;
  /** When given, every request needs these Basic credentials (401 with `WWW-Authenticate` otherwise). */
  auth?: { user: string; password: string };
}

/** A running smart-HTTP server; see {@link startGitServer}. */
export interface GitServer {
  /** `http://127.0.0.1:PORT/<repoName>` for a repository below `root`. */
  url(repoName: string): string;
  /** Every request seen, in arrival order. */
  readonly requests: GitRequest[];
  /** Current length of {@link requests}: pass it to {@link countSince} later. */
  mark(): number;
  /** Number of requests after index `mark` (from {@link mark}) that match `filter` (all when omitted). */
  countSince(mark: number, filter?: GitRequestFilter): number;
  /** Answer 503 to everything until {@link up}. */
  down(): void;
  /** Serve normally again after {@link down}. */
  up(): void;
  /** Stops listening, drops open connections and kills running backends. */
  close(): Promise<void>;
}

/** Tests a request against a {@link GitRequestFilter}. */
export function matchRequest(r: GitRequest, filter?: GitRequestFilter): boolean {
  if (!filter) return true;
  if (typeof filter === 'function') return filter(r);
  const { pathEndsWith, ...fields } = filter;
  if (pathEndsWith !== undefined && !r.path.endsWith(pathEndsWith)) return false;
  return Object.entries(fields).every(([k, v]) => v === undefined || r[k as keyof GitRequest] === v);
}

/** Finds the end of the CGI header block: returns [headerEnd, bodyStart] or null. */
function headerEnd(buf: Buffer): [number, number] | null {
  const crlf = buf.indexOf('\r\n\r\n');
  const lf = buf.indexOf('\n\n');
  if (crlf >= 0 && (lf < 0 || crlf < lf)) return [crlf, crlf + 4];
  if (lf >= 0) return [lf, lf + 2];
  return null;
}

/** Parses CGI headers; `Status:` becomes the HTTP status. */
function parseCgiHeaders(text: string): { status: number; headers: Record<string, string> } {
  let status = 200;
  const headers: Record<string, string> = {};
  for (const line of text.split(/\r?\n/)) {
    const i = line.indexOf(':');
    if (i <= 0) continue;
    const name = line.slice(0, i).trim();
    const value = line.slice(i + 1).trim();
    if (name.toLowerCase() === 'status') status = parseInt(value, 10) || 500;
    else headers[name] = value;
  }
  return { status, headers };
}

/**
 * Starts the server. `opts.root` holds bare repositories (make them with `makeBare` or
 * `makeConfigRepo` from `./config-repo.js`, which set `http.receivepack`). Request bodies go to the
 * backend unchanged; a gzip `Content-Encoding` is passed as `HTTP_CONTENT_ENCODING`, which
 * git-http-backend inflates itself, and chunked bodies (no `Content-Length`) are read to EOF.
 */
export async function startGitServer(opts: GitServerOptions): Promise<GitServer> {
  const requests: GitRequest[] = [];
  const children = new Set<ChildProcess>();
  let isDown = false;
  const expectedAuth = opts.auth
    ? 'Basic ' + Buffer.from(`${opts.auth.user}:${opts.auth.password}`).toString('base64')
    : undefined;

  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    const query = url.search.startsWith('?') ? url.search.slice(1) : '';
    const service =
      url.searchParams.get('service') ?? url.pathname.match(/\/(git-upload-pack|git-receive-pack)$/)?.[1] ?? undefined;
    const enc = req.headers['content-encoding'];
    const rec: GitRequest = {
      method: req.method ?? 'GET',
      path: url.pathname,
      query,
      ...(service ? { service } : {}),
      at: Date.now(),
      ...(enc ? { contentEncoding: enc } : {}),
      ...(req.headers['content-length'] ? { contentLength: Number(req.headers['content-length']) } : {}),
    };
    requests.push(rec);
    const answer = (status: number, headers: Record<string, string>, body: string) => {
      rec.status = status;
      req.resume(); // drain the request body we will not read
      res.writeHead(status, { 'Content-Type': 'text/plain', ...headers });
      res.end(body);
    };

    if (isDown) return answer(503, { 'Retry-After': '1' }, 'rig: server is down\n');
    if (expectedAuth) {
      if (req.headers.authorization !== expectedAuth) {
        return answer(401, { 'WWW-Authenticate': 'Basic realm="gitopper-rig"' }, 'rig: authentication required\n');
      }
      rec.user = opts.auth!.user;
    }

    const env: Record<string, string> = {
      PATH: process.env.PATH ?? '/usr/bin:/bin',
      GIT_PROJECT_ROOT: opts.root,
      GIT_HTTP_EXPORT_ALL: '1',
      GIT_CONFIG_NOSYSTEM: '1',
      GIT_CONFIG_GLOBAL: '/dev/null',
      REQUEST_METHOD: rec.method,
      PATH_INFO: decodeURIComponent(url.pathname),
      QUERY_STRING: query,
      REMOTE_ADDR: req.socket.remoteAddress ?? '127.0.0.1',
    };
    if (req.headers['content-type']) env.CONTENT_TYPE = req.headers['content-type'];
    if (req.headers['content-length']) env.CONTENT_LENGTH = req.headers['content-length'];
    if (enc) env.HTTP_CONTENT_ENCODING = enc;
    const proto = req.headers['git-protocol'];
    if (typeof proto === 'string') env.GIT_PROTOCOL = proto;
    if (rec.user) env.REMOTE_USER = rec.user;

    const child = spawn(GIT_HTTP_BACKEND, [], { env, stdio: ['pipe', 'pipe', 'pipe'] });
    children.add(child);
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.stdin.on('error', () => {}); // the backend may exit before reading the whole body
    child.on('error', (err) => {
      stderr += String(err);
    });
    req.pipe(child.stdin);
    res.on('close', () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    });

    let head = Buffer.alloc(0);
    let headSent = false;
    const onData = (chunk: Buffer) => {
      head = Buffer.concat([head, chunk]);
      const end = headerEnd(head);
      if (!end) return;
      child.stdout.off('data', onData);
      const { status, headers } = parseCgiHeaders(head.subarray(0, end[0]).toString('latin1'));
      rec.status = status;
      headSent = true;
      res.writeHead(status, headers);
      res.write(head.subarray(end[1]));
      child.stdout.pipe(res);
    };
    child.stdout.on('data', onData);
    child.on('close', (code) => {
      children.delete(child);
      if (!headSent && !res.headersSent) {
        answer(502, {}, `rig: git-http-backend exited ${code} without headers: ${stderr}\n`);
      }
    });
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const port = (server.address() as AddressInfo).port;

  return {
    url: (repoName: string) => `http://127.0.0.1:${port}/${repoName.replace(/^\/+/, '')}`,
    requests,
    mark: () => requests.length,
    countSince: (mark: number, filter?: GitRequestFilter) =>
      requests.slice(mark).filter((r) => matchRequest(r, filter)).length,
    down: () => {
      isDown = true;
    },
    up: () => {
      isDown = false;
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const c of children) c.kill('SIGKILL');
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
