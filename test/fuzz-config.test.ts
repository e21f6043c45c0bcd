/**
 * Hostile input: the config parser (`parseConfig`, `mergeConfig`, `servicesForHost`) fuzzed with
 * fast-check. Whatever the text, the answer is a ConfigError whose message starts with the file's
 * name and says how to fix it, or a deep-frozen spec that obeys the documented rules; never another
 * exception, never a slow parse. Inputs: arbitrary strings, TOML token soup, valid configs with
 * random edits, and structured documents built from the real key names (random case, values of
 * random type, random nesting, keys that are names of Object.prototype) written as section headers
 * or inline tables.
 *
 * Reproduce a failure: `FUZZ_SEED=<seed printed by the test> node test/run.mjs fuzz-config`.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import fc from 'fast-check';
import { ACTION_ALIASES, ACTIONS, AUTO_ROLLBACK_MODES, ConfigError, DRIFT_MODES, mergeConfig, parseConfig, servicesForHost, type ConfigSpec } from '../src/config/config.js';
import { checkUnitName } from '../src/config/validate.js';

/** The seed of every property of this file: `FUZZ_SEED`, else a fresh one (printed). */
const SEED = process.env.FUZZ_SEED === undefined ? Date.now() ^ (Math.random() * 0x7fffffff) : Number(process.env.FUZZ_SEED);
const RUNS = Number(process.env.FUZZ_RUNS ?? 1);
/** fast-check parameters: the seed, and `n` runs (times FUZZ_RUNS for a longer session). */
const params = (n: number) => ({ seed: SEED, numRuns: Math.round(n * RUNS), includeErrorInReport: true });
/** Longest a single parse may take (a hang or catastrophic backtracking shows up as a failure). */
const SLOW_MS = 2000;

// ------------------------------------------------------------------ the property

/** Every value reachable from `v` is frozen. */
function deepFrozen(v: unknown, where = 'spec'): void {
  if (typeof v !== 'object' || v === null) return;
  assert.ok(Object.isFrozen(v), `${where} is not frozen`);
  for (const [k, x] of Object.entries(v)) deepFrozen(x, `${where}.${k}`);
}

/** The documented guarantees of a spec that parseConfig returned. */
function validSpec(spec: ConfigSpec, file: string): void {
  deepFrozen(spec);
  assert.equal(spec.file, file);
  for (const w of spec.warnings) {
    assert.ok(w.message.startsWith(`${file}: `) && w.data.fix !== undefined && w.message.endsWith(`Fix: ${w.data.fix}`), w.message);
    assert.ok(w.service === undefined || spec.services.some((s) => s.index === w.service), `warning about services[${w.service}]`);
  }
  assert.ok(spec.global.keys.length > 0, 'at least one key');
  for (const k of spec.global.keys) assert.ok(path.posix.isAbsolute(k.path) && typeof k.ro === 'boolean', `key ${JSON.stringify(k)}`);
  for (const s of spec.services) {
    assert.ok(s.machine !== '', 'machine set');
    assert.equal(checkUnitName(s.service), s.service, `service name ${JSON.stringify(s.service)}`);
    assert.ok((ACTIONS as readonly string[]).includes(s.action), `action ${s.action}`);
    assert.ok((DRIFT_MODES as readonly string[]).includes(s.drift), `drift ${s.drift}`);
    assert.ok(s.autoRollback === undefined || (AUTO_ROLLBACK_MODES as readonly string[]).includes(s.autoRollback));
    assert.ok(s.upstream !== '' && path.posix.isAbsolute(s.mount), `upstream ${s.upstream}, mount ${s.mount}`);
    assert.ok(typeof s.branch === 'string' && s.branch !== '');
    for (const d of s.dirs) {
      assert.ok(path.posix.isAbsolute(d.local) && d.local !== '/', `local ${d.local}`);
      assert.ok(d.link !== '' && !path.posix.isAbsolute(d.link) && !d.link.split('/').includes('..'), `link ${d.link}`);
    }
    // links of dirs without local: checked out, never mounted; as safe as a mounted link
    for (const l of s.links ?? []) assert.ok(l !== '' && l !== '.' && !path.posix.isAbsolute(l) && !l.split('/').includes('..'), `unmounted link ${l}`);
    for (const h of [...(s.hooks?.pre ?? []), ...(s.hooks?.post ?? [])]) assert.ok(!path.posix.isAbsolute(h) && !h.split('/').includes('..'), `hook ${h}`);
    if (s.hooks) assert.ok(s.hooks.timeoutSeconds > 0);
    if (s.health) {
      assert.ok(s.health.timeoutSeconds > 0 && s.health.graceSeconds > 0);
      assert.ok(Number.isInteger(s.health.retries) && s.health.retries >= 1 && s.health.retries <= 100, `retries ${s.health.retries}`);
      if (s.health.exec) assert.ok(s.health.exec.length > 0 && s.health.exec[0]!.startsWith('/'));
    }
  }
}

/** A ConfigError that is clear: names the file first, has a plain-text fix, no leaked object text. */
function clearError(err: unknown, file: string): void {
  if (!(err instanceof ConfigError)) throw new Error(`not a ConfigError: ${err instanceof Error ? `${err.name}: ${err.message}` : String(err)}`, { cause: err });
  assert.equal(err.code, 'CONFIG');
  assert.equal(err.data.file, file);
  assert.ok(err.message.startsWith(`${file}: `), err.message);
  assert.equal(typeof err.data.fix, 'string', `fix is a ${typeof err.data.fix}: ${err.message}`);
  assert.ok(err.data.fix!.length > 0 && err.message.endsWith(`Fix: ${err.data.fix}`), err.message);
  assert.doesNotMatch(err.message, /\[native code\]|\[object \w+\]|^undefined|: undefined\b/, err.message);
}

/** Counts of outcomes, so a test can show its inputs reached validation. */
interface Tally {
  valid: number;
  refused: number;
}

/** Runs the parser on `text` as `file` and checks the property; counts the outcome. */
function check(text: string, file: string, tally: Tally, hosts: readonly string[] = ['web1']): void {
  const start = performance.now();
  for (const parse of [mergeConfig, parseConfig]) {
    let spec: ConfigSpec | undefined;
    try {
      spec = parse(text, file);
    } catch (err) {
      clearError(err, file);
    }
    if (spec !== undefined && parse === mergeConfig) deepFrozen(spec);
    if (spec !== undefined && parse === parseConfig) {
      validSpec(spec, file);
      try {
        const mine = servicesForHost(spec, hosts);
        assert.ok(mine.every((s) => hosts.includes(s.machine)));
      } catch (err) {
        clearError(err, file);
      }
      tally.valid++;
    } else if (parse === parseConfig) tally.refused++;
  }
  const ms = performance.now() - start;
  assert.ok(ms < SLOW_MS, `parsing took ${ms.toFixed(0)} ms`);
}

// ------------------------------------------------------------------ generators

const FILES = fc.constantFrom('/etc/gitopper/config.toml', 'config.toml', '/tmp/with space/c.toml', 'rel/dir/ünï.toml', '/');

/** A name in random letter case (gitopper's keys are case-insensitive). */
const randomCase = (name: string): fc.Arbitrary<string> =>
  fc.array(fc.boolean(), { minLength: name.length, maxLength: name.length }).map((up) => [...name].map((c, i) => (up[i] ? c.toUpperCase() : c)).join(''));

/** Keys that are not config keys: Object.prototype's names, near misses, anything. */
const ODD_KEYS = fc.oneof(
  fc.constantFrom('constructor', '__proto__', 'toString', 'hasOwnProperty', 'valueOf', 'prototype', 'keys', 'Keys', 'upstreams', 'service ', ' path', '', 'global', 'services', '0', '-'),
  fc.string({ maxLength: 12 }),
);

/** A string value that is often almost right. */
const STR = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom('', '/', '.', '..', '/var/lib/gitopper', '/etc/prometheus', 'prometheus/etc', '../etc', './a/b/', 'a//b', '/a/../b', 'keys/op.pub',
    'https://git.example.org/ops/config', 'http://h/r', 'https://u:p@h/r', 'git@host:ops/c.git', '-oProxyCommand=x:r', 'ssh://git@h:0/r', 'ssh://h:99999/r', 'ssh://u:pw@h/r',
    'file:///srv/git/c.git', 'file://other/x', 'git://h/r', 'ftp://h/r', '[::1]:r', 'h:', ':', '@:', 'main', '-main', 'a..b', 'a.lock', 'refs/heads/x', 'x y',
    'reload', 'restart', 'RELOAD', 'stop', 'report', 'revert', 'freeze', 'retry-next-commit', '30s', '0s', '-1s', '1h30m', '5', '1.5h', 'µs', '9999999999999h',
    'web1', 'grafana-server', 'docker-compose@caddy', 'a/b', 'é', 'a\\b', '/usr/bin/curl -fsS', ' ', '%h', 'x"y', '\u0000', '\n', '\u202e', '\ud800', '😀') },
  { weight: 1, arbitrary: fc.string({ unit: 'binary', maxLength: 40 }) },
  { weight: 1, arbitrary: fc.string({ unit: 'grapheme-ascii', maxLength: 300 }) },
);

/** A TOML value of any type, nested at most a few levels. */
const { value: ANY } = fc.letrec((tie) => ({
  value: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    STR,
    fc.integer({ min: -5, max: 200 }),
    fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n }),
    fc.double(),
    fc.boolean(),
    fc.date({ min: new Date(0), max: new Date('2999-12-31'), noInvalidDate: true }),
    fc.array(tie('value'), { maxLength: 3 }),
    fc.dictionary(fc.oneof(ODD_KEYS, STR), tie('value'), { maxKeys: 3 }),
  ),
}));

/** `arb` with probability `p`, else null. */
const maybe = <T>(arb: fc.Arbitrary<T>, p: number): fc.Arbitrary<T | null> =>
  fc.oneof({ weight: Math.round(p * 100), arbitrary: arb }, { weight: Math.round((1 - p) * 100), arbitrary: fc.constant(null) });

/**
 * A table holding some of `keys` (random case; values mostly from the key's arbitrary, sometimes
 * of any type), now and then an odd key. Keys named in `usual` are there 9 times out of 10.
 */
function table(keys: Record<string, fc.Arbitrary<unknown>>, usual: readonly string[] = []): fc.Arbitrary<Record<string, unknown>> {
  const entries = Object.entries(keys).map(([k, v]) => maybe(fc.tuple(randomCase(k), fc.oneof({ weight: 8, arbitrary: v }, { weight: 1, arbitrary: ANY })), usual.includes(k) ? 0.9 : 0.4));
  return fc.tuple(fc.tuple(...entries), maybe(fc.tuple(ODD_KEYS, ANY), 0.05)).map(([list, odd]) => {
    const out: Record<string, unknown> = {};
    for (const e of [...list, odd]) if (e != null) Object.defineProperty(out, e[0], { value: e[1], enumerable: true, configurable: true, writable: true });
    return out;
  });
}

const bool = fc.boolean();
/** Mostly one of `good`, sometimes any string. */
const mostly = (...good: string[]) => fc.oneof({ weight: 4, arbitrary: fc.constantFrom(...good) }, { weight: 1, arbitrary: STR });
const strings = fc.array(STR, { maxLength: 3 });
const KEY = table({ path: mostly('keys/op.pub', '/etc/gitopper/ci.pub'), ro: bool }, ['path']);
const DIR = table({ local: mostly('/etc/prometheus', '/etc/x/y.conf'), link: mostly('prometheus/etc', 'a/b.conf'), file: bool }, ['local', 'link']);
const duration = mostly('30s', '1m', '0s', '1.5h', '10ms');
const HOOKS = table({ pre: fc.array(mostly('ci/check.sh'), { maxLength: 2 }), post: strings, timeout: duration });
const HEALTH = table({
  exec: fc.oneof(mostly('/usr/bin/true -x', ''), fc.array(mostly('/bin/check', 'arg'), { maxLength: 3 })), http: mostly('http://127.0.0.1:3000/health', 'https://h/'), timeout: duration,
  retries: fc.oneof(fc.integer({ min: -1, max: 101 }), fc.bigInt(), fc.double()), grace: duration,
});
const GLOBAL = table({
  upstream: mostly('https://git.example.org/ops/config', 'git@git.example.org:ops/config.git', '/srv/git/config.git'), branch: mostly('main', 'release/1'),
  mount: mostly('/var/lib/gitopper'), keys: fc.array(KEY, { minLength: 1, maxLength: 3 }), token_file: mostly('', 'token'), ssh_key: mostly('', 'deploy_key'),
  known_hosts: mostly('', '/etc/ssh/known'), hook_secret_file: STR,
}, ['upstream', 'mount', 'keys']);
const SERVICE = table({
  machine: fc.constantFrom('web1', 'web2', ''), service: mostly('prometheus', 'docker-compose@caddy'), action: mostly(...ACTIONS), user: STR, package: STR,
  upstream: mostly('', 'https://git.example.org/ops/config', 'git@git.example.org:ops/config.git', '/srv/git/config.git'), branch: mostly('', 'main', 'release/1'),
  mount: mostly('', '/var/lib/gitopper', '/srv/x/'), dirs: fc.array(DIR, { maxLength: 3 }), token_file: mostly('', 'token'), ssh_key: mostly('', 'deploy_key'),
  known_hosts: mostly('', '/etc/ssh/known'), drift: mostly(...DRIFT_MODES), hooks: HOOKS, health: HEALTH,
  auto_rollback: mostly(...AUTO_ROLLBACK_MODES),
}, ['machine', 'service']);
/** A whole document: `global` and `services` (random case, sometimes of the wrong type), maybe an odd top-level key. */
const DOC = table({ global: GLOBAL, services: fc.oneof({ weight: 6, arbitrary: fc.array(SERVICE, { maxLength: 3 }) }, { weight: 1, arbitrary: SERVICE }) }, ['global', 'services']);

/** A TOML basic string (control characters escaped; anything else as is, lone surrogates included). */
function tomlString(s: string): string {
  // eslint-disable-next-line no-control-regex
  return `"${s.replace(/[\\"\x00-\x1f\x7f]/g, (c) => (c === '\\' || c === '"' ? `\\${c}` : `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`))}"`;
}

const tomlKey = (k: string) => (/^[A-Za-z0-9_-]+$/.test(k) ? k : tomlString(k));
const isTableValue = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof Date);

/** A value as inline TOML. */
function inline(v: unknown): string {
  if (typeof v === 'string') return tomlString(v);
  if (typeof v === 'bigint' || typeof v === 'boolean') return String(v);
  if (typeof v === 'number') {
    if (Number.isNaN(v)) return 'nan';
    if (!Number.isFinite(v)) return v > 0 ? 'inf' : '-inf';
    return Number.isInteger(v) && !Object.is(v, -0) ? String(v) : /[.e]/.test(String(v)) ? String(v) : `${String(v)}.0`;
  }
  if (v instanceof Date) return v.toISOString();
  if (Array.isArray(v)) return `[${v.map(inline).join(', ')}]`;
  if (isTableValue(v)) return `{ ${Object.entries(v).map(([k, x]) => `${tomlKey(k)} = ${inline(x)}`).join(', ')} }`;
  return String(v);
}

/**
 * A document as TOML: with `sections`, tables become `[name]` / `[[name]]` sections (sub-tables of
 * them too, as `[a.b]` / `[[a.b]]`); otherwise everything is an inline value.
 */
function toToml(doc: Record<string, unknown>, sections: readonly boolean[]): string {
  let n = 0;
  const useSection = () => sections[n++ % Math.max(1, sections.length)] ?? false;
  const lines: string[] = [];
  const later: (() => void)[] = [];
  const body = (prefix: string, t: Record<string, unknown>) => {
    for (const [k, v] of Object.entries(t)) {
      const name = prefix === '' ? tomlKey(k) : `${prefix}.${tomlKey(k)}`;
      if (isTableValue(v) && useSection()) {
        later.push(() => {
          lines.push(`[${name}]`);
          body(name, v);
        });
      } else if (Array.isArray(v) && v.length > 0 && v.every(isTableValue) && useSection()) {
        later.push(() => {
          for (const e of v) {
            lines.push(`[[${name}]]`);
            body(name, e);
          }
        });
      } else {
        lines.push(`${tomlKey(k)} = ${inline(v)}`);
      }
    }
    // sub-sections of this table follow its own key/value lines
    const mine = later.splice(0);
    for (const f of mine) f();
  };
  body('', doc);
  return `${lines.join('\n')}\n`;
}

/** A valid config, for mutation. */
const VALID = `[global]
upstream = "https://git.example.org/ops/config"
mount = "/var/lib/gitopper"
keys = [{ path = "keys/op.pub" }, { path = "/etc/gitopper/ci.pub", ro = true }]

[[services]]
machine = "web1"
service = "prometheus"
action = "reload"
user = "prometheus"
dirs = [{ local = "/etc/prometheus", link = "prometheus/etc" }, { local = "/etc/default/prometheus", link = "prometheus/default", file = true }]
hooks = { pre = ["ci/check.sh"], timeout = "10s" }
health = { http = "http://127.0.0.1:9090/-/ready", retries = 3, grace = "1s" }

[[services]]
machine = "web1"
service = "docker-compose@caddy"
upstream = "git@git.example.org:ops/caddy.git"
ssh_key = "/etc/gitopper/deploy_key"
drift = "revert"
auto_rollback = "retry-next-commit"
`;

const TOKENS = ['[', ']', '[[', ']]', '{', '}', '=', '"', "'", '"""', "'''", '\n', ' ', ',', '.', '#', '\\', '\\u', 'global', 'services', 'keys', 'path', 'ro', 'dirs', 'local', 'link',
  'machine', 'service', 'upstream', 'mount', 'health', 'hooks', 'retries', 'true', 'false', 'inf', 'nan', '-0', '0x1F', '0o7', '0b1', '1e400', '99999999999999999999', '1_000',
  '1979-05-27T07:32:00Z', '07:32:00', '1979-05-27', '"/var/lib/gitopper"', '"https://h/r"', '"x"', '\r\n', '\t', '\u0000', '\ufeff', '😀'];

// ------------------------------------------------------------------ tests

test(`config fuzz (seed ${SEED}): arbitrary strings → a clear ConfigError or a valid spec`, () => {
  console.log(`fuzz-config: seed ${SEED} (reproduce with FUZZ_SEED=${SEED})`);
  const tally: Tally = { valid: 0, refused: 0 };
  fc.assert(fc.property(fc.string({ unit: 'binary', maxLength: 400 }), FILES, (text, file) => check(text, file, tally)), params(400));
  fc.assert(fc.property(fc.array(fc.constantFrom(...TOKENS), { maxLength: 80 }).map((t) => t.join('')), FILES, (text, file) => check(text, file, tally)), params(800));
});

test(`config fuzz (seed ${SEED}): a valid config with random edits`, () => {
  const tally: Tally = { valid: 0, refused: 0 };
  check(VALID, 'c.toml', tally);
  assert.equal(tally.valid, 1, 'the base config is valid');
  const edit = fc.tuple(fc.nat(VALID.length), fc.nat(8), fc.oneof(fc.constantFrom(...TOKENS), fc.string({ unit: 'binary', maxLength: 4 })));
  fc.assert(
    fc.property(fc.array(edit, { minLength: 1, maxLength: 4 }), FILES, (edits, file) => {
      let text = VALID;
      for (const [at, del, ins] of edits) text = text.slice(0, at) + ins + text.slice(at + del);
      check(text, file, tally);
    }),
    params(800),
  );
  assert.ok(tally.valid > 0, `some edited configs stay valid (${JSON.stringify(tally)})`);
});

test(`config fuzz (seed ${SEED}): structured documents from the real key names, random case, types and nesting`, () => {
  const tally: Tally = { valid: 0, refused: 0 };
  fc.assert(
    fc.property(DOC, fc.array(fc.boolean(), { maxLength: 8 }), FILES, (doc, sections, file) => {
      const text = toToml(doc, sections);
      check(text, file, tally);
    }),
    params(1500),
  );
  console.log(`fuzz-config: structured documents: ${JSON.stringify(tally)}`);
});

test(`config fuzz (seed ${SEED}): near-valid documents (plausible values only) reach the semantic rules, some pass`, () => {
  const tally: Tally = { valid: 0, refused: 0 };
  const plausible = fc.record({
    global: fc.record({
      upstream: fc.constantFrom('https://git.example.org/ops/config', 'git@h:o/r.git', '/srv/git/c.git', 'https://u:p@h/r', ''),
      mount: fc.constantFrom('/var/lib/gitopper', 'rel', '/'),
      keys: fc.array(fc.record({ path: fc.constantFrom('keys/op.pub', '/k.pub', ''), ro: fc.boolean() }), { maxLength: 2 }),
    }),
    services: fc.array(
      fc.record({
        machine: fc.constantFrom('web1', 'web2', ''),
        service: fc.constantFrom('prometheus', 'docker-compose@caddy', 'a/b', '..', 'x'.repeat(256), ''),
        action: fc.constantFrom(...ACTIONS, ...Object.keys(ACTION_ALIASES), 'RELOAD', 'kill'),
        dirs: fc.array(fc.record({ local: fc.constantFrom('/etc/p', '/etc/p/', '/', 'etc', ''), link: fc.constantFrom('p/etc', '../x', '.', '/abs', ''), file: fc.boolean() }), { maxLength: 2 }),
      }, { requiredKeys: ['machine', 'service'] }),
      { maxLength: 3 },
    ),
  });
  fc.assert(fc.property(plausible, fc.array(fc.boolean(), { maxLength: 4 }), (doc, sections) => check(toToml(doc, sections), '/etc/gitopper/config.toml', tally, ['web1', 'web2'])), params(800));
  console.log(`fuzz-config: near-valid documents: ${JSON.stringify(tally)}`);
  assert.ok(tally.valid >= 20, `enough inputs are valid to exercise servicesForHost (${JSON.stringify(tally)})`);
});

test('config fuzz: large inputs parse (or fail) quickly', () => {
  const tally: Tally = { valid: 0, refused: 0 };
  const big = [
    'a = ' + '['.repeat(20_000),
    'a = ' + '{ b = '.repeat(5_000),
    `${VALID}\n${'# comment\n'.repeat(20_000)}`,
    `[global]\nupstream = "${'a@'.repeat(20_000)}:"`,
    `[global]\nkeys = [{ path = "k" }]\nupstream = "https://h/r"\nmount = "/m"\n[[services]]\nmachine = "m"\nservice = "s"\nupstream = "${'@'.repeat(30_000)}"`,
    `[global]\nkeys = [{ path = "k" }]\nupstream = "https://h/r"\nmount = "/m"\n[[services]]\nmachine = "m"\nservice = "s"\nbranch = "${'a/.'.repeat(20_000)}"`,
    `[global]\nkeys = [{ path = "k" }]\nupstream = "https://h/r"\nmount = "/m"\n[[services]]\nmachine = "m"\nservice = "s"\nhooks = { timeout = "${'1'.repeat(50_000)}x" }`,
    `[global]\nkeys = [${'{ path = "k" }, '.repeat(5_000)}]`,
    `${'[[services]]\n'.repeat(5_000)}`,
  ];
  for (const text of big) check(text, 'big.toml', tally);
});

test('found by fuzzing: a key named like an Object.prototype member, and an integer beyond 2^53, are clear ConfigErrors', () => {
  const tally: Tally = { valid: 0, refused: 0 };
  const base = '[global]\nkeys = [{ path = "k.pub" }]\nupstream = "https://h/r"\nmount = "/m"\n';
  for (const text of ['constructor = ""', '[global]\n__proto__ = 1', `${base}[[services]]\nmachine = "web1"\nservice = "s"\nhealth = { retries = 9007199254740993 }`]) {
    check(text, 'c.toml', tally);
  }
  assert.throws(() => parseConfig('constructor = ""', 'c.toml'), /top level: key "constructor": unknown key\. Fix: remove it or correct its spelling; allowed keys here: global, services, notify$/);
  assert.throws(() => parseConfig(`${base}[[services]]\nmachine = "web1"\nservice = "s"\nhealth = { retries = 9007199254740993 }`, 'c.toml'), /key "retries": expected a whole number from 1 to 100, got 9007199254740993\. Fix/);
});
