/**
 * `gitopper --check`, `--version` and `--log-format` (issue "The operator's everyday"):
 *  - the config parser collects every problem when asked (ConfigProblems with `all`), the first being
 *    the one a plain parse throws, one per entry and key;
 *  - `gitopper --check` on every fixture of test/fixtures/configs: exit 0 for the valid ones, 1 naming
 *    file, key and fix for the others (several problems at once); nothing created (no state dir), no
 *    bus needed (`--user` without DBUS_SESSION_BUS_ADDRESS), not root needed; `-U` with and without a checkout;
 *  - `gitopper --version`/`-v` prints package.json's version;
 *  - the log format: auto + a terminal → pretty, auto + no terminal → JSON, the flag wins; a pretty
 *    line holds the level and message; JSON lines are unchanged.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { ConfigError, ConfigProblems, parseAll, parseConfig } from '../src/config/config.js';
import { FlagError, parseDaemonFlags } from '../src/daemon/flags.js';
import { chooseLogFormat, createLogger } from '../src/telemetry/log.js';

const FIXTURES = path.resolve('test', 'fixtures', 'configs');
const program = path.resolve('dist', 'cmd', 'gitopper.js');
const VERSION = (JSON.parse(readFileSync('package.json', 'utf8')) as { version: string }).version;

/** Runs gitopper with `args` and an environment without a session bus or journal. */
function run(args: readonly string[], env: NodeJS.ProcessEnv = {}) {
  const clean = Object.fromEntries(Object.entries(process.env).filter(([k]) => !['DBUS_SESSION_BUS_ADDRESS', 'JOURNAL_STREAM', 'NOTIFY_SOCKET'].includes(k)));
  return spawnSync(process.execPath, [program, ...args], { encoding: 'utf8', timeout: 30_000, env: { ...clean, ...env } });
}

describe('the parser collects every problem', () => {
  const text = `[global]
upstream = "https://git.example.net/ops/config.git"
mount = "/srv/gitopper"
keys = [{ path = "keys/a.pub", ro = "yes" }]
colour = "blue"

[[services]]
machine = "web1"
service = "nginx"
action = "explode"
drift = "ignore"
dirs = [{ local = "etc/nginx", link = "../nginx" }]

[[services]]
service = "caddy"
brokenbranch = "main"
upstream = "git://example.net/x"
`;
  const all = new ConfigProblems(true);
  parseAll(text, '/etc/gitopper/config.toml', all);
  const messages = all.errors.map((e) => e.message);

  test('every entry and key, each once, the first being what a plain parse throws', () => {
    const places = all.errors.map((e) => `${e.data.entry} ${e.data.key}`);
    assert.deepEqual(places, [
      'global colour',
      'global.keys[0] ro',
      'services[0] "nginx" action',
      'services[0] "nginx" drift',
      'services[1] "caddy" brokenbranch',
      'services[0].dirs[0] (service "nginx") local',
      'services[0].dirs[0] (service "nginx") link',
      'services[1] "caddy" machine',
      'services[1] "caddy" upstream',
    ], messages.join('\n'));
    assert.throws(() => parseConfig(text, '/etc/gitopper/config.toml'), (e: unknown) => e instanceof ConfigError && e.message === messages[0]);
    for (const m of messages) assert.match(m, /^\/etc\/gitopper\/config\.toml: .*key ".*": .*\. Fix: /);
  });

  test('without `all` the first problem is thrown at once', () => {
    assert.throws(() => parseAll(text, 'c.toml', new ConfigProblems()), (e: unknown) => e instanceof ConfigError && /key "colour": unknown key/.test(e.message));
  });

  test('a TOML syntax error is the only problem (nothing else can be read)', () => {
    const p = new ConfigProblems(true);
    assert.equal(parseAll('[global\nkeys = 1', 'c.toml', p), undefined);
    assert.equal(p.errors.length, 1);
    assert.match(p.errors[0]!.message, /TOML syntax error/);
  });

  test('a [global] value that is wrong is reported there, not again as missing in each service', () => {
    const p = new ConfigProblems(true);
    parseAll('[global]\nkeys = [{ path = "k.pub" }]\nupstream = 5\nmount = "/m"\n[[services]]\nmachine = "a"\nservice = "s"\n[[services]]\nmachine = "a"\nservice = "t"\n', 'c.toml', p);
    assert.deepEqual(p.errors.map((e) => `${e.data.entry} ${e.data.key}`), ['global upstream']);
  });
});

describe('gitopper --check', () => {
  const tmp = mkdtempSync(path.join(os.tmpdir(), 'gitopper-check-'));
  const state = path.join(tmp, 'state');
  // --user without DBUS_SESSION_BUS_ADDRESS: the daemon would refuse; --check never touches the bus
  const check = (...args: string[]) => run(['--check', '--user', '--state-dir', state, '-h', 'localhost', ...args]);
  const expected: Record<string, { code: number; out?: RegExp; errors?: RegExp[] }> = {
    'annotated.toml': { code: 0, out: /^config OK: 0 services for this host \(localhost, .*\), 1 in the file\n$/ },
    'canary-override.toml': { code: 1, errors: [/: global: key "keys": at least one public key should be specified\. Fix: /] },
    'config-repo.toml': { code: 0, out: /^config OK: 0 services .*, 1 in the file\n$/ },
    'gitopper-accepted.toml': { code: 0, out: /^config OK: 2 services for this host .*, 3 in the file; 5 warnings\n$/ },
    'legacy-keys-table.toml': { code: 1, errors: [/: top level: key "keys": a top-level \[keys\] table is the old .*\. Fix: move them into \[global\]/, /: global: key "keys": at least one public key/] },
    'quickstart.toml': { code: 0, out: /^config OK: 1 service for this host \(localhost, .*\), 1 in the file\n$/ },
    'root-config.toml': { code: 0, out: /^config OK: 1 service for this host .*, 2 in the file\n$/ },
    'unknown-key.toml': { code: 1, errors: [/: services\[0\] "node-exporter": key "brokenbranch": unknown key\. Fix: /, /: global: key "keys": at least one public key/] },
  };

  test('every fixture has an expectation', () => {
    assert.deepEqual(readdirSync(FIXTURES).filter((f) => f.endsWith('.toml')).sort(), Object.keys(expected).sort());
  });

  for (const [name, want] of Object.entries(expected)) {
    test(`${name}: exit ${want.code}`, () => {
      const file = path.join(FIXTURES, name);
      const r = check('-c', file);
      assert.equal(r.status, want.code, r.stderr);
      if (want.out) assert.match(r.stdout, want.out);
      if (want.errors) {
        const lines = r.stderr.split('\n').filter((l) => l !== '');
        assert.equal(lines.length, want.errors.length, r.stderr);
        want.errors.forEach((re, i) => {
          assert.ok(lines[i]!.startsWith(`gitopper: ${file}: `), lines[i]);
          assert.match(lines[i]!, re);
        });
        assert.equal(r.stdout, `config invalid: ${want.errors.length} error${want.errors.length === 1 ? '' : 's'} in ${file}\n`);
      }
      assert.equal(existsSync(state), false, 'no state dir');
    });
  }

  test('warnings are printed in the daemon\'s format, after "warning:"', () => {
    const r = check('-c', path.join(FIXTURES, 'gitopper-accepted.toml'));
    const warnings = r.stderr.split('\n').filter((l) => l !== '');
    assert.equal(warnings.length, 5);
    for (const w of warnings) assert.match(w, /^gitopper: warning: \/.*gitopper-accepted\.toml: .*key "(action|user|package|local)": .*\. Fix: /);
  });

  test('the example config (config/config.toml, the README\'s) passes', () => {
    const r = run(['--check', '-c', 'config/config.toml']);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /^config OK: 0 services for this host \(.*\), 2 in the file\n$/);
  });

  test('an unreadable file: exit 1, naming it', () => {
    const r = check('-c', path.join(tmp, 'missing.toml'));
    assert.equal(r.status, 1);
    assert.match(r.stderr, /^gitopper: cannot read config .*missing\.toml: ENOENT/);
  });

  test('-U: the checked-out config when it is there; never a fetch when it is not', () => {
    const mount = path.join(tmp, 'boot');
    const args = ['-U', 'https://git.invalid/ops/config.git', '-M', mount];
    let r = check(...args);
    assert.equal(r.status, 1);
    assert.match(r.stderr, /not there: the self-bootstrap checkout of https:\/\/git\.invalid\/ops\/config\.git .* --check does not fetch\. Fix: /);
    assert.equal(existsSync(mount), false, 'nothing checked out');
    mkdirSync(path.join(mount, 'gitopper', 'gitopper'), { recursive: true });
    writeFileSync(path.join(mount, 'gitopper', 'gitopper', 'config.toml'), readFileSync(path.join(FIXTURES, 'quickstart.toml')));
    r = check(...args);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /^config OK: 1 service \(and the self-bootstrap service gitopper\) for this host/);
    r = check('-U', 'https://git.invalid/x.git');
    assert.equal(r.status, 1);
    assert.match(r.stderr, /-U needs -M/);
    assert.equal(existsSync(state), false);
  });

  test('cleanup', () => rmSync(tmp, { recursive: true, force: true }));
});

describe('gitopper --version', () => {
  for (const flag of ['--version', '-v']) {
    test(`${flag}: "gitopper <package.json version>", exit 0, no -c needed`, () => {
      const r = run([flag]);
      assert.equal(r.status, 0, r.stderr);
      assert.equal(r.stdout, `gitopper ${VERSION}\n`);
    });
  }
});

describe('--log-format', () => {
  test('flag: default auto; json, pretty; anything else a FlagError', () => {
    assert.equal(parseDaemonFlags(['-c', 'x']).logFormat, 'auto');
    assert.equal(parseDaemonFlags(['-c', 'x', '--log-format', 'json']).logFormat, 'json');
    assert.equal(parseDaemonFlags(['-c', 'x', '--log-format=pretty']).logFormat, 'pretty');
    assert.throws(() => parseDaemonFlags(['-c', 'x', '--log-format', 'text']), (e: unknown) => e instanceof FlagError && /--log-format text: use json, pretty or auto/.test(e.message));
    assert.equal(parseDaemonFlags(['-v']).version, true);
    assert.equal(parseDaemonFlags(['--check', '-c', 'x']).check, true);
  });

  test('auto: pretty on a terminal, JSON elsewhere; an explicit format wins', () => {
    assert.equal(chooseLogFormat('auto', true), 'pretty');
    assert.equal(chooseLogFormat('auto', false), 'json');
    assert.equal(chooseLogFormat('json', true), 'json');
    assert.equal(chooseLogFormat('pretty', false), 'pretty');
  });

  const capture = (format: 'json' | 'pretty', journal = false) => {
    const chunks: string[] = [];
    const out = new Writable({ write(c: Buffer | string, _e, cb) { chunks.push(c.toString()); cb(); } });
    const log = createLogger(false, out, journal, format);
    log.child({ component: 'tracker' }).warn({ service: 'grafana', state: 'BROKEN' }, 'state');
    log.info('ready');
    return chunks.join('');
  };

  test('a pretty line holds the level, the message and the fields; no JSON object per line', () => {
    const lines = capture('pretty').split('\n').filter(Boolean);
    assert.equal(lines.length, 2);
    assert.match(lines[0]!, /^\[\d\d:\d\d:\d\d\.\d{3}\] WARN: state \{.*"component":"tracker".*"service":"grafana".*"state":"BROKEN".*\}$/);
    assert.match(lines[1]!, /^\[\d\d:\d\d:\d\d\.\d{3}\] INFO: ready$/);
    assert.doesNotMatch(lines[0]!, /\x1b\[/, 'no colours when the destination is not a terminal');
  });

  test('the daemon: JSON on a pipe by default, pretty with --log-format pretty', () => {
    const tmp = mkdtempSync(path.join(os.tmpdir(), 'gitopper-logfmt-'));
    try {
      const args = ['-c', path.join(FIXTURES, 'annotated.toml'), '-o=false', '--state-dir', path.join(tmp, 's')];
      const json = run(args);
      assert.equal(json.status, 0, json.stderr);
      assert.equal((JSON.parse(json.stdout.trim()) as { msg: string }).msg, 'no services for this host in the config: nothing to do');
      const pretty = run([...args, '--log-format', 'pretty']);
      assert.equal(pretty.status, 0, pretty.stderr);
      assert.match(pretty.stdout, /^\[[\d:.]+\] INFO: no services for this host in the config: nothing to do \{"hosts":/);
    } finally {
      rmSync(tmp, { recursive: true, force: true });
    }
  });

  test('JSON: unchanged (pino\'s lines, and with journal the <N> prefix)', () => {
    const json = capture('json').split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>);
    assert.deepEqual(json.map((l) => [l.level, l.msg, l.component]), [[40, 'state', 'tracker'], [30, 'ready', undefined]]);
    assert.deepEqual(capture('json', true).split('\n').filter(Boolean).map((l) => l.slice(0, 4)), ['<4>{', '<6>{']);
  });
});
