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
 * Nothing goes through a shell; the one string the remote side parses (the command) quotes the path
 * the way git does. Each spawn and request is published on the diagnostics channel
 * {@link TRANSPORT_CHANNEL} (tests count them).
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { createHash } from 'node:crypto';
import { channel } from 'node:diagnostics_channel';
import { access, constants } from 'node:fs/promises';
import path from 'node:path';

/** An https:// or http:// upstream (isomorphic-git's own transport). */
export interface HttpUpstream {
  readonly kind: 'http';
  readonly url: string;
}

/** An SSH upstream: `ssh://[user@]host[:port]/path` or scp-like `[user@]host:path`. */
export interface SshUpstream {
  readonly kind: 'ssh';
  readonly user: string | undefined;
  /** Host name or IP address (IPv6 without brackets). */
  readonly host: string;
  readonly port: number | undefined;
  /** Repository path on the server as git passes it: `/abs/repo.git`, `rel/repo.git` (home-relative) or `~user/repo.git`. */
  readonly path: string;
}

/** A repository on this host: an absolute path or `file:///abs/path`. */
export interface LocalUpstream {
  readonly kind: 'local';
  /** Absolute, normalised, without trailing slash. */
  readonly path: string;
}

/** What an `upstream` string names. */
export type Upstream = HttpUpstream | SshUpstream | LocalUpstream;

/** An upstream string that cannot be fetched from (config validation refuses these earlier). */
export class UpstreamError extends Error {
  readonly code = 'UPSTREAM';
  constructor(problem: string, readonly data: { readonly upstream: string }) {
    super(`upstream "${redact(data.upstream)}": ${problem}`);
  }
}

/** A failed SSH or local fetch: ssh's or git's own reason, and the command that failed. */
export class GitTransportError extends Error {
  readonly code = 'GIT_TRANSPORT';
  constructor(
    message: string,
    readonly data: {
      readonly upstream: string;
      /** argv of the process (no secrets: key and known_hosts are file names). */
      readonly command: readonly string[];
      readonly exitCode?: number | null;
      /** The process's stderr, trimmed to its last 2 KiB. */
      readonly stderr?: string;
    },
  ) {
    super(message);
  }
}

/** Name of the `node:diagnostics_channel` on which {@link TransportEvent}s are published. */
export const TRANSPORT_CHANNEL = 'gitopper:git-transport';

/** Published on {@link TRANSPORT_CHANNEL}: a process started, or isomorphic-git made a request. */
export type TransportEvent =
  | { readonly event: 'spawn'; readonly upstream: string; readonly command: readonly string[] }
  | { readonly event: 'request'; readonly upstream: string; readonly method: string; readonly service: 'info/refs' | 'git-upload-pack' };

const events = channel(TRANSPORT_CHANNEL);

const SCHEME = /^([a-z][a-z0-9+.-]*):\/\//i;
const HOST = /^(?:[A-Za-z0-9_](?:[A-Za-z0-9._-]*[A-Za-z0-9_])?|\[[0-9A-Fa-f:.]+(?:%[A-Za-z0-9]+)?\])$/;
const USER = /^[A-Za-z0-9_][A-Za-z0-9._+-]*$/;
// eslint-disable-next-line no-control-regex
const CONTROL = /[\x00-\x1f\x7f]/;

/**
 * Classify and take apart an `upstream` string the way git does: a `scheme://` URL; else an absolute
 * path (local); else `[user@]host:path` when a colon comes before any slash (scp-like SSH).
 * @throws UpstreamError for git://, relative paths, `file://otherhost/…`, passwords in SSH URLs, hosts
 *   or users starting with `-` (they would be read as ssh options), control characters, empty paths.
 */
export function parseUpstream(value: string): Upstream {
  const fail = (problem: string): never => {
    throw new UpstreamError(problem, { upstream: value });
  };
  if (CONTROL.test(value)) fail('contains a control character');
  const scheme = SCHEME.exec(value)?.[1]?.toLowerCase();
  if (scheme !== undefined) {
    let url: URL;
    try {
      url = new URL(value);
    } catch {
      return fail('is not a valid URL');
    }
    switch (scheme) {
      case 'http':
      case 'https':
        return { kind: 'http', url: value };
      case 'ssh':
      case 'git+ssh':
      case 'ssh+git': {
        if (url.password !== '') fail('has a password in the URL (SSH upstreams authenticate with ssh_key)');
        const port = url.port === '' ? undefined : Number(url.port);
        let p = decode(url.pathname, fail);
        if (p.startsWith('/~')) p = p.slice(1); // ssh://host/~user/repo → ~user/repo, as git does
        return ssh(url.username === '' ? undefined : decode(url.username, fail), url.hostname, port, p, fail);
      }
      case 'file': {
        if (url.hostname !== '' && url.hostname !== 'localhost') fail(`names host "${url.hostname}"; a file:// upstream must be on this host (file:///path)`);
        return local(decode(url.pathname, fail), fail);
      }
      default:
        return fail(`scheme ${scheme}:// is not supported (use https://, ssh://, user@host:path or a local path)`);
    }
  }
  if (value.startsWith('/')) return local(value, fail);
  const scp = /^(?:([^@/]*)@)?(\[[^\]/]*\]|[^:/[\]]*):(.*)$/s.exec(value);
  if (scp) return ssh(scp[1], scp[2]!, undefined, scp[3]!, fail);
  return fail('is a relative path; write a local repository as an absolute path or file:///path');
}

function decode(s: string, fail: (p: string) => never): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return fail('has an invalid %-escape');
  }
}

function ssh(user: string | undefined, host: string, port: number | undefined, p: string, fail: (p: string) => never): SshUpstream {
  if (user !== undefined && !USER.test(user)) fail(`has SSH user "${user}": use letters, digits and . _ + - (not starting with -)`);
  if (!HOST.test(host)) fail(`has SSH host "${host}": expected a host name or an IP address (not starting with -)`);
  if (port !== undefined && !(Number.isInteger(port) && port >= 1 && port <= 65535)) fail(`has port ${port}`);
  if (p === '' || p === '/' || p === '~') fail('has no repository path');
  if (CONTROL.test(p)) fail('has a control character in its path');
  return { kind: 'ssh', user, host: host.replace(/^\[|\]$/g, ''), port, path: p };
}

function local(p: string, fail: (p: string) => never): LocalUpstream {
  if (!p.startsWith('/')) fail('is a relative path; write it absolute');
  if (CONTROL.test(p)) fail('has a control character in its path');
  const n = path.posix.normalize(p);
  const norm = n.length > 1 && n.endsWith('/') ? n.slice(0, -1) : n;
  if (norm === '/') fail('names the root directory');
  return { kind: 'local', path: norm };
}

/**
 * One string per distinct repository: http(s) upstreams as written (so existing object stores keep
 * their names); `ssh://user@host:port` + `:` + path for SSH (scp-like and ssh:// forms of the same
 * repository agree); `file://` + normalised path for local ones (`/srv/r.git/` = `file:///srv/r.git`).
 */
export function normalizeUpstream(u: Upstream): string {
  switch (u.kind) {
    case 'http':
      return u.url;
    case 'ssh':
      return `ssh://${u.user === undefined ? '' : `${u.user}@`}${u.host.includes(':') ? `[${u.host}]` : u.host}:${u.port ?? 22}:${u.path}`;
    case 'local':
      return `file://${u.path}`;
  }
}

/**
 * Directory name of the shared object store of `upstream`: `<slug>-<sha256[0:12]>.git`, the slug readable
 * (`github.com_miekg_gitopper-config`, `git.example.org_22_ops_config`, `local_srv_git_config`), the hash
 * over {@link normalizeUpstream} (for http(s): over the string as written, unchanged from earlier releases).
 * @throws UpstreamError when `upstream` cannot be parsed.
 */
export function storeName(upstream: string): string {
  const u = parseUpstream(upstream);
  let readable: string;
  if (u.kind === 'http') {
    const url = new URL(u.url);
    readable = `${url.host}${url.pathname}`;
  } else if (u.kind === 'ssh') {
    readable = `${u.host}${u.port === undefined || u.port === 22 ? '' : `_${u.port}`}/${u.path}`;
  } else {
    readable = `local${u.path}`;
  }
  const slug = readable.replace(/\.git\/?$/, '').replace(/[^A-Za-z0-9._-]+/g, '_').replace(/^[_.]+|_+$/g, '').slice(0, 80);
  const hash = createHash('sha256').update(normalizeUpstream(u)).digest('hex').slice(0, 12);
  return `${slug}-${hash}.git`;
}

/**
 * `s` quoted for a POSIX shell or git-shell the way git's `sq_quote_buf` does: in single quotes, with
 * `'` written `'\''` and `!` written `'\!'` (git-shell's `sq_dequote` accepts exactly that).
 */
export function sqQuote(s: string): string {
  return `'${s.replace(/'/g, "'\\''").replace(/!/g, "'\\!'")}'`;
}

/**
 * Characters ssh would misread in a key or known_hosts path given with `-i`/`-o` (whitespace splits
 * `UserKnownHostsFile`, `%` starts a token, quotes and backslashes are parsed) and control characters.
 */
export const UNSAFE_SSH_PATH = /[\s"'\\%\x00-\x1f\x7f]/;

/** Where and how a {@link PipeTransport} fetches. */
export interface PipeSource {
  /** The upstream string (SSH or local). */
  readonly upstream: string;
  /** Private key for SSH (`-i`, with `IdentitiesOnly=yes`); undefined = ssh's default identities. */
  readonly sshKey?: string | undefined;
  /** The only known_hosts file trusted for SSH; undefined = the system's default files. */
  readonly knownHosts?: string | undefined;
}

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

/** The argv to run for `u`'s upload-pack, ssh options included; never passed through a local shell. */
export function uploadPackCommand(u: SshUpstream | LocalUpstream, src: PipeSource): string[] {
  if (u.kind === 'local') return ['git', 'upload-pack', '--', u.path];
  for (const [key, file] of [['ssh_key', src.sshKey], ['known_hosts', src.knownHosts]] as const) {
    if (file !== undefined && (!path.isAbsolute(file) || UNSAFE_SSH_PATH.test(file))) {
      throw new UpstreamError(`${key} "${file}" must be an absolute path without whitespace, quotes, backslashes or %`, { upstream: src.upstream });
    }
  }
  const args = [
    'ssh',
    '-T', '-x', '-a', // no tty, no X11 or agent forwarding
    '-o', 'BatchMode=yes', // never prompt: no password, no passphrase, no host key question
    '-o', 'StrictHostKeyChecking=yes', // ALWAYS: an unknown or changed host key fails the fetch
    '-o', 'UpdateHostKeys=no', // the known_hosts files are never written
    '-o', 'IdentitiesOnly=yes',
    '-o', 'ConnectTimeout=30',
    '-o', 'ServerAliveInterval=15',
    '-o', 'ServerAliveCountMax=4',
    '-o', 'ClearAllForwardings=yes',
  ];
  if (src.knownHosts !== undefined) args.push('-o', `UserKnownHostsFile=${src.knownHosts}`, '-o', 'GlobalKnownHostsFile=/dev/null');
  if (src.sshKey !== undefined) args.push('-i', src.sshKey);
  if (u.port !== undefined) args.push('-p', String(u.port));
  if (u.user !== undefined) args.push('-l', u.user);
  args.push('--', u.host, `git-upload-pack ${sqQuote(u.path)}`);
  return args;
}

/** `upstream` with any `user:password@` replaced, for messages. */
function redact(upstream: string): string {
  return upstream.replace(/^([a-z][a-z0-9+.-]*:\/\/)[^/@]*@/i, '$1***@');
}

/** Where the SSH side is, for messages: `git@host:2222`. */
function where(u: SshUpstream | LocalUpstream): string {
  if (u.kind === 'local') return u.path;
  return `${u.user === undefined ? '' : `${u.user}@`}${u.host}${u.port === undefined ? '' : `:${u.port}`}`;
}

const FLUSH = Buffer.from('0000');
const SERVICE_LINE = Buffer.from('001e# service=git-upload-pack\n');
const STDERR_KEEP = 2048;

/** One running upload-pack (ssh or git) with a pkt-line reader over its stdout. */
class Session {
  private buf: Buffer = Buffer.alloc(0);
  private ended = false;
  private stderrText = '';
  private readonly chunks: AsyncIterator<Buffer>;
  readonly exit: Promise<number | null>;
  private spawnError: Error | undefined;

  constructor(readonly child: ChildProcessWithoutNullStreams) {
    this.chunks = child.stdout[Symbol.asyncIterator]();
    child.stderr.setEncoding('utf8').on('data', (s: string) => {
      this.stderrText = (this.stderrText + s).slice(-STDERR_KEEP);
    });
    child.stdin.on('error', () => {}); // EPIPE when the process died first: its exit code and stderr say why
    this.exit = new Promise((resolve) => {
      child.on('error', (err) => {
        this.spawnError = err;
        resolve(null);
      });
      child.on('close', (code) => resolve(code));
    });
  }

  get stderr(): string {
    return this.stderrText.trim();
  }

  get error(): Error | undefined {
    return this.spawnError;
  }

  /** At least `n` bytes buffered, or false at end of output. */
  private async fill(n: number): Promise<boolean> {
    while (this.buf.length < n) {
      if (this.ended) return false;
      const r = await this.chunks.next().catch(() => ({ done: true as const, value: undefined }));
      if (r.done) {
        this.ended = true;
        return false;
      }
      this.buf = this.buf.length === 0 ? r.value : Buffer.concat([this.buf, r.value]);
    }
    return true;
  }

  /**
   * The ref advertisement: every pkt-line up to and including the first flush-pkt, as raw bytes (`refs`).
   * Returns `{ err }` for an `ERR` pkt-line, undefined when the output ended (or broke) before the flush.
   */
  async advertisement(): Promise<{ refs: Buffer } | { err: string } | undefined> {
    let at = 0;
    for (;;) {
      if (!(await this.fill(at + 4))) return undefined;
      const hex = this.buf.subarray(at, at + 4).toString('latin1');
      if (!/^[0-9a-f]{4}$/i.test(hex)) return undefined;
      const len = parseInt(hex, 16);
      if (len === 0) {
        const out = this.buf.subarray(0, at + 4);
        this.buf = this.buf.subarray(at + 4);
        return { refs: Buffer.from(out) };
      }
      if (len < 4) return undefined;
      if (!(await this.fill(at + len))) return undefined;
      const payload = this.buf.subarray(at + 4, at + len).toString('utf8');
      if (payload.startsWith('ERR ')) return { err: payload.slice(4).trim() };
      at += len;
    }
  }

  /** The rest of stdout (after the advertisement), then throws `onFail()` if the process failed. */
  async *rest(onFail: () => Promise<Error | undefined>): AsyncGenerator<Uint8Array> {
    if (this.buf.length > 0) {
      const b = this.buf;
      this.buf = Buffer.alloc(0);
      yield b;
    }
    while (!this.ended) {
      const r = await this.chunks.next();
      if (r.done) break;
      yield r.value;
    }
    this.ended = true;
    const err = await onFail();
    if (err) throw err;
  }

  /**
   * Stop reading (a process still writing gets EPIPE), close stdin, and wait for the exit; SIGKILL after
   * 2 s. Never throws.
   */
  async stop(): Promise<void> {
    await this.chunks.return?.().catch(() => undefined);
    if (!this.child.stdin.destroyed) this.child.stdin.end();
    if (this.child.exitCode !== null || this.child.signalCode !== null || this.spawnError) return;
    const t = setTimeout(() => this.child.kill('SIGKILL'), 2000);
    await this.exit;
    clearTimeout(t);
  }

  /** Write `body` to stdin (respecting back-pressure), then close stdin. */
  async send(body: AsyncIterable<Uint8Array> | Iterable<Uint8Array> | undefined): Promise<void> {
    const stdin = this.child.stdin;
    if (body !== undefined) {
      for await (const chunk of body) {
        if (stdin.destroyed || this.child.exitCode !== null) break;
        if (!stdin.write(chunk)) await new Promise<void>((resolve) => { stdin.once('drain', resolve); stdin.once('close', resolve); });
      }
    }
    stdin.end();
  }
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
    const u = parseUpstream(src.upstream);
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
    const headers = (type: string) => ({ 'content-type': `application/x-git-upload-pack-${type}`, 'cache-control': 'no-cache' });
    if (service === 'info/refs') {
      await this.end(); // a second discovery starts afresh
      const { session, refs } = await this.open();
      this.session = session;
      return { url: req.url, method, statusCode: 200, statusMessage: 'OK', headers: headers('advertisement'), body: once(Buffer.concat([SERVICE_LINE, FLUSH, refs])) };
    }
    // POST: continue the session the advertisement started (or start one and skip its advertisement)
    const session = this.session ?? (await this.open()).session;
    this.session = undefined;
    await session.send(req.body);
    const body = session.rest(async () => {
      const code = await session.exit;
      return code === 0 ? undefined : this.failed(session, code);
    });
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

  private async end(): Promise<void> {
    const s = this.session;
    this.session = undefined;
    if (!s || s.child.stdin.destroyed) return;
    s.child.stdin.end(FLUSH);
  }

  private async open(): Promise<{ session: Session; refs: Buffer }> {
    const u = this.upstream;
    if (u.kind === 'ssh') {
      for (const [key, file] of [['ssh_key', this.src.sshKey], ['known_hosts', this.src.knownHosts]] as const) {
        if (file === undefined) continue;
        await access(file, constants.R_OK).catch((err: NodeJS.ErrnoException) => {
          throw this.fail(`${key} ${file} cannot be read (${err.code ?? err.message})`);
        });
      }
    } else {
      await access(u.path).catch((err: NodeJS.ErrnoException) => {
        throw this.fail(`${u.path} cannot be read (${err.code ?? err.message})`);
      });
    }
    this.command = uploadPackCommand(u, this.src);
    const [cmd, ...args] = this.command;
    const child = spawn(cmd!, args, { stdio: ['pipe', 'pipe', 'pipe'], env: childEnv(), ...(u.kind === 'local' ? { cwd: '/' } : {}) });
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
    return new GitTransportError(`${this.label()}: ${problem}`, { upstream: this.src.upstream, command: this.command });
  }

  private label(): string {
    return this.upstream.kind === 'ssh' ? `ssh ${where(this.upstream)}` : `local repository ${this.upstream.path}`;
  }

  /** A clear error for a session that failed: ssh's and git's reasons turned into what to do. */
  private failed(s: Session, exitCode: number | null, errLine?: string): GitTransportError {
    const stderr = s.stderr;
    const data = { upstream: this.src.upstream, command: this.command, exitCode, stderr };
    const u = this.upstream;
    const tail = lastLines(stderr);
    let problem: string;
    if (s.error) {
      const code = (s.error as NodeJS.ErrnoException).code;
      problem = code === 'ENOENT' ? `cannot run ${this.command[0]}: not installed (${u.kind === 'ssh' ? 'package openssh-client' : 'package git'})` : `cannot run ${this.command[0]}: ${s.error.message}`;
    } else if (errLine !== undefined) {
      problem = `the server refused: ${errLine}`;
    } else if (u.kind === 'ssh' && /REMOTE HOST IDENTIFICATION HAS CHANGED/.test(stderr)) {
      problem = `the host key of ${u.host} CHANGED and does not match ${this.knownHostsWhere()}: refusing to connect (verify the new key out of band before replacing it)`;
    } else if (u.kind === 'ssh' && /Host key verification failed|No \S+ host key is known/.test(stderr)) {
      problem = `host key verification failed: the host key of ${u.host}${u.port === undefined ? '' : ` port ${u.port}`} is not in ${this.knownHostsWhere()} (strict host key checking is always on; add the verified key, e.g. from ssh-keyscan${u.port === undefined ? '' : ` -p ${u.port}`} ${u.host} after checking its fingerprint)`;
    } else if (u.kind === 'ssh' && /UNPROTECTED PRIVATE KEY FILE|bad permissions/.test(stderr)) {
      problem = `ssh refuses ssh_key ${this.src.sshKey ?? ''}: it is readable by others (chmod 600 it)`;
    } else if (u.kind === 'ssh' && /Permission denied \(/.test(stderr)) {
      problem = `the server refused the key (${tail}): ${this.src.sshKey === undefined ? 'set ssh_key to the deploy key whose public half the server accepts' : `is the public half of ssh_key ${this.src.sshKey} authorised on the server for this user?`}`;
    } else if (u.kind === 'ssh' && /Load key .*: (invalid format|incorrect passphrase|error in libcrypto)/.test(stderr)) {
      problem = `ssh cannot use ssh_key ${this.src.sshKey ?? ''} (${tail}): it must be an unencrypted OpenSSH private key`;
    } else if (/does not appear to be a git repository|not a git repository|No such file or directory/.test(stderr)) {
      problem = `no git repository at ${u.path} (${tail})`;
    } else if (/dubious ownership/.test(stderr)) {
      const who = u.kind === 'ssh' ? 'the user the SSH server runs git as' : 'the agent\'s user';
      problem = `git refuses ${u.path} because another user owns it ("dubious ownership"): fix its owner, or mark it safe for ${who} with git config --global --add safe.directory ${u.path}`;
    } else {
      problem = tail === '' ? `${this.command[0]} exited with ${exitCode ?? 'a signal'} and said nothing` : `${tail} (${this.command[0]} exit ${exitCode ?? 'signal'})`;
    }
    return new GitTransportError(`${this.label()}: ${problem}`, data);
  }

  private knownHostsWhere(): string {
    return this.src.knownHosts === undefined ? "the system's known_hosts files (~/.ssh/known_hosts, /etc/ssh/ssh_known_hosts)" : `known_hosts ${this.src.knownHosts}`;
  }
}

/** The last non-empty stderr lines (at most 3, 400 characters), on one line, without ssh's banner noise. */
function lastLines(stderr: string): string {
  const lines = stderr.split('\n').map((l) => l.trim()).filter((l) => l !== '' && !/^@+$/.test(l) && !/^Warning: Permanently added/.test(l));
  return lines.slice(-3).join(' | ').slice(-400);
}

/** The agent's environment without GIT_* variables (a stray GIT_DIR would redirect upload-pack), and C messages. */
function childEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('GIT_')) env[k] = v;
  env.LC_ALL = 'C';
  return env;
}

async function* once(b: Buffer): AsyncGenerator<Uint8Array> {
  yield b;
}

/**
 * The `http` plugin for one fetch of `source`: a {@link PipeTransport} for SSH and local upstreams,
 * undefined for http(s) ones (isomorphic-git's own `http/node` serves them).
 * @throws UpstreamError for an unparseable upstream, or a `tokenFile` with an SSH or local upstream.
 */
export function openPipe(source: PipeSource & { readonly tokenFile?: string | undefined }): PipeTransport | undefined {
  const u = parseUpstream(source.upstream);
  if (u.kind === 'http') return undefined;
  if (source.tokenFile !== undefined) throw new UpstreamError('token_file applies to https upstreams only (SSH upstreams use ssh_key)', { upstream: source.upstream });
  return new PipeTransport(source);
}
