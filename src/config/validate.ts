/**
 * The individual rules behind `config.ts`: pure functions over one value, no I/O.
 *
 * A rule returns the (normalised) value, or a {@link Problem} saying what is wrong and how to fix it.
 * It never throws: `config.ts` and its sections know the file, entry and key, and turn a Problem into a
 * `ConfigError` (`At.check` in `error.ts`).
 */
import path from 'node:path';
import { parseUpstream, redactUpstream, upstreamKind, UpstreamError, type UpstreamFault } from '../upstream/upstream.js';

/** What a rule found wrong. `problem` is a lower-case phrase without a final period; `fix` says what to do. */
export class Problem {
  constructor(
    readonly problem: string,
    readonly fix: string,
    /** The key as the user wrote it, when the rule is about a key name (unknown key, key set twice). */
    readonly key?: string,
  ) {}
}

/** A TOML table read case-insensitively: canonical key → the value and the spelling the user wrote. */
export type Fields = ReadonlyMap<string, { readonly written: string; readonly value: unknown }>;

/**
 * Read `table`'s keys case-insensitively (gitopper, via BurntSushi/toml, matches `Upstream` to `upstream`).
 * `allowed` are the canonical lower-case names; `hints` give a better fix for keys that belong elsewhere.
 * Problems: a key not in `allowed` (gitopper: unknown keys are an error); the same key written twice in
 * different cases (ours: gitopper silently lets the last one win).
 */
export function foldKeys(
  table: Readonly<Record<string, unknown>>,
  allowed: readonly string[],
  hints: Readonly<Record<string, string>> = {},
): Fields | Problem {
  const fields = new Map<string, { written: string; value: unknown }>();
  for (const [written, value] of Object.entries(table)) {
    const name = written.toLowerCase();
    if (!allowed.includes(name)) {
      // own hints only: `constructor` or `__proto__` must not find Object.prototype's members
      const fix = (Object.hasOwn(hints, name) ? hints[name] : undefined) ?? `remove it or correct its spelling; allowed keys here: ${allowed.join(', ')}`;
      return new Problem('unknown key', fix, written);
    }
    const seen = fields.get(name);
    if (seen !== undefined) {
      return new Problem(`set twice, as "${seen.written}" and "${written}" (keys are case-insensitive)`, 'keep one of them', written);
    }
    fields.set(name, { written, value });
  }
  return fields;
}

/** True for a TOML table (plain or inline); @iarna/toml gives them a null prototype. */
export function isTable(value: unknown): value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value) || value instanceof Date) return false;
  const proto: unknown = Object.getPrototypeOf(value);
  return proto === null || proto === Object.prototype;
}

/** The TOML type of a parsed value, for "expected string, got integer" messages. */
export function describeType(value: unknown): string {
  if (typeof value === 'string') return 'string';
  if (typeof value === 'boolean') return 'boolean';
  if (typeof value === 'bigint') return 'integer';
  if (typeof value === 'number') return Number.isInteger(value) ? 'integer' : 'float';
  if (value instanceof Date) return 'datetime';
  if (Array.isArray(value)) return 'array';
  if (isTable(value)) return 'table';
  return typeof value;
}

const HTTPS_FIX = 'use the repository\'s https:// URL (e.g. https://github.com/owner/repo) or its SSH address (git@host:owner/repo.git)';
const SUPPORTED = 'supported upstreams: https:// and http:// URLs, SSH (ssh://user@host[:port]/path or user@host:path) and local repositories (/abs/path or file:///abs/path)';
const SSH_FIX = 'write ssh://user@host[:port]/path or user@host:path';

/**
 * `upstream` must be what the upstream model accepts (`parseUpstream` in src/upstream/upstream.ts; ours:
 * gitopper shelled out to git and accepted anything git accepts): an http(s) URL without embedded
 * credentials; an SSH upstream (`ssh://[user@]host[:port]/path`, scp-like `[user@]host:path`) without a
 * password, with a host and user ssh cannot mistake for options (no leading `-`); a local repository as an
 * absolute path or `file:///path`. Refused with what to use instead: `git://` (unauthenticated), other
 * schemes, relative paths, `file://otherhost/…`, control characters. Returns the value as written.
 */
export function checkUpstream(value: string): string | Problem {
  try {
    parseUpstream(value);
    return value;
  } catch (err) {
    if (err instanceof UpstreamError && err.fault !== undefined) return upstreamProblem(value, err.fault);
    throw err;
  }
}

/** The Problem for an upstream `value` the model refused with `fault`; credentials in `value` are never shown. */
function upstreamProblem(value: string, fault: UpstreamFault): Problem {
  const shown = redactUpstream(value);
  switch (fault.reason) {
    case 'control-character':
      return new Problem(`${JSON.stringify(shown)} contains a control character`, HTTPS_FIX);
    case 'relative-path':
      return new Problem(`"${shown}" is a relative path`, 'write a local repository as an absolute path, e.g. "/srv/git/config.git" (or file:///srv/git/config.git); ' + SUPPORTED);
    case 'root':
      return value.startsWith('/')
        ? new Problem('"/" is the root directory, not a repository', 'write the absolute path of the repository, e.g. "/srv/git/config.git"')
        : new Problem(`"${shown}" names the root directory, not a repository`, 'write file:///srv/git/config.git');
    case 'invalid-url':
      return new Problem(`"${shown}" is not a valid URL`, HTTPS_FIX);
    case 'credentials':
      return new Problem(
        `"${shown}" has credentials in the URL, which would end up in logs and API output`,
        'remove "user:password@" from upstream, write the token to a file readable only by the agent and set token_file = "/path/to/that/file"',
      );
    case 'ssh-password':
      return new Problem(`"${shown}" has a password in the URL, which would end up in logs and API output`,
        'remove ":password" from upstream; an SSH upstream authenticates with a deploy key: set ssh_key = "/etc/gitopper/deploy_key"');
    case 'file-host':
      return new Problem(`"${shown}" names host "${fault.host}"; a file:// upstream is a repository on this host`, 'write file:///abs/path (three slashes), or use ssh:// for another host');
    case 'unsupported-scheme':
      return fault.scheme === 'git'
        ? new Problem(`"${shown}" uses the git:// protocol, which is neither authenticated nor encrypted`, HTTPS_FIX)
        : new Problem(`"${shown}" has scheme ${fault.scheme}://`, `${HTTPS_FIX}; ${SUPPORTED}`);
    case 'ssh-user':
      return new Problem(`"${shown}" has SSH user "${fault.user}": use letters, digits and . _ + - (not starting with -)`, SSH_FIX);
    case 'ssh-host': {
      const why = fault.host.startsWith('-') ? ', which ssh would read as an option' : fault.host === '' ? ' (empty)' : '';
      return new Problem(`"${shown}" has SSH host "${fault.host}"${why}`, `${SSH_FIX} with a host name or IP address`);
    }
    // an SSH upstream that got this far holds no password: the user is shown, as written
    case 'port':
      return new Problem(`"${value}" has port ${fault.port}`, 'use a port from 1 to 65535');
    case 'no-path':
      return new Problem(`"${value}" names no repository path`, `${SSH_FIX}, e.g. git@git.example.org:ops/config.git`);
    case 'invalid-escape':
      return new Problem(`"${shown}" has an invalid %-escape`, 'write a valid %XX escape (e.g. %20 for a space) or the character itself');
    case 'path-control-character':
      return new Problem(`"${shown}" has a %-escaped control character in its path`, 'remove it; a repository path holds no control characters');
  }
}

/**
 * The transport keys that do not fit an upstream's kind: `token_file` is for https only; `ssh_key` and
 * `known_hosts` for SSH only; a local repository takes none. Returns one Problem per key set (with `key`).
 */
export function checkTransportKeys(upstream: string, keys: { readonly tokenFile?: string | undefined; readonly sshKey?: string | undefined; readonly knownHosts?: string | undefined }): Problem | undefined {
  const kind = upstreamKind(upstream);
  if (kind === undefined) return undefined;
  const what = kind === 'http' ? 'an http(s) upstream' : kind === 'ssh' ? 'an SSH upstream' : 'a local repository';
  const shown = JSON.stringify(upstream); // already checked: no credentials in it
  if (keys.tokenFile !== undefined && kind !== 'http') {
    const fix = kind === 'ssh' ? 'remove token_file here; an SSH upstream authenticates with ssh_key = "/etc/gitopper/deploy_key" (and known_hosts = "/etc/gitopper/known_hosts")' : 'remove token_file here; a local repository is read directly';
    return new Problem(`token_file applies to https upstreams only, and ${shown} is ${what}`, fix, 'token_file');
  }
  for (const [key, v] of [['ssh_key', keys.sshKey], ['known_hosts', keys.knownHosts]] as const) {
    if (v === undefined || kind === 'ssh') continue;
    const fix = kind === 'http' ? `remove ${key} here; a private https repository takes token_file` : `remove ${key} here; a local repository is read directly`;
    return new Problem(`${key} applies to SSH upstreams only, and ${shown} is ${what}`, fix, key);
  }
  return undefined;
}

/**
 * `ssh_key` / `known_hosts` after resolving (ours): ssh reads these paths itself, so characters it would
 * misread are refused: whitespace (splits `UserKnownHostsFile`), `%` (starts an ssh token), quotes, backslashes
 * and control characters.
 */
export function checkSshFile(value: string): string | Problem {
  // eslint-disable-next-line no-control-regex
  const bad = /[\s"'\\%\x00-\x1f\x7f]/.exec(value);
  if (bad !== null) {
    return new Problem(`"${value}" contains ${JSON.stringify(bad[0])}, which ssh would misread in a file name`, 'move or rename the file to a path without whitespace, quotes, backslashes or %');
  }
  return value;
}

/**
 * A service name is the systemd unit name and the checkout directory `<mount>/<service>` (gitopper), so it
 * must be a valid unit name (ours: systemd's characters `[A-Za-z0-9:_.\-@\\]`, at most 255) and never a path.
 */
export function checkUnitName(value: string): string | Problem {
  const fix = 'use the systemd unit name, e.g. "prometheus" or "docker-compose@caddy"';
  if (value === '') return new Problem('is empty', fix);
  if (value === '.' || value === '..') return new Problem(`"${value}" is not a unit name (it is also the directory <mount>/<service>)`, fix);
  if (value.length > 255) return new Problem(`is ${value.length} characters long, systemd allows at most 255`, fix);
  const bad = /[^A-Za-z0-9:_.\-@\\]/.exec(value);
  if (bad !== null) {
    const what = bad[0] === '/' ? '"/" (the name is also the directory <mount>/<service>)' : JSON.stringify(bad[0]);
    return new Problem(`"${value}" contains ${what}, which is not allowed in a systemd unit name`, `${fix}; allowed characters are A-Z a-z 0-9 : _ . - @ \\`);
  }
  return value;
}

/** `branch` must be a plausible git branch name (ours, a subset of `git check-ref-format`). */
export function checkBranch(value: string): string | Problem {
  const fix = 'use a branch name such as "main"';
  if (value.startsWith('-') || value.startsWith('/') || value.endsWith('/') || value.endsWith('.') || value.endsWith('.lock')) {
    return new Problem(`"${value}" is not a valid git branch name`, fix);
  }
  // eslint-disable-next-line no-control-regex
  if (/[\x00-\x20\x7f~^:?*[\\]|\.\.|@\{|\/\/|(^|\/)\./.test(value)) return new Problem(`"${value}" is not a valid git branch name`, fix);
  return value;
}

/** `p` normalised (path.posix.normalize) without a trailing slash, except for `/` itself. */
function normalise(p: string): string {
  const n = path.posix.normalize(p);
  return n.length > 1 && n.endsWith('/') ? n.slice(0, -1) : n;
}

/** An absolute directory (`mount`): normalised; relative paths refused (gitopper needs them absolute too). */
export function checkAbsolute(value: string, example: string): string | Problem {
  if (!path.posix.isAbsolute(value)) return new Problem(`"${value}" is not an absolute path`, `write it as an absolute path, e.g. "${example}"`);
  return normalise(value);
}

/** `dirs[].local`: absolute, normalised, and not `/` itself (ours: mounting over `/` would hide the host). */
export function checkLocal(value: string): string | Problem {
  const checked = checkAbsolute(value, '/etc/prometheus');
  if (checked === '/') return new Problem('is "/", which would mount over the whole host', 'name the directory or file the repository should provide, e.g. "/etc/prometheus"');
  return checked;
}

/**
 * `dirs[].link`: a path inside the repository (gitopper: joined to `<mount>/<service>`). Ours: relative,
 * no `..` segments, not the repository root; normalised (`./a/b/` → `a/b`).
 */
export function checkLink(value: string): string | Problem {
  const fix = 'give a path inside the repository, relative to its root, e.g. "prometheus/etc"';
  if (value === '') return new Problem('is empty', fix);
  if (path.posix.isAbsolute(value)) return new Problem(`"${value}" is absolute; link is a path inside the repository`, fix);
  if (value.split('/').includes('..')) return new Problem(`"${value}" contains "..", which would leave the repository`, fix);
  const n = normalise(value);
  if (n === '.') return new Problem(`"${value}" is the whole repository`, fix);
  return n;
}

/** A file path from the config: absolute, or resolved against the config file's directory (ours; gitopper used the working directory). */
export function resolveFromConfig(file: string, p: string): string {
  return path.posix.resolve(path.posix.dirname(file), p);
}
