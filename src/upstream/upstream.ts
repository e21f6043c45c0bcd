/**
 * The one model of an `upstream` string: what it names (http(s), SSH or a repository on this host),
 * the rules it must follow, its normalised form, the name of its shared object store, how it is shown
 * without credentials, and how a forge's webhook names it. Config validation, the git adapter and its
 * transports, and the webhook route all use this file, so they cannot disagree.
 *
 * The forms are git's (git-clone(1), section "GIT URLS"): `scheme://` URLs, an absolute path, or the
 * scp-like `[user@]host:path`, "only recognized if there are no slashes before the first colon".
 * The refusals are ours (docs/upstreams.md). Pure: no I/O (node:crypto for the store name's hash).
 */
import { createHash } from 'node:crypto';
import path from 'node:path';
import { GitopperError } from '../errors/gitopper-error.js';

/** An https:// or http:// upstream (isomorphic-git's own transport). `url` is the string as written. */
export interface HttpUpstream {
  readonly kind: 'http';
  readonly url: string;
}

/** An SSH upstream: `ssh://[user@]host[:port]/path` (also `git+ssh://`, `ssh+git://`) or scp-like `[user@]host:path`. */
export interface SshUpstream {
  readonly kind: 'ssh';
  readonly user: string | undefined;
  /** Host name or IP address (IPv6 without brackets). */
  readonly host: string;
  readonly port: number | undefined;
  /** Repository path on the server as git passes it: `/abs/repo.git`, `rel/repo.git` (home-relative) or `~user/repo.git`. */
  readonly path: string;
}

/** A repository on this host: an absolute path or `file:///abs/path` (`file://localhost/…`). */
export interface LocalUpstream {
  readonly kind: 'local';
  /** Absolute, normalised (path.posix.normalize), without trailing slash, never `/`. */
  readonly path: string;
}

/** What an `upstream` string names, by kind. */
export type Upstream = HttpUpstream | SshUpstream | LocalUpstream;

/** How an upstream is fetched: isomorphic-git over http(s), `ssh … git-upload-pack`, or local `git upload-pack`. */
export type UpstreamKind = Upstream['kind'];

/**
 * Which rule an upstream string breaks ({@link UpstreamError.fault}); callers word it for their audience
 * (config validation says how to fix the file). Fields echo parts of the string; `user` never holds a password.
 */
export type UpstreamFault =
  | { readonly reason: 'control-character' }
  | { readonly reason: 'invalid-url' }
  /** A scheme other than http(s), ssh (git+ssh, ssh+git) and file; `git://` is one (unauthenticated). Lower-case. */
  | { readonly reason: 'unsupported-scheme'; readonly scheme: string }
  /** `user[:password]@` in an http(s) URL (a token belongs in token_file). */
  | { readonly reason: 'credentials' }
  | { readonly reason: 'ssh-password' }
  | { readonly reason: 'file-host'; readonly host: string }
  | { readonly reason: 'relative-path' }
  | { readonly reason: 'root' }
  | { readonly reason: 'invalid-escape' }
  | { readonly reason: 'ssh-user'; readonly user: string }
  | { readonly reason: 'ssh-host'; readonly host: string }
  | { readonly reason: 'port'; readonly port: string }
  | { readonly reason: 'no-path' }
  | { readonly reason: 'path-control-character' };

/**
 * An upstream that cannot be fetched from. `code` is always `UPSTREAM`; the message is
 * `upstream "<redacted upstream>": <problem>`. `fault` says which rule of {@link parseUpstream} was broken;
 * it is undefined when an adapter refuses a parsed upstream for its own reasons (e.g. a key path).
 */
export class UpstreamError extends GitopperError<{ readonly upstream: string }> {
  readonly code = 'UPSTREAM';
  constructor(problem: string, override readonly data: { readonly upstream: string }, readonly fault?: UpstreamFault) {
    super(`upstream "${redactUpstream(data.upstream)}": ${problem}`);
  }
}

const SCHEME = /^([a-z][a-z0-9+.-]*):\/\//i;
const KIND_OF_SCHEME: ReadonlyMap<string, UpstreamKind> = new Map([['http', 'http'], ['https', 'http'], ['ssh', 'ssh'], ['git+ssh', 'ssh'], ['ssh+git', 'ssh'], ['file', 'local']]);
/** git-clone(1): scp-like when a colon comes before any slash; `[…]` brackets an IPv6 host. */
const SCP_LIKE = /^(?:([^@/]*)@)?(\[[^\]/]*\]|[^:/[\]]*):(.*)$/s;
const SSH_HOST = /^(?:[A-Za-z0-9_](?:[A-Za-z0-9._-]*[A-Za-z0-9_])?|\[[0-9A-Fa-f:.]+(?:%[A-Za-z0-9]+)?\])$/;
const SSH_USER = /^[A-Za-z0-9_][A-Za-z0-9._+-]*$/;
// eslint-disable-next-line no-control-regex
const CONTROL = /[\x00-\x1f\x7f]/;

/**
 * The kind an upstream string has by its form alone, without checking the rest (git-clone(1) "GIT URLS"):
 * `http(s)://` → http; `ssh://`, `git+ssh://`, `ssh+git://` and scp-like `[user@]host:path` → ssh;
 * an absolute path or `file://` → local; any other scheme, or a relative path → undefined.
 * {@link parseUpstream} returns this kind whenever it accepts the string.
 */
export function upstreamKind(value: string): UpstreamKind | undefined {
  const scheme = SCHEME.exec(value)?.[1]?.toLowerCase();
  if (scheme !== undefined) return KIND_OF_SCHEME.get(scheme);
  if (value.startsWith('/')) return 'local';
  return SCP_LIKE.test(value) ? 'ssh' : undefined;
}

/** Options of {@link parseUpstream}. */
export interface ParseOptions {
  /**
   * Accept `user[:password]@` in an http(s) URL (isomorphic-git sends them as Basic auth). Config
   * validation refuses them; the git adapter allows them, since a bootstrap `-U` URL never went through
   * config validation and may carry them. Default false.
   */
  readonly httpCredentials?: boolean;
}

/**
 * Take apart an `upstream` string by the form {@link upstreamKind} reads, and check it.
 * Accepted: http(s) URLs (WHATWG-valid) without `user[:password]@` (no `@` before the path); SSH with a
 * user and host ssh cannot mistake for options (no leading `-`), no password, a port 1–65535, a repository
 * path (`ssh://host/~user/r` becomes `~user/r`, as git does; %-escapes decoded); local absolute paths and
 * `file:///path` (or `file://localhost/path`), normalised, not `/`.
 * @throws UpstreamError with a {@link UpstreamFault}: control characters, git:// and other schemes,
 *   relative paths, credentials (unless `options.httpCredentials`), `file://otherhost/…`, bad SSH
 *   user/host/port, no path, invalid %-escapes.
 */
export function parseUpstream(value: string, options: ParseOptions = {}): Upstream {
  const fail = (fault: UpstreamFault): never => {
    throw new UpstreamError(describeFault(fault), { upstream: value }, fault);
  };
  if (CONTROL.test(value)) fail({ reason: 'control-character' });
  const scheme = SCHEME.exec(value)?.[1]?.toLowerCase();
  if (scheme !== undefined) return parseUrl(value, scheme, options, fail);
  if (value.startsWith('/')) return local(value, fail);
  const scp = SCP_LIKE.exec(value);
  if (scp) return ssh(scp[1], scp[2]!, '', scp[3]!, fail);
  return fail({ reason: 'relative-path' });
}

type Fail = (fault: UpstreamFault) => never;

function parseUrl(value: string, scheme: string, options: ParseOptions, fail: Fail): Upstream {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return fail({ reason: 'invalid-url' });
  }
  switch (KIND_OF_SCHEME.get(scheme)) {
    case 'http':
      // `https://tok\@host/` is host `tok` to WHATWG (a `\` ends a special URL's authority), but its writer meant a token
      if (options.httpCredentials !== true && (url.username !== '' || url.password !== '' || authority(value).includes('@'))) fail({ reason: 'credentials' });
      return { kind: 'http', url: value };
    case 'ssh': {
      if (url.password !== '') fail({ reason: 'ssh-password' });
      return ssh(url.username === '' ? undefined : url.username, url.hostname, url.port, url.pathname, fail, true);
    }
    case 'local':
      if (url.hostname !== '' && url.hostname !== 'localhost') fail({ reason: 'file-host', host: url.hostname });
      return local(decode(url.pathname, fail), fail);
    default:
      return fail({ reason: 'unsupported-scheme', scheme });
  }
}

function decode(s: string, fail: Fail): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return fail({ reason: 'invalid-escape' });
  }
}

/** `encoded`: an ssh:// URL's pathname (%-escaped; `/~user/…` means `~user/…`); else an scp-like path as written. */
function ssh(user: string | undefined, host: string, port: string, rawPath: string, fail: Fail, encoded = false): SshUpstream {
  if (user !== undefined && !SSH_USER.test(user)) fail({ reason: 'ssh-user', user: user.replace(/:.*/s, ':***') });
  if (!SSH_HOST.test(host)) fail({ reason: 'ssh-host', host });
  if (port !== '' && !(Number(port) >= 1 && Number(port) <= 65535)) fail({ reason: 'port', port });
  if (rawPath === '' || rawPath === '/' || rawPath === '~' || rawPath === '/~') fail({ reason: 'no-path' });
  let p = encoded ? decode(rawPath, fail) : rawPath;
  if (encoded && p.startsWith('/~')) p = p.slice(1);
  if (p === '' || p === '/' || p === '~') fail({ reason: 'no-path' });
  if (CONTROL.test(p)) fail({ reason: 'path-control-character' });
  return { kind: 'ssh', user, host: host.replace(/^\[|\]$/g, ''), port: port === '' ? undefined : Number(port), path: p };
}

function local(p: string, fail: Fail): LocalUpstream {
  if (CONTROL.test(p)) fail({ reason: 'path-control-character' });
  const n = path.posix.normalize(p);
  const norm = n.length > 1 && n.endsWith('/') ? n.slice(0, -1) : n;
  if (norm === '/') fail({ reason: 'root' });
  return { kind: 'local', path: norm };
}

/** The problem phrase of an {@link UpstreamError} for `fault` (lower case, after `upstream "<redacted>": `). */
function describeFault(fault: UpstreamFault): string {
  switch (fault.reason) {
    case 'control-character':
      return 'contains a control character';
    case 'invalid-url':
      return 'is not a valid URL';
    case 'unsupported-scheme':
      return `scheme ${fault.scheme}:// is not supported (use https://, ssh://, user@host:path or a local path)`;
    case 'credentials':
      return 'has credentials in the URL (https upstreams authenticate with token_file)';
    case 'ssh-password':
      return 'has a password in the URL (SSH upstreams authenticate with ssh_key)';
    case 'file-host':
      return `names host "${fault.host}"; a file:// upstream must be on this host (file:///path)`;
    case 'relative-path':
      return 'is a relative path; write a local repository as an absolute path or file:///path';
    case 'root':
      return 'names the root directory';
    case 'invalid-escape':
      return 'has an invalid %-escape';
    case 'ssh-user':
      return `has SSH user "${fault.user}": use letters, digits and . _ + - (not starting with -)`;
    case 'ssh-host':
      return `has SSH host "${fault.host}": expected a host name or an IP address (not starting with -)`;
    case 'port':
      return `has port ${fault.port}`;
    case 'no-path':
      return 'has no repository path';
    case 'path-control-character':
      return 'has a control character in its path';
  }
}

/**
 * One string per distinct repository: http(s) upstreams as written (so existing object stores keep
 * their names); `ssh://user@host:port` + `:` + path for SSH (scp-like and ssh:// forms of the same
 * repository agree; port 22 when none is given); `file://` + normalised path for local ones
 * (`/srv/r.git/` = `file:///srv/r.git`).
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
 * Directory name of the shared object store of `upstream` (`<state-dir>/upstreams/<name>`):
 * `<slug>-<sha256[0:12]>.git`, the slug readable (`github.com_miekg_gitopper-config`,
 * `git.example.org_2222_ops_config`, `local_srv_git_config`), the hash over {@link normalizeUpstream}
 * (for http(s): over the string as written, credentials and all). Existing stores depend on it: never
 * change the result.
 * @throws UpstreamError when `upstream` cannot be parsed (http(s) credentials are allowed, see {@link ParseOptions}).
 */
export function storeName(upstream: string): string {
  const u = parseUpstream(upstream, { httpCredentials: true });
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
 * `value` (any upstream string, valid or not) safe to print: the userinfo of a `scheme://` URL becomes
 * `***` (`https://***@host/r`), and so does the password of a scp-like `user:password@host:path`
 * (`user:***@host:path`; `host:path` is left alone even when its path holds `@`). The userinfo ends at the last `@` before the first `/`, `?` or `#` (WHATWG URL);
 * a string that is no valid URL is masked up to its last `@`, since its password may hold any character.
 */
export function redactUpstream(value: string): string {
  const scheme = SCHEME.exec(value)?.[0];
  if (scheme === undefined) {
    const scp = SCP_LIKE.exec(value);
    return scp !== null && scp[1] === undefined ? value : value.replace(/^([^@/:]*):[^/]*@/, '$1:***@');
  }
  const rest = value.slice(scheme.length);
  let valid = true;
  try {
    new URL(value);
  } catch {
    valid = false;
  }
  const at = valid ? authority(value).lastIndexOf('@') : rest.lastIndexOf('@');
  return at < 0 ? value : `${scheme}***${rest.slice(at)}`;
}

/** The text after a URL's `scheme://` up to the first `/`, `?` or `#`: its authority (WHATWG), or more when a `\` comes before an `@`. */
function authority(url: string): string {
  return /^[a-z][a-z0-9+.-]*:\/\/([^/?#]*)/i.exec(url)?.[1] ?? '';
}

/**
 * A repository URL as a forge's push webhook names it (`clone_url`, `ssh_url`, `html_url`, …) reduced for
 * matching against configured upstreams: scheme, credentials, default ports (22, 80, 443), trailing `/`
 * and `.git` dropped, host lower-case, scp-like `user@host:path` read as `host/path`. Two strings name the
 * same repository for webhooks when their keys are equal (see {@link sameWebhookRepository}). Looser than
 * {@link normalizeUpstream} on purpose: a push says "this repository", however the host cloned it.
 * Never throws; any string has a key.
 */
export function webhookKey(url: string): string {
  let s = url.trim();
  const scp = /^[^/@:]+@([^/:]+):(.+)$/.exec(s);
  if (scp) s = `${scp[1]}/${scp[2]}`;
  else s = s.replace(/^[a-z+]+:\/\//i, '').replace(/^[^/@]*@/, '');
  const slash = s.indexOf('/');
  const host = (slash < 0 ? s : s.slice(0, slash)).toLowerCase().replace(/:(22|80|443)$/, '');
  const p = slash < 0 ? '' : s.slice(slash);
  return `${host}${p}`.replace(/\/+$/, '').replace(/\.git$/, '');
}

/** True when a webhook naming `pushed` concerns `upstream`: their {@link webhookKey}s are equal. */
export function sameWebhookRepository(pushed: string, upstream: string): boolean {
  return webhookKey(pushed) === webhookKey(upstream);
}
