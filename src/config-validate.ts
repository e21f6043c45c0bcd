/**
 * The individual rules behind `config.ts`: pure functions over one value, no I/O.
 *
 * A rule returns the (normalised) value, or a {@link Problem} saying what is wrong and how to fix it.
 * It never throws: `config.ts` knows the file, entry and key, and turns a Problem into a `ConfigError`.
 */
import path from 'node:path';

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
      const fix = hints[name] ?? `remove it or correct its spelling; allowed keys here: ${allowed.join(', ')}`;
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

/** `user:password@` replaced by `***@`, so a refused URL can be echoed without leaking the secret. */
export function redactUrl(value: string): string {
  return value.replace(/^([a-z][a-z0-9+.-]*:\/\/)[^/@]*@/i, '$1***@');
}

const HTTPS_FIX = 'use the repository\'s https:// URL (e.g. https://github.com/owner/repo); for a private repository put an access token in a file and set token_file';
const LATER = 'only http:// and https:// upstreams are supported for now (SSH and local upstreams come in a later release)';

/**
 * `upstream` must be an http(s) URL without embedded credentials (ours: this agent fetches over smart HTTP
 * only; gitopper shells out to git and so accepted anything git accepts). SSH (`ssh://`, `git@host:path`),
 * `git://`, `file://` and local paths get a message saying so and what to use instead.
 */
export function checkUpstream(value: string): string | Problem {
  const scpLike = /^(?:[^@/\s]+@)?[^/:\s]+:(?!\/\/)/.test(value);
  let url: URL | undefined;
  if (!scpLike) {
    try { url = new URL(value); } catch { url = undefined; }
  }
  if (url === undefined) {
    if (scpLike) return new Problem(`"${value}" is an SSH upstream; ${LATER}`, HTTPS_FIX);
    return new Problem(`"${value}" is a local path; ${LATER}`, 'serve the repository over HTTP (any git host, or `git http-backend`) and set upstream to its http(s):// URL');
  }
  switch (url.protocol) {
    case 'http:':
    case 'https:':
      break;
    case 'ssh:':
    case 'git+ssh:':
    case 'ssh+git:':
      return new Problem(`"${redactUrl(value)}" is an SSH upstream; ${LATER}`, HTTPS_FIX);
    case 'git:':
      return new Problem(`"${value}" uses the git:// protocol; ${LATER}`, HTTPS_FIX);
    case 'file:':
      return new Problem(`"${value}" is a local repository; ${LATER}`, 'serve the repository over HTTP (any git host, or `git http-backend`) and set upstream to its http(s):// URL');
    default:
      return new Problem(`"${redactUrl(value)}" has scheme ${url.protocol}; ${LATER}`, HTTPS_FIX);
  }
  if (url.username !== '' || url.password !== '') {
    return new Problem(
      `"${redactUrl(value)}" has credentials in the URL, which would end up in logs and API output`,
      'remove "user:password@" from upstream, write the token to a file readable only by the agent and set token_file = "/path/to/that/file"',
    );
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
