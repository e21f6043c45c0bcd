/**
 * gitopper's TOML config → validated, defaulted, frozen spec. Pure: no I/O (the caller reads the file).
 *
 * Two stages: {@link mergeConfig} checks TOML syntax, key names, value types and applies gitopper's
 * inheritance from `[global]`; {@link parseConfig} adds the semantic rules (`config-validate.ts`) and
 * normalises paths. {@link servicesForHost} picks this host's services. Reference: docs/config.md.
 */
import TOML from '@iarna/toml';
import { parseDuration } from './duration.js';
import {
  Problem, checkAbsolute, checkBranch, checkLink, checkLocal, checkSshFile, checkTransportKeys, checkUnitName, checkUpstream, upstreamKind,
  describeType, foldKeys, isTable, resolveFromConfig, type Fields,
} from './config-validate.js';

/** systemd actions the agent can ask for over D-Bus; "" means: change files, call nothing. */
export const ACTIONS = ['reload', 'restart', 'try-restart', 'reload-or-restart', 'try-reload-or-restart', 'start', 'stop', ''] as const;
/** One of {@link ACTIONS}. */
export type Action = (typeof ACTIONS)[number];

/** One `dirs` entry: bind-mount `<mount>/<service>/<link>` onto `local`. */
export interface DirSpec {
  /** Absolute path on this host (the bind-mount target). */
  readonly local: string;
  /** Path inside the repository, relative, normalised, never escaping the repo (no `..`). */
  readonly link: string;
  /** True when `link` is a single file (target created as an empty file). */
  readonly file: boolean;
}

/** One `[global].keys` entry: an OpenSSH public key file allowed to use the API. */
export interface KeySpec {
  /** Absolute path (relative paths in the file are resolved against the config file's directory). */
  readonly path: string;
  /** Read-only key: may use read routes only. */
  readonly ro: boolean;
}

/** One `[[services]]` entry after inheritance from `[global]`. */
export interface ServiceSpec {
  /** Zero-based position in the file's `services` array, for messages (`services[2] "grafana-server"`). */
  readonly index: number;
  readonly machine: string;
  /** Service identifier; the systemd unit name (`.service` implied when it has no unit suffix). */
  readonly service: string;
  readonly action: Action;
  /** Owner of the checked-out files; "" means the agent's own user. */
  readonly user: string;
  /** Informational, as in gitopper. */
  readonly package: string;
  /** http(s) URL of the git repository. */
  readonly upstream: string;
  readonly branch: string;
  /** Absolute directory; the checkout lives at `<mount>/<service>`. */
  readonly mount: string;
  readonly dirs: readonly DirSpec[];
  /** Absolute path of a file holding an https token (read at each fetch), or undefined. */
  readonly tokenFile: string | undefined;
  /** SSH upstreams (ours): absolute path of the private deploy key, or undefined (ssh's default identities). */
  readonly sshKey?: string | undefined;
  /** SSH upstreams (ours): absolute path of the only known_hosts file trusted, or undefined (the system's files). */
  readonly knownHosts?: string | undefined;
  /**
   * Repository paths checked out without a bind mount (never set from a config file: the
   * self-bootstrap service `gitopper` uses it for its `-D` directory).
   */
  readonly links?: readonly string[];
  /**
   * What to do with local edits to deployed files (ours): `report` (default: show them, and refuse
   * an upstream change that would overwrite them) or `revert` (restore the deployed files, run the action).
   */
  readonly drift: DriftMode;
  /** `pre`/`post` programs in the repository run around an apply (ours); absent = none. */
  readonly hooks?: HooksSpec;
  /** Checks after every apply, with automatic rollback on failure (ours); absent = none. */
  readonly health?: HealthSpec;
  /** After an automatic rollback: stay frozen (`freeze`, default) or try again at the next commit. */
  readonly autoRollback?: AutoRollbackMode;
}

/** A service's `hooks` table. Paths are repository paths (relative, inside the repo). */
export interface HooksSpec {
  readonly pre: readonly string[];
  readonly post: readonly string[];
  /** Per hook, seconds (default 60). */
  readonly timeoutSeconds: number;
}

/** A service's `health` table. */
export interface HealthSpec {
  /** Program and arguments run as the service's user, no shell; absent = no command check. */
  readonly exec?: readonly string[];
  /** URL that must answer 2xx; absent = no HTTP check. */
  readonly http?: string;
  /** Per attempt, seconds (default 30). */
  readonly timeoutSeconds: number;
  /** Attempts per check before it fails (default 3). */
  readonly retries: number;
  /** The unit must stay active (not failed, not restarting) this long after the action, seconds (default 5). */
  readonly graceSeconds: number;
}

/** Values of a service's `auto_rollback` key. */
export const AUTO_ROLLBACK_MODES = ['freeze', 'retry-next-commit'] as const;
/** One of {@link AUTO_ROLLBACK_MODES}. */
export type AutoRollbackMode = (typeof AUTO_ROLLBACK_MODES)[number];

/** Values of a service's `drift` key. */
export const DRIFT_MODES = ['report', 'revert'] as const;
/** One of {@link DRIFT_MODES}. */
export type DriftMode = (typeof DRIFT_MODES)[number];

/** `[global]` after defaults. */
export interface GlobalSpec {
  readonly upstream: string;
  readonly branch: string;
  readonly mount: string;
  readonly keys: readonly KeySpec[];
  readonly tokenFile: string | undefined;
  /** Default `ssh_key` of services with SSH upstreams. */
  readonly sshKey?: string | undefined;
  /** Default `known_hosts` of services with SSH upstreams. */
  readonly knownHosts?: string | undefined;
  /** File holding the push-webhook secret (ours; `POST /hook` is refused without it); absolute. */
  readonly hookSecretFile?: string | undefined;
}

/** The whole validated config. */
export interface ConfigSpec {
  /** The file it was read from (as given), used in every message. */
  readonly file: string;
  readonly global: GlobalSpec;
  readonly services: readonly ServiceSpec[];
}

/** Structured data of a {@link ConfigError}. */
export interface ConfigErrorData {
  /** The config file, as given to {@link parseConfig}. */
  readonly file: string;
  /** Where in the file: `top level`, `global`, `global.keys[1]`, `services[2] "grafana-server"`,
   *  `services[1].dirs[0] (service "docker-compose@caddy")`, or `line 3, column 7` for TOML syntax. */
  readonly entry?: string;
  /** The offending key: canonical lower-case name, or as written for unknown / repeated keys. */
  readonly key?: string;
  /** What to change. */
  readonly fix?: string;
}

/**
 * A config that cannot be used. Stable `code` 'CONFIG'; the message reads
 * `<file>: <entry>: key "<key>": <problem>. Fix: <fix>` (parts absent from `data` are left out).
 */
export class ConfigError extends Error {
  readonly code = 'CONFIG';
  override readonly name = 'ConfigError';
  readonly data: ConfigErrorData;
  constructor(problem: string, data: ConfigErrorData) {
    const where = [data.file, data.entry, data.key === undefined ? undefined : `key "${data.key}"`].filter((p) => p !== undefined);
    super(`${where.join(': ')}: ${problem}${data.fix === undefined ? '' : `. Fix: ${data.fix}`}`);
    this.data = data;
  }
}

/** A place in the file; its methods throw {@link ConfigError}s located there. */
class At {
  constructor(readonly file: string, readonly entry: string) {}
  fail(key: string | undefined, problem: string, fix: string): never {
    throw new ConfigError(problem, { file: this.file, entry: this.entry, ...(key === undefined ? {} : { key }), fix });
  }
  /** The value of a rule's result, or throw its Problem against `key`. */
  check<T>(key: string, result: T | Problem): T {
    if (result instanceof Problem) this.fail(result.key ?? key, result.problem, result.fix);
    return result;
  }
}

const TOP_KEYS = ['global', 'services'] as const;
const GLOBAL_KEYS = ['upstream', 'branch', 'mount', 'keys', 'token_file', 'ssh_key', 'known_hosts', 'hook_secret_file'] as const;
const SERVICE_KEYS = ['machine', 'service', 'action', 'user', 'package', 'upstream', 'branch', 'mount', 'dirs', 'token_file', 'ssh_key', 'known_hosts', 'drift', 'hooks', 'health', 'auto_rollback'] as const;
const HOOK_KEYS = ['pre', 'post', 'timeout'] as const;
const HEALTH_KEYS = ['exec', 'http', 'timeout', 'retries', 'grace'] as const;
const DIR_KEYS = ['local', 'link', 'file'] as const;
const KEY_KEYS = ['path', 'ro'] as const;
/** gitopper's default branch. */
const DEFAULT_BRANCH = 'main';
const KEYS_EXAMPLE = 'keys = [{ path = "keys/operator.pub" }, { path = "/etc/gitopper/ci.pub", ro = true }]';
const IN_SERVICE = 'this is a per-service key: put it in a [[services]] entry';
const IN_GLOBAL = 'put it under [global] (or in a [[services]] entry)';
const TOP_HINTS = { upstream: IN_GLOBAL, branch: IN_GLOBAL, mount: IN_GLOBAL, token_file: IN_GLOBAL, ssh_key: IN_GLOBAL, known_hosts: IN_GLOBAL, machine: IN_SERVICE, service: IN_SERVICE, action: IN_SERVICE, user: IN_SERVICE, package: IN_SERVICE, dirs: IN_SERVICE };
const GLOBAL_HINTS = { machine: IN_SERVICE, service: IN_SERVICE, action: IN_SERVICE, user: IN_SERVICE, package: IN_SERVICE, dirs: IN_SERVICE };
const SERVICE_HINTS = { keys: `keys are global: put them in [global] as ${KEYS_EXAMPLE}` };

function fields(raw: Record<string, unknown>, allowed: readonly string[], at: At, hints?: Record<string, string>): Fields {
  return at.check('', foldKeys(raw, allowed, hints));
}

function optString(f: Fields, name: string, at: At): string | undefined {
  const v = f.get(name)?.value;
  if (v === undefined || typeof v === 'string') return v;
  return at.fail(name, `expected a string, got ${describeType(v)}`, `quote the value: ${name} = "..."`);
}

function optBool(f: Fields, name: string, at: At): boolean | undefined {
  const v = f.get(name)?.value;
  if (v === undefined || typeof v === 'boolean') return v;
  return at.fail(name, `expected a boolean, got ${describeType(v)}`, `write ${name} = true or ${name} = false (unquoted)`);
}

function optTables(f: Fields, name: string, at: At, example: string): Record<string, unknown>[] | undefined {
  const v = f.get(name)?.value;
  if (v === undefined) return undefined;
  if (Array.isArray(v) && v.every(isTable)) return v;
  const got = Array.isArray(v) ? `an array holding ${v.filter((e) => !isTable(e)).map(describeType)[0]} values` : `a ${describeType(v)}`;
  return at.fail(name, `expected an array of tables, got ${got}`, `write it as ${example}`);
}

/** Empty means unset (gitopper's merge treats a Go zero value "" as "not given"). */
function orInherit(own: string | undefined, inherited: string): string {
  return own === undefined || own === '' ? inherited : own;
}

/** Label of service entry `i` for messages: `services[2] "grafana-server"`, or `services[2]` without a usable name. */
function serviceEntry(i: number, name: unknown): string {
  return typeof name === 'string' && name !== '' ? `services[${i}] ${JSON.stringify(name)}` : `services[${i}]`;
}

function dirEntry(i: number, j: number, name: string): string {
  return `services[${i}].dirs[${j}]${name === '' ? '' : ` (service ${JSON.stringify(name)})`}`;
}

/**
 * Stage one: TOML `text` → a spec with gitopper's inheritance applied but NOT validated beyond structure.
 * Checks: TOML syntax; key names at every level, case-insensitively (gitopper); the legacy top-level `[keys]`
 * table (gitopper v0.0.1) is refused with the new syntax; every value's type; `action` ∈ {@link ACTIONS}.
 * Applies: `upstream`/`branch`/`mount`/`token_file`/`ssh_key`/`known_hosts` from `[global]` when a service does
 * not set them (or sets them to ""; the transport keys only when they fit the service's upstream: token_file
 * https, ssh_key and known_hosts SSH), `branch` defaulting to `main`, `ro`/`file` defaulting to false, other strings to "".
 * Paths are left as written; a missing upstream or mount is "". Returns a deep-frozen spec.
 * @throws ConfigError naming the file, entry and key.
 */
export function mergeConfig(text: string, file: string): ConfigSpec {
  let doc: Record<string, unknown>;
  try {
    doc = TOML.parse(text);
  } catch (err) {
    const e = err as { message?: string; line?: number; col?: number };
    const entry = typeof e.line === 'number' && typeof e.col === 'number' ? `line ${e.line + 1}, column ${e.col + 1}` : undefined;
    const msg = String(e.message ?? err).split('\n')[0]!.replace(/ at row \d+, col \d+, pos \d+:?$/, '');
    throw new ConfigError(`TOML syntax error: ${msg}`, { file, ...(entry === undefined ? {} : { entry }), fix: 'correct the TOML syntax there' });
  }
  const top: At = new At(file, 'top level');
  const legacy = Object.keys(doc).find((k) => k.toLowerCase() === 'keys');
  if (legacy !== undefined) {
    const what = isTable(doc[legacy]) ? 'a top-level [keys] table is the old (gitopper v0.0.1) format' : 'keys belong in [global]';
    top.fail(legacy, `${what}; keys now go in [global] as keys = [{ path = "..." }]`, `move them into [global] as ${KEYS_EXAMPLE}`);
  }
  const f = fields(doc, TOP_KEYS, top, TOP_HINTS);

  const rawGlobal = f.get('global')?.value ?? {};
  if (!isTable(rawGlobal)) top.fail('global', `expected a table, got ${describeType(rawGlobal)}`, 'write a [global] section');
  const gAt: At = new At(file, 'global');
  const g = fields(rawGlobal, GLOBAL_KEYS, gAt, GLOBAL_HINTS);
  const keys = (optTables(g, 'keys', gAt, KEYS_EXAMPLE) ?? []).map((raw, i): KeySpec => {
    const at = new At(file, `global.keys[${i}]`);
    const k = fields(raw, KEY_KEYS, at);
    return { path: optString(k, 'path', at) ?? '', ro: optBool(k, 'ro', at) ?? false };
  });
  const global: GlobalSpec = {
    upstream: optString(g, 'upstream', gAt) ?? '',
    branch: orInherit(optString(g, 'branch', gAt), DEFAULT_BRANCH),
    mount: optString(g, 'mount', gAt) ?? '',
    keys,
    tokenFile: orInherit(optString(g, 'token_file', gAt), '') || undefined,
    sshKey: orInherit(optString(g, 'ssh_key', gAt), '') || undefined,
    knownHosts: orInherit(optString(g, 'known_hosts', gAt), '') || undefined,
    hookSecretFile: orInherit(optString(g, 'hook_secret_file', gAt), '') || undefined,
  };

  const rawServices = f.get('services')?.value ?? [];
  if (isTable(rawServices)) top.fail('services', 'expected an array of tables, got a single table', 'write [[services]] (double brackets) above each service');
  if (!Array.isArray(rawServices) || !rawServices.every(isTable)) {
    top.fail('services', `expected an array of tables, got ${describeType(rawServices)}`, 'write a [[services]] section for each service');
  }
  const services = rawServices.map((raw, i) => mergeService(raw, i, file, global));
  return deepFreeze({ file, global, services });
}

/**
 * `token_file`, `ssh_key` and `known_hosts` of a service whose upstream (after inheritance) is `upstream`:
 * its own values, else `[global]`'s, but a value inherited from `[global]` only when it fits the upstream's
 * kind (token_file: https; ssh_key, known_hosts: SSH). A service's own misfit is refused by {@link parseConfig}.
 */
function transportKeys(s: Fields, at: At, upstream: string, global: GlobalSpec): Pick<ServiceSpec, 'tokenFile' | 'sshKey' | 'knownHosts'> {
  const kind = upstreamKind(upstream);
  const pick = (own: string | undefined, inherited: string | undefined, fits: boolean) => orInherit(own, fits ? inherited ?? '' : '') || undefined;
  return {
    tokenFile: pick(optString(s, 'token_file', at), global.tokenFile, kind === undefined || kind === 'http'),
    sshKey: pick(optString(s, 'ssh_key', at), global.sshKey, kind === undefined || kind === 'ssh'),
    knownHosts: pick(optString(s, 'known_hosts', at), global.knownHosts, kind === undefined || kind === 'ssh'),
  };
}

function mergeService(raw: Record<string, unknown>, i: number, file: string, global: GlobalSpec): ServiceSpec {
  const nameKey = Object.keys(raw).find((k) => k.toLowerCase() === 'service');
  const at = new At(file, serviceEntry(i, nameKey === undefined ? undefined : raw[nameKey]));
  const s = fields(raw, SERVICE_KEYS, at, SERVICE_HINTS);
  const service = optString(s, 'service', at) ?? '';
  const action = optString(s, 'action', at) ?? '';
  if (!(ACTIONS as readonly string[]).includes(action)) {
    at.fail('action', `"${action}" is not a systemd action this agent can run`, `use one of ${ACTIONS.map((a) => JSON.stringify(a)).join(', ')} ("" = change files only)`);
  }
  const drift = optString(s, 'drift', at) ?? 'report';
  if (!(DRIFT_MODES as readonly string[]).includes(drift)) {
    at.fail('drift', `"${drift}" is not a drift mode`, 'use drift = "report" (show local edits, the default) or drift = "revert" (restore the deployed files)');
  }
  const autoRollback = optString(s, 'auto_rollback', at) ?? 'freeze';
  if (!(AUTO_ROLLBACK_MODES as readonly string[]).includes(autoRollback)) {
    at.fail('auto_rollback', `"${autoRollback}" is not an auto_rollback mode`, 'use auto_rollback = "freeze" (stay on the good commit until an operator unfreezes, the default) or "retry-next-commit"');
  }
  const hooks = optTable(s, 'hooks', at, 'hooks = { pre = ["ci/check.sh"], post = ["ci/notify.sh"], timeout = "60s" }');
  const health = optTable(s, 'health', at, 'health = { http = "http://127.0.0.1:3000/health", timeout = "30s", retries = 3 }');
  const dirs = (optTables(s, 'dirs', at, 'dirs = [{ local = "/etc/prometheus", link = "prometheus/etc" }]') ?? []).map((rawDir, j): DirSpec => {
    const dAt = new At(file, dirEntry(i, j, service));
    const d = fields(rawDir, DIR_KEYS, dAt);
    return { local: optString(d, 'local', dAt) ?? '', link: optString(d, 'link', dAt) ?? '', file: optBool(d, 'file', dAt) ?? false };
  });
  return {
    index: i,
    machine: optString(s, 'machine', at) ?? '',
    service,
    action: action as Action,
    user: optString(s, 'user', at) ?? '',
    package: optString(s, 'package', at) ?? '',
    upstream: orInherit(optString(s, 'upstream', at), global.upstream),
    branch: orInherit(optString(s, 'branch', at), global.branch),
    mount: orInherit(optString(s, 'mount', at), global.mount),
    dirs,
    ...transportKeys(s, at, orInherit(optString(s, 'upstream', at), global.upstream), global),
    drift: drift as DriftMode,
    autoRollback: autoRollback as AutoRollbackMode,
    ...(hooks ? { hooks: mergeHooks(hooks, new At(file, `${at.entry}.hooks`)) } : {}),
    ...(health ? { health: mergeHealth(health, new At(file, `${at.entry}.health`)) } : {}),
  };
}

function optTable(f: Fields, name: string, at: At, example: string): Record<string, unknown> | undefined {
  const v = f.get(name)?.value;
  if (v === undefined || isTable(v)) return v;
  return at.fail(name, `expected a table, got ${describeType(v)}`, `write it as ${example}`);
}

function optStrings(f: Fields, name: string, at: At): string[] | undefined {
  const v = f.get(name)?.value;
  if (v === undefined) return undefined;
  if (Array.isArray(v) && v.every((x) => typeof x === 'string')) return v;
  return at.fail(name, `expected an array of strings, got ${describeType(v)}`, `write ${name} = ["path/in/repo/script.sh"]`);
}

function optDuration(f: Fields, name: string, at: At, fallback: number): number {
  const v = optString(f, name, at);
  if (v === undefined) return fallback;
  try {
    const seconds = parseDuration(v);
    if (seconds > 0) return seconds;
  } catch {
    /* reported below */
  }
  return at.fail(name, `"${v}" is not a positive duration`, `use Go syntax such as ${name} = "30s" or "2m"`);
}

/** `hooks` (ours): repository paths checked like `link`; timeout a Go duration (default 60s). */
function mergeHooks(raw: Record<string, unknown>, at: At): HooksSpec {
  const h = fields(raw, HOOK_KEYS, at);
  const paths = (name: 'pre' | 'post') => (optStrings(h, name, at) ?? []).map((p, i) => at.check(`${name}[${i}]`, checkLink(p)));
  return { pre: paths('pre'), post: paths('post'), timeoutSeconds: optDuration(h, 'timeout', at, 60) };
}

/** `health` (ours): exec (array, or a string split on blanks; no shell), http(s) URL, timeout 30s, retries 3, grace 5s. */
function mergeHealth(raw: Record<string, unknown>, at: At): HealthSpec {
  const h = fields(raw, HEALTH_KEYS, at);
  const execRaw = h.get('exec')?.value;
  let exec: string[] | undefined;
  if (typeof execRaw === 'string') exec = execRaw.trim().split(/\s+/).filter((x) => x !== '');
  else if (execRaw !== undefined) exec = optStrings(h, 'exec', at);
  if (exec !== undefined && (exec.length === 0 || !exec[0]!.startsWith('/'))) {
    at.fail('exec', 'must name a program by absolute path', 'write exec = ["/usr/bin/curl", "-fsS", "http://127.0.0.1:3000/"] (no shell is used)');
  }
  const http = optString(h, 'http', at);
  if (http !== undefined && !/^https?:\/\/[^\s]+$/.test(http)) at.fail('http', `"${http}" is not an http(s) URL`, 'write http = "http://127.0.0.1:3000/health"');
  const retriesRaw = h.get('retries')?.value ?? 3;
  if (typeof retriesRaw !== 'number' || !Number.isInteger(retriesRaw) || retriesRaw < 1 || retriesRaw > 100) {
    // TOML integers beyond 2^53 arrive as BigInt, which JSON.stringify cannot write
    const got = typeof retriesRaw === 'string' ? JSON.stringify(retriesRaw) : ['number', 'bigint', 'boolean'].includes(typeof retriesRaw) ? String(retriesRaw) : describeType(retriesRaw);
    at.fail('retries', `expected a whole number from 1 to 100, got ${got}`, 'write retries = 3');
  }
  return {
    ...(exec ? { exec } : {}),
    ...(http ? { http } : {}),
    timeoutSeconds: optDuration(h, 'timeout', at, 30),
    retries: retriesRaw as number,
    graceSeconds: optDuration(h, 'grace', at, 5),
  };
}

/**
 * TOML `text` read from `file` → merged (see {@link mergeConfig}), validated, normalised, deep-frozen spec.
 * Rules, in order (first failure thrown): `[global]` has at least one key (gitopper's message) with a
 * non-empty `path`, resolved against `file`'s directory (ours); global `upstream`/`mount`/`branch`, when set,
 * obey the service rules below; `token_file`, `ssh_key`, `known_hosts` resolved like key paths (ours; the
 * latter two without characters ssh misreads). Per service: non-empty `machine` (gitopper); `service` a valid
 * systemd unit name (ours); `upstream` set, http(s) without credentials, SSH without password, or an absolute
 * local path / file:// (ours); `token_file` only with https, `ssh_key`/`known_hosts` only with SSH upstreams,
 * in [global] and in services alike (ours); `mount` set (gitopper) and absolute (ours); `dirs[].local` absolute,
 * `dirs[].link` relative inside the repo (ours). Paths are normalised without trailing slash.
 * Pure: `file` is only used for messages and to resolve relative paths.
 * @throws ConfigError naming the file, entry, key and the fix.
 */
export function parseConfig(text: string, file: string): ConfigSpec {
  return validate(mergeConfig(text, file));
}

function validate(merged: ConfigSpec): ConfigSpec {
  const { file } = merged;
  const gAt: At = new At(file, 'global');
  if (merged.global.keys.length === 0) {
    gAt.fail('keys', 'at least one public key should be specified', `add to [global]: ${KEYS_EXAMPLE} (OpenSSH public key files; relative paths are relative to this file)`);
  }
  const keys = merged.global.keys.map((k, i): KeySpec => {
    if (k.path === '') new At(file, `global.keys[${i}]`).fail('path', 'is missing or empty', 'set path to an OpenSSH public key file, e.g. path = "keys/operator.pub"');
    return { path: resolveFromConfig(file, k.path), ro: k.ro };
  });
  const g = merged.global;
  const global: GlobalSpec = {
    upstream: g.upstream === '' ? '' : gAt.check('upstream', checkUpstream(g.upstream)),
    branch: gAt.check('branch', checkBranch(g.branch)),
    mount: g.mount === '' ? '' : gAt.check('mount', checkAbsolute(g.mount, '/var/lib/gitopper')),
    keys,
    tokenFile: g.tokenFile === undefined ? undefined : resolveFromConfig(file, g.tokenFile),
    sshKey: g.sshKey === undefined ? undefined : gAt.check('ssh_key', checkSshFile(resolveFromConfig(file, g.sshKey))),
    knownHosts: g.knownHosts === undefined ? undefined : gAt.check('known_hosts', checkSshFile(resolveFromConfig(file, g.knownHosts))),
    hookSecretFile: g.hookSecretFile === undefined ? undefined : resolveFromConfig(file, g.hookSecretFile),
  };
  const globalMisfit = global.upstream === '' ? undefined : checkTransportKeys(global.upstream, global);
  if (globalMisfit) gAt.fail(globalMisfit.key, globalMisfit.problem, globalMisfit.fix);
  const services = merged.services.map((s): ServiceSpec => {
    const at: At = new At(file, serviceEntry(s.index, s.service));
    if (s.machine === '') at.fail('machine', 'is missing or empty', 'set machine to the host name this service runs on (matched against -h/--hosts and the hostname)');
    if (s.service === '') at.fail('service', 'is missing or empty', 'set service to the systemd unit name, e.g. service = "prometheus"');
    at.check('service', checkUnitName(s.service));
    if (s.upstream === '') at.fail('upstream', 'is not set here nor in [global]', 'set upstream = "https://host/owner/repo" in [global] or in this service');
    if (s.mount === '') at.fail('mount', 'is not set here nor in [global]', 'set mount = "/var/lib/gitopper" in [global] or in this service');
    const dirs = s.dirs.map((d, j): DirSpec => {
      const dAt = new At(file, dirEntry(s.index, j, s.service));
      if (d.local === '') dAt.fail('local', 'is missing or empty', 'set local to the absolute path on this host, e.g. local = "/etc/prometheus"');
      return { local: dAt.check('local', checkLocal(d.local)), link: dAt.check('link', checkLink(d.link)), file: d.file };
    });
    const misfit = checkTransportKeys(at.check('upstream', checkUpstream(s.upstream)), s);
    if (misfit) at.fail(misfit.key, misfit.problem, misfit.fix);
    return {
      ...s,
      upstream: at.check('upstream', checkUpstream(s.upstream)),
      branch: at.check('branch', checkBranch(s.branch)),
      mount: at.check('mount', checkAbsolute(s.mount, '/var/lib/gitopper')),
      dirs,
      tokenFile: s.tokenFile === undefined ? undefined : resolveFromConfig(file, s.tokenFile),
      sshKey: s.sshKey === undefined ? undefined : at.check('ssh_key', checkSshFile(resolveFromConfig(file, s.sshKey))),
      knownHosts: s.knownHosts === undefined ? undefined : at.check('known_hosts', checkSshFile(resolveFromConfig(file, s.knownHosts))),
    };
  });
  return deepFreeze({ file, global, services });
}

/**
 * The services whose `machine` equals one of `hosts` (exact string compare, gitopper), in file order.
 * Ours, checked per host because another host's entries never meet here: a service name may appear once
 * (it is the systemd unit and the directory `<mount>/<service>`), and a `local` path may be a mount target once.
 * @throws ConfigError naming both entries.
 */
export function servicesForHost(config: ConfigSpec, hosts: readonly string[]): ServiceSpec[] {
  const mine = config.services.filter((s) => hosts.includes(s.machine));
  const names = new Map<string, ServiceSpec>();
  const locals = new Map<string, string>();
  for (const s of mine) {
    const entry = serviceEntry(s.index, s.service);
    const first = names.get(s.service);
    if (first !== undefined) {
      new At(config.file, entry).fail('service', `service "${s.service}" is also defined by ${serviceEntry(first.index, first.service)} for this host (machine "${first.machine}")`,
        'keep one entry per service and host; put all its dirs in that entry');
    }
    names.set(s.service, s);
    s.dirs.forEach((d, j) => {
      const here = dirEntry(s.index, j, s.service);
      const other = locals.get(d.local);
      if (other !== undefined) {
        new At(config.file, here).fail('local', `"${d.local}" is also the mount target of ${other} on this host`, 'mount each local path once: remove one of the entries or change its local');
      }
      locals.set(d.local, here);
    });
  }
  return mine;
}

/** `value`, with every object and array reachable from it frozen. */
function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
    for (const v of Object.values(value)) deepFreeze(v);
    Object.freeze(value);
  }
  return value;
}
