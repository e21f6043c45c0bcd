/**
 * gitopper's TOML config → validated, defaulted, frozen spec; the public entry (spec types, ConfigError,
 * mergeConfig, parseConfig, servicesForHost). Pure: no I/O (the caller reads the file).
 *
 * Two stages: {@link mergeConfig} checks TOML syntax, key names, value types and applies gitopper's
 * inheritance from `[global]`; {@link parseConfig} adds the semantic rules (`validate.ts`) and
 * normalises paths. Reference: docs/config.md. Pure siblings: `spec.ts` (the spec types),
 * `host-services.ts` (this host's services), `fields.ts` (typed field readers), `error.ts` (ConfigError and where it points),
 * `keys.ts` ([global].keys), `transport.ts` (token_file, ssh_key, known_hosts), `health.ts` (hooks,
 * health, auto_rollback), `trust-keys.ts` (verify, age_identity, anti_rollback, rollout, window), `notify.ts`
 * ([[notify]]); `file.ts` reads the file.
 */
import TOML from '@iarna/toml';
import { At, ConfigError, ConfigProblems, dirEntry, serviceEntry, type ConfigWarning } from './error.js';
import { fields, optBool, optString, optTables, orInherit } from './fields.js';
import { hooksTable, healthTable, mergeAutoRollback, mergeHealth, mergeHooks } from './health.js';
import { KEYS_EXAMPLE, mergeKeys, refuseTopLevelKeys, resolveKeys } from './keys.js';
import { readNotify, resolveNotify } from './notify.js';
import { checkTransportFit, globalTransportKeys, resolveTransportKeys, serviceTransportKeys } from './transport.js';
import { mergeTrustKeys, resolveTrustKeys } from './trust-keys.js';
import { ACTION_ALIASES, ACTIONS, canonicalAction, DRIFT_MODES, type Action, type ConfigSpec, type DirSpec, type DriftMode, type GlobalSpec, type ServiceSpec } from './spec.js';
import { checkAbsolute, checkBranch, checkLink, checkLocal, checkUnitName, checkUpstream, describeType, isTable, resolveFromConfig, type Fields } from './validate.js';

export { ConfigError, ConfigProblems, type ConfigErrorData, type ConfigWarning } from './error.js';
export { AUTO_ROLLBACK_MODES, type AutoRollbackMode, type HealthSpec, type HooksSpec } from './health.js';
export type { KeySpec } from './keys.js';
export { LINK_PLACEHOLDERS, NOTIFY_EVENTS, NOTIFY_FORMATS, type NotifyEventName, type NotifyFormat, type NotifySpec } from './notify.js';
export * from './spec.js';
export { hostServices, servicesForHost } from './host-services.js';

const TOP_KEYS = ['global', 'services', 'notify'] as const;
/**
 * Per-service keys gitopper's `[global]` accepted and ignored: its `Global` embeds the whole `Service`
 * (config.go), yet `merge()` (server.go) only inherits upstream, mount and branch. Accepted with a warning.
 */
const IGNORED_IN_GLOBAL = ['machine', 'service', 'action', 'user', 'package', 'dirs'] as const;
const GLOBAL_KEYS = ['upstream', 'branch', 'mount', 'keys', 'token_file', 'ssh_key', 'known_hosts', 'hook_secret_file', 'anti_rollback', 'rollout', 'window', 'age_identity', 'verify', ...IGNORED_IN_GLOBAL] as const;
const SERVICE_KEYS = ['machine', 'service', 'action', 'user', 'package', 'upstream', 'branch', 'mount', 'dirs', 'token_file', 'ssh_key', 'known_hosts', 'drift', 'hooks', 'health', 'auto_rollback', 'anti_rollback', 'rollout', 'window', 'age_identity', 'verify'] as const;
const DIR_KEYS = ['local', 'link', 'file'] as const;
const DIRS_EXAMPLE = 'dirs = [{ local = "/etc/prometheus", link = "prometheus/etc" }]';
/** gitopper's default branch. */
const DEFAULT_BRANCH = 'main';
const IN_SERVICE = 'this is a per-service key: put it in a [[services]] entry';
const IN_GLOBAL = 'put it under [global] (or in a [[services]] entry)';
const TOP_HINTS = { upstream: IN_GLOBAL, branch: IN_GLOBAL, mount: IN_GLOBAL, token_file: IN_GLOBAL, ssh_key: IN_GLOBAL, known_hosts: IN_GLOBAL, age_identity: IN_GLOBAL, machine: IN_SERVICE, service: IN_SERVICE, action: IN_SERVICE, user: IN_SERVICE, package: IN_SERVICE, dirs: IN_SERVICE };
const SERVICE_HINTS = { keys: `keys are global: put them in [global] as ${KEYS_EXAMPLE}` };

/**
 * Stage one: TOML `text` → a spec with gitopper's inheritance applied but NOT validated beyond structure.
 * Checks: TOML syntax; key names at every level, case-insensitively (gitopper); the legacy top-level `[keys]`
 * table (gitopper v0.0.1) is refused with the new syntax; every value's type; `action` ∈ {@link ACTIONS} or
 * a systemctl alias ({@link ACTION_ALIASES}, stored as the verb it stands for).
 * Accepts with a warning (in `warnings`): the per-service keys machine, service, action, user, package and
 * dirs in `[global]`, which gitopper accepted there and ignored.
 * Applies: `upstream`/`branch`/`mount`/`token_file`/`ssh_key`/`known_hosts` from `[global]` when a service does
 * not set them (or sets them to ""; the transport keys only when they fit the service's upstream: token_file
 * https, ssh_key and known_hosts SSH), `branch` defaulting to `main`, `ro`/`file` defaulting to false, other strings to "".
 * Paths are left as written; a missing upstream or mount is "". Returns a deep-frozen spec.
 * @throws ConfigError naming the file, entry and key.
 */
export function mergeConfig(text: string, file: string): ConfigSpec {
  return merge(text, file, new ConfigProblems())!;
}

/**
 * {@link mergeConfig}, every problem kept in `problems` (undefined: the TOML does not parse, so nothing
 * else can be checked). A value that is wrong reads as absent, so the rest of the file is still checked.
 */
function merge(text: string, file: string, problems: ConfigProblems): ConfigSpec | undefined {
  let doc: Record<string, unknown>;
  try {
    doc = TOML.parse(text);
  } catch (err) {
    const e = err as { message?: string; line?: number; col?: number };
    const entry = typeof e.line === 'number' && typeof e.col === 'number' ? `line ${e.line + 1}, column ${e.col + 1}` : undefined;
    const msg = String(e.message ?? err).split('\n')[0]!.replace(/ at row \d+, col \d+, pos \d+:?$/, '');
    problems.add(new ConfigError(`TOML syntax error: ${msg}`, { file, ...(entry === undefined ? {} : { entry }), fix: 'correct the TOML syntax there' }));
    return undefined;
  }
  const get = <T>(fn: () => T, fallback: T): T => problems.attempt(fn, fallback);
  const top: At = new At(file, 'top level');
  get(() => refuseTopLevelKeys(doc, top), undefined);
  const f = fields(doc, TOP_KEYS, top, TOP_HINTS, problems);

  const rawGlobal = get(() => {
    const raw = f.get('global')?.value ?? {};
    if (!isTable(raw)) top.fail('global', `expected a table, got ${describeType(raw)}`, 'write a [global] section');
    return raw;
  }, {});
  const gAt: At = new At(file, 'global');
  const g = fields(rawGlobal, GLOBAL_KEYS, gAt, undefined, problems);
  const warnings = ignoredInGlobal(g, gAt, file, problems);
  const keys = mergeKeys(g, gAt, file, problems);
  const global: GlobalSpec = {
    upstream: get(() => optString(g, 'upstream', gAt), undefined) ?? '',
    branch: orInherit(get(() => optString(g, 'branch', gAt), undefined), DEFAULT_BRANCH),
    mount: get(() => optString(g, 'mount', gAt), undefined) ?? '',
    keys,
    ...get(() => globalTransportKeys(g, gAt), { tokenFile: undefined }),
    hookSecretFile: orInherit(get(() => optString(g, 'hook_secret_file', gAt), undefined), '') || undefined,
    ...mergeTrustKeys(g, gAt, undefined, problems),
  };

  const rawServices = get(() => {
    const raw = f.get('services')?.value ?? [];
    if (isTable(raw)) top.fail('services', 'expected an array of tables, got a single table', 'write [[services]] (double brackets) above each service');
    if (!Array.isArray(raw) || !raw.every(isTable)) {
      top.fail('services', `expected an array of tables, got ${describeType(raw)}`, 'write a [[services]] section for each service');
    }
    return raw;
  }, []);
  const services = rawServices.map((raw, i) => mergeService(raw, i, file, global, problems));
  const notify = readNotify(f.get('notify')?.value, top, problems);
  return deepFreeze({ file, global, services, notify, warnings });
}

/**
 * `[global]`'s per-service keys ({@link IGNORED_IN_GLOBAL}): type-checked as in a service (gitopper's TOML
 * decoder did), then one warning each, saying it has no effect there.
 */
function ignoredInGlobal(g: Fields, gAt: At, file: string, problems: ConfigProblems): ConfigWarning[] {
  const warnings: ConfigWarning[] = [];
  for (const key of IGNORED_IN_GLOBAL) {
    if (!g.has(key)) continue;
    if (key === 'dirs') {
      (problems.attempt(() => optTables(g, 'dirs', gAt, DIRS_EXAMPLE), undefined) ?? []).forEach((rawDir, j) => readDir(rawDir, new At(file, `global.dirs[${j}]`), problems));
    } else {
      problems.attempt(() => optString(g, key, gAt), undefined);
    }
    const inherited = 'gitopper inherits only upstream, branch and mount from [global] and ignored it too';
    const fix = key === 'machine' || key === 'service'
      ? `remove it from [global]: every [[services]] entry names its own ${key}`
      : `set ${key} in each [[services]] entry that needs it, and remove it from [global]`;
    warnings.push(gAt.warning(key, `has no effect in [global] (${inherited})`, fix));
  }
  return warnings;
}

/**
 * One `dirs` entry as written (read at `dAt`): `local` and `link` "" when absent, `file` false. Problems go to
 * `problems`; a `local` or `link` that is not a string reads as "?" (no follow-on "is empty").
 */
function readDir(rawDir: Record<string, unknown>, dAt: At, problems: ConfigProblems): DirSpec {
  const d = fields(rawDir, DIR_KEYS, dAt, undefined, problems);
  return {
    local: problems.attempt(() => optString(d, 'local', dAt) ?? '', '?'),
    link: problems.attempt(() => optString(d, 'link', dAt) ?? '', '?'),
    file: problems.attempt(() => optBool(d, 'file', dAt) ?? false, false),
  };
}

function mergeService(raw: Record<string, unknown>, i: number, file: string, global: GlobalSpec, problems: ConfigProblems): ServiceSpec {
  const get = <T>(fn: () => T, fallback: T): T => problems.attempt(fn, fallback);
  const nameKey = Object.keys(raw).find((k) => k.toLowerCase() === 'service');
  const at: At = new At(file, serviceEntry(i, nameKey === undefined ? undefined : raw[nameKey]));
  const s = fields(raw, SERVICE_KEYS, at, SERVICE_HINTS, problems);
  const service = get(() => optString(s, 'service', at), undefined) ?? '';
  const action = get((): Action => {
    const written = optString(s, 'action', at) ?? '';
    const canonical = canonicalAction(written);
    if (canonical === undefined) {
      at.fail('action', `"${written}" is not a systemd action this agent can run (it asks systemd for a job after a change: verbs such as kill, isolate or enable queue none)`,
        `use one of ${ACTIONS.map((a) => JSON.stringify(a)).join(', ')} ("" = change files only), or systemctl's aliases ${Object.keys(ACTION_ALIASES).map((a) => JSON.stringify(a)).join(', ')}; `
        + 'for anything else run a program from the repository after each change: hooks = { post = ["path/in/repo/script.sh"] } (docs/health-and-hooks.md)');
    }
    return canonical;
  }, '');
  const drift = get((): DriftMode => {
    const written = optString(s, 'drift', at) ?? 'report';
    if (!(DRIFT_MODES as readonly string[]).includes(written)) {
      at.fail('drift', `"${written}" is not a drift mode`, 'use drift = "report" (show local edits, the default) or drift = "revert" (restore the deployed files)');
    }
    return written as DriftMode;
  }, 'report');
  const autoRollback = get(() => mergeAutoRollback(s, at), 'freeze');
  const hooks = get(() => hooksTable(s, at), undefined);
  const health = get(() => healthTable(s, at), undefined);
  const dirs = (get(() => optTables(s, 'dirs', at, DIRS_EXAMPLE), undefined) ?? []).map((rawDir, j): DirSpec => readDir(rawDir, new At(file, dirEntry(i, j, service)), problems));
  // the order in which the keys are read is the order their problems are reported in
  const machine = get(() => optString(s, 'machine', at), undefined) ?? '';
  const user = get(() => optString(s, 'user', at), undefined) ?? '';
  const pkg = get(() => optString(s, 'package', at), undefined) ?? '';
  const upstream = orInherit(get(() => optString(s, 'upstream', at), undefined), global.upstream);
  const branch = orInherit(get(() => optString(s, 'branch', at), undefined), global.branch);
  const mount = orInherit(get(() => optString(s, 'mount', at), undefined), global.mount);
  const transport = get(() => serviceTransportKeys(s, at, upstream, global), { tokenFile: undefined });
  const mergedHooks = hooks ? get(() => mergeHooks(hooks, new At(file, `${at.entry}.hooks`)), undefined) : undefined;
  const mergedHealth = health ? get(() => mergeHealth(health, new At(file, `${at.entry}.health`)), undefined) : undefined;
  return {
    index: i,
    machine,
    service,
    action,
    user,
    package: pkg,
    upstream,
    branch,
    mount,
    dirs,
    ...transport,
    drift,
    autoRollback,
    ...(mergedHooks ? { hooks: mergedHooks } : {}),
    ...(mergedHealth ? { health: mergedHealth } : {}),
    ...mergeTrustKeys(s, at, global, problems),
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
 * A `dirs` entry whose `local` is empty or absent is accepted with a warning, as gitopper's `bindmount()`
 * skipped it (server.go): its link is checked out (it goes to the service's `links`) but mounted nowhere.
 * Pure: `file` is only used for messages and to resolve relative paths.
 * @throws ConfigError naming the file, entry, key and the fix.
 */
export function parseConfig(text: string, file: string): ConfigSpec {
  return parseAll(text, file, new ConfigProblems())!;
}

/**
 * {@link parseConfig} with its problems going to `problems`: with `problems.all` every problem is kept
 * there (each entry and key is checked, a wrong value read as absent), in the order {@link parseConfig}
 * meets them, so the first is the one {@link parseConfig} throws; without it the first is thrown. The
 * spec is undefined when the TOML does not parse; when `problems` holds any error it is incomplete and
 * only good for counting.
 */
export function parseAll(text: string, file: string, problems: ConfigProblems): ConfigSpec | undefined {
  const merged = merge(text, file, problems);
  return merged === undefined ? undefined : validate(merged, problems);
}

function validate(merged: ConfigSpec, problems: ConfigProblems): ConfigSpec {
  const { file } = merged;
  const get = <T>(fn: () => T, fallback: T): T => problems.attempt(fn, fallback);
  const warnings: ConfigWarning[] = [...merged.warnings];
  const gAt: At = new At(file, 'global');
  // a [global] that is not a table was reported; its keys are not asked for too
  const keys = problems.has('top level', 'global') ? [] : get(() => resolveKeys(merged.global.keys, file, gAt), []);
  const g = merged.global;
  const global: GlobalSpec = {
    upstream: g.upstream === '' ? '' : get(() => gAt.check('upstream', checkUpstream(g.upstream)), ''),
    branch: get(() => gAt.check('branch', checkBranch(g.branch)), g.branch),
    mount: g.mount === '' ? '' : get(() => gAt.check('mount', checkAbsolute(g.mount, '/var/lib/gitopper')), ''),
    keys,
    ...get(() => resolveTransportKeys(g, file, gAt), { tokenFile: undefined }),
    hookSecretFile: g.hookSecretFile === undefined ? undefined : resolveFromConfig(file, g.hookSecretFile),
    ...resolveTrustKeys(g, file),
  };
  if (global.upstream !== '') get(() => checkTransportFit(global.upstream, global, gAt), undefined);
  // an upstream or mount that [global] gets wrong was reported there, not again as missing in each service
  const badInGlobal = { upstream: problems.has('global', 'upstream'), mount: problems.has('global', 'mount') };
  const unset = (key: 'upstream' | 'mount') => !badInGlobal[key];
  const services = merged.services.map((s): ServiceSpec => {
    const at: At = new At(file, serviceEntry(s.index, s.service));
    const fail = (key: string, problem: string, fix: string) => get(() => at.fail(key, problem, fix), undefined);
    if (s.machine === '') fail('machine', 'is missing or empty', 'set machine to the host name this service runs on (matched against -h/--hosts and the hostname)');
    if (s.service === '') fail('service', 'is missing or empty', 'set service to the systemd unit name, e.g. service = "prometheus"');
    else get(() => at.check('service', checkUnitName(s.service)), undefined);
    if (s.upstream === '' && unset('upstream')) fail('upstream', 'is not set here nor in [global]', 'set upstream = "https://host/owner/repo" in [global] or in this service');
    if (s.mount === '' && unset('mount')) fail('mount', 'is not set here nor in [global]', 'set mount = "/var/lib/gitopper" in [global] or in this service');
    const dirs: DirSpec[] = [];
    const links: string[] = [];
    s.dirs.forEach((d, j) => {
      const dAt = new At(file, dirEntry(s.index, j, s.service));
      if (d.local !== '') {
        dirs.push({ local: get(() => dAt.check('local', checkLocal(d.local)), d.local), link: get(() => dAt.check('link', checkLink(d.link)), d.link), file: d.file });
        return;
      }
      const link = get(() => dAt.check('link', checkLink(d.link)), undefined);
      if (link === undefined) return;
      links.push(link);
      warnings.push(dAt.warning('local', `is empty, so "${link}" is checked out into ${s.mount}/${s.service} but mounted nowhere (gitopper skipped the mount of such an entry too)`,
        'set local to the absolute path on this host where it belongs, e.g. local = "/etc/prometheus"; or remove the entry if nothing reads it there', s.index));
    });
    const upstream = s.upstream === '' ? undefined : get(() => at.check('upstream', checkUpstream(s.upstream)), undefined);
    if (upstream !== undefined) get(() => checkTransportFit(upstream, s, at), undefined);
    return {
      ...s,
      upstream: upstream ?? s.upstream,
      branch: get(() => at.check('branch', checkBranch(s.branch)), s.branch),
      mount: s.mount === '' ? '' : get(() => at.check('mount', checkAbsolute(s.mount, '/var/lib/gitopper')), s.mount),
      dirs,
      ...(links.length > 0 ? { links } : {}),
      ...get(() => resolveTransportKeys(s, file, at), { tokenFile: undefined }),
      ...resolveTrustKeys(s, file),
    };
  });
  return deepFreeze({ file, global, services, notify: merged.notify.map((n) => resolveNotify(n, file)), warnings });
}

/** `value`, with every object and array reachable from it frozen. */
function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
    for (const v of Object.values(value)) deepFreeze(v);
    Object.freeze(value);
  }
  return value;
}
