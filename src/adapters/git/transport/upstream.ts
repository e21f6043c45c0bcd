/**
 * What an `upstream` string names, the way git tells them apart: http(s), SSH or a local repository
 * ({@link parseUpstream}); one normalised form per repository and the name of its shared object store.
 */
import { createHash } from 'node:crypto';
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

/** `upstream` with any `user:password@` replaced, for messages. */
function redact(upstream: string): string {
  return upstream.replace(/^([a-z][a-z0-9+.-]*:\/\/)[^/@]*@/i, '$1***@');
}
