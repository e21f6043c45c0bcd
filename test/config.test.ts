/**
 * config.ts: config files of every shape gitopper's format allows (test/fixtures/configs, see its
 * README.md for what each must give) and every validation rule.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ACTIONS, ConfigError, mergeConfig, parseConfig, servicesForHost, type ConfigSpec } from '../src/config/config.js';

/** test/fixtures/configs in the source tree (this file runs as dist/test/config.test.js). */
const FIXTURES = fileURLToPath(new URL('../../test/fixtures/configs/', import.meta.url));
const FILE = '/etc/gitopper/config.toml';

function fixture(name: string): { text: string; file: string } {
  const file = path.join(FIXTURES, name);
  return { text: fs.readFileSync(file, 'utf8'), file };
}

const GLOBAL = `[global]
upstream = "https://git.example.org/ops/config"
mount = "/var/lib/gitopper"
keys = [{ path = "keys/op.pub" }]
`;

/** A `[[services]]` entry for machine web1, service caddy, plus `extra` lines. */
function svc(extra = '', service = 'caddy', machine = 'web1'): string {
  return `\n[[services]]\nmachine = ${JSON.stringify(machine)}\nservice = ${JSON.stringify(service)}\n${extra}\n`;
}

function parse(text: string, file = FILE): ConfigSpec {
  return parseConfig(text, file);
}

/** Runs `fn`, asserts it throws a ConfigError located at `entry`/`key`, whose message matches every `match`. */
function configError(fn: () => unknown, want: { entry?: string; key?: string; match?: readonly RegExp[] }): ConfigError {
  let caught: unknown;
  try {
    fn();
  } catch (err) {
    caught = err;
  }
  assert.ok(caught instanceof ConfigError, `expected a ConfigError, got ${String(caught)}`);
  assert.equal(caught.code, 'CONFIG');
  assert.ok(caught.message.startsWith(`${caught.data.file}: `), caught.message);
  if (want.entry !== undefined) {
    assert.equal(caught.data.entry, want.entry);
    assert.ok(caught.message.includes(want.entry), caught.message);
  }
  if (want.key !== undefined) {
    assert.equal(caught.data.key, want.key);
    assert.ok(caught.message.includes(`key "${want.key}"`), caught.message);
  }
  assert.ok(caught.data.fix !== undefined && caught.data.fix.length > 0, 'every error says how to fix it');
  assert.ok(caught.message.includes(`Fix: ${caught.data.fix}`), caught.message);
  for (const re of want.match ?? []) assert.match(caught.message, re);
  return caught;
}

// ---------------------------------------------------------------- fixtures: whole config files

test('fixture root-config.toml: valid, relative keys resolved against the config directory', () => {
  const { text, file } = fixture('root-config.toml');
  const cfg = parseConfig(text, file);
  assert.equal(cfg.file, file);
  assert.deepEqual(cfg.global.keys, [
    { path: path.join(FIXTURES, 'keys/ci_ed25519.pub'), ro: true },
    { path: '/home/ops/.ssh/id_ed25519.pub', ro: false },
  ]);
  assert.equal(cfg.global.branch, 'main');
  assert.equal(cfg.global.mount, '/srv/gitopper');
  assert.equal(cfg.services.length, 2);
});

test('fixture root-config.toml: -h localhost manages prometheus only', () => {
  const { text, file } = fixture('root-config.toml');
  const mine = servicesForHost(parseConfig(text, file), ['localhost']);
  assert.deepEqual(mine.map((s) => s.service), ['prometheus']);
  const [p] = mine;
  assert.equal(p!.action, 'reload');
  assert.equal(p!.user, 'prometheus');
  assert.equal(p!.upstream, 'https://git.example.net/ops/gitopper-config.git');
  assert.equal(p!.mount, '/srv/gitopper');
  assert.deepEqual(p!.dirs, [{ local: '/etc/prometheus', link: 'prometheus/etc', file: false }]);
});

test('fixture root-config.toml: host docker-test gets the template unit with a single-file dir', () => {
  const { text, file } = fixture('root-config.toml');
  const mine = servicesForHost(parseConfig(text, file), ['docker-test']);
  assert.equal(mine.length, 1);
  assert.equal(mine[0]!.service, 'docker-compose@caddy');
  assert.equal(mine[0]!.package, '', 'package is commented out in the fixture');
  assert.deepEqual(mine[0]!.dirs, [{ local: '/srv/caddy/docker-compose.yml', link: 'docker-compose/caddy/docker-compose.yml', file: true }]);
});

test('fixture quickstart.toml: valid', () => {
  const { text, file } = fixture('quickstart.toml');
  const cfg = parseConfig(text, file);
  assert.deepEqual(cfg.global.keys, [{ path: path.join(FIXTURES, 'keys/ops_ed25519.pub'), ro: true }]);
  assert.equal(cfg.services.length, 1);
  const s = cfg.services[0]!;
  assert.deepEqual([s.machine, s.service, s.branch, s.mount], ['localhost', 'prometheus', 'main', '/srv/gitopper']);
  assert.equal(s.tokenFile, undefined);
});

test('fixture annotated.toml: valid, branch defaults to main, one dir is a single file', () => {
  const { text, file } = fixture('annotated.toml');
  const cfg = parseConfig(text, file);
  assert.equal(cfg.global.branch, 'main', '[global] sets no branch');
  assert.deepEqual(cfg.global.keys.map((k) => k.ro), [false, true]);
  const s = cfg.services[0]!;
  assert.equal(s.branch, 'main');
  assert.deepEqual(s.dirs, [
    { local: '/etc/prometheus', link: 'prometheus/etc', file: false },
    { local: '/etc/caddy/Caddyfile', link: 'caddy/etc/Caddyfile', file: true },
  ]);
});

test('fixture config-repo.toml: per-service mount override, upstream inherited', () => {
  const { text, file } = fixture('config-repo.toml');
  const cfg = parseConfig(text, file);
  assert.equal(cfg.global.mount, '/var/lib/gitopper');
  const [g] = servicesForHost(cfg, ['grafana.example.net']);
  assert.equal(g!.service, 'grafana-server');
  assert.equal(g!.mount, '/srv/grafana');
  assert.equal(path.posix.join(g!.mount, g!.service), '/srv/grafana/grafana-server');
  assert.equal(g!.upstream, 'https://git.example.net/ops/gitopper-config.git');
  assert.equal(g!.action, 'restart');
  assert.deepEqual(g!.dirs.map((d) => d.local), ['/etc/grafana', '/var/lib/grafana/dashboards']);
});

test('fixture canary-override.toml: merges (branch canary, mount and upstream inherited), fails only for keys', () => {
  const { text, file } = fixture('canary-override.toml');
  const merged = mergeConfig(text, file);
  const s = merged.services[0]!;
  assert.equal(s.branch, 'canary');
  assert.equal(s.mount, '/srv/gitopper');
  assert.equal(s.upstream, 'https://git.example.net/ops/gitopper-config.git');
  configError(() => parseConfig(text, file), { entry: 'global', key: 'keys', match: [/at least one public key should be specified/] });
  // With a key added, the same file is valid: nothing else was wrong.
  const fixed = parseConfig(text.replace('branch = "main"', 'branch = "main"\nkeys = [{ path = "k.pub" }]'), file);
  assert.equal(fixed.services[0]!.branch, 'canary');
});

test('fixture unknown-key.toml: fails naming brokenbranch and services[0]', () => {
  const { text, file } = fixture('unknown-key.toml');
  const err = configError(() => parseConfig(text, file), { key: 'brokenbranch', match: [/services\[0\]/, /unknown key/] });
  assert.equal(err.data.entry, 'services[0] "node-exporter"');
  assert.equal(err.data.file, file);
  configError(() => mergeConfig(text, file), { key: 'brokenbranch' });
});

test('fixture legacy-keys-table.toml: rejected with the [global] keys = [{ path = ... }] hint', () => {
  const { text, file } = fixture('legacy-keys-table.toml');
  configError(() => parseConfig(text, file), {
    entry: 'top level', key: 'keys',
    match: [/old/, /\[global\]/, /keys = \[\{ path = "\.\.\." \}\]/],
  });
});

test('every file in test/fixtures/configs is used by a test above (gitopper-accepted.toml: test/config-compat.test.ts)', () => {
  const used = ['annotated', 'canary-override', 'config-repo', 'gitopper-accepted', 'legacy-keys-table', 'quickstart', 'root-config', 'unknown-key'].map((n) => `${n}.toml`);
  assert.deepEqual(fs.readdirSync(FIXTURES).filter((f) => f.endsWith('.toml')).sort(), used);
});

// ---------------------------------------------------------------- keys, case and place

test('keys are case-insensitive at every level', () => {
  const cfg = parse(`[GLOBAL]
Upstream = "https://git.example.org/x"
MOUNT = "/srv"
Branch = "prod"
Token_File = "/etc/gitopper/token"
Keys = [{ Path = "/k.pub", RO = true }]

[[Services]]
Machine = "web1"
SERVICE = "caddy"
Action = "reload"
User = "www"
Package = "caddy"
Dirs = [{ Local = "/etc/caddy", LINK = "caddy", File = false }]
`);
  assert.deepEqual(cfg.global.keys, [{ path: '/k.pub', ro: true }]);
  const s = cfg.services[0]!;
  assert.deepEqual(
    [s.machine, s.service, s.action, s.user, s.package, s.upstream, s.mount, s.branch, s.tokenFile],
    ['web1', 'caddy', 'reload', 'www', 'caddy', 'https://git.example.org/x', '/srv', 'prod', '/etc/gitopper/token'],
  );
  assert.deepEqual(s.dirs, [{ local: '/etc/caddy', link: 'caddy', file: false }]);
});

test('the same key written twice in different cases is refused', () => {
  configError(() => parse(GLOBAL + svc('Action = "reload"\naction = "restart"')), {
    entry: 'services[0] "caddy"', key: 'action', match: [/set twice/, /"Action"/],
  });
});

test('unknown keys are refused at every place, naming the key and the place', () => {
  configError(() => parse(`colour = "blue"\n${GLOBAL}${svc()}`), { entry: 'top level', key: 'colour', match: [/unknown key/, /allowed keys here: global, services/] });
  configError(() => parse(GLOBAL.replace('[global]', '[global]\nbrokenmount = "/x"') + svc()), { entry: 'global', key: 'brokenmount' });
  configError(() => parse(GLOBAL.replace('keys = [{ path = "keys/op.pub" }]', 'keys = [{ path = "a.pub" }, { path = "b.pub", mode = "ro" }]') + svc()), {
    entry: 'global.keys[1]', key: 'mode', match: [/allowed keys here: path, ro/],
  });
  configError(() => parse(GLOBAL + svc() + svc('dirs = [{ local = "/etc/x", target = "x" }]', 'other')), {
    entry: 'services[1].dirs[0] (service "other")', key: 'target', match: [/allowed keys here: local, link, file/],
  });
  configError(() => parse(GLOBAL + svc('Restart = true')), { entry: 'services[0] "caddy"', key: 'Restart' });
});

test('keys in the wrong section get a hint where they belong', () => {
  // per-service keys in [global] are accepted with a warning, as gitopper ignored them: test/config-compat.test.ts
  configError(() => parse(GLOBAL + svc('keys = [{ path = "a.pub" }]')), { entry: 'services[0] "caddy"', key: 'keys', match: [/keys are global/, /\[global\]/] });
  configError(() => parse(`upstream = "https://x/y"\n${GLOBAL}${svc()}`), { entry: 'top level', key: 'upstream', match: [/under \[global\]/] });
});

test('a top-level keys array is refused like the legacy table', () => {
  configError(() => parse(`keys = [{ path = "a.pub" }]\n${GLOBAL}${svc()}`), { entry: 'top level', key: 'keys', match: [/keys now go in \[global\]/] });
});

test('TOML syntax errors become ConfigErrors with line and column', () => {
  const err = configError(() => parse(`${GLOBAL}\n[[services]]\nmachine = \n`), { match: [/TOML syntax error/] });
  assert.match(err.data.entry ?? '', /^line 7, column \d+$/);
  configError(() => parse(`${GLOBAL}upstream = "https://other/x"\n`), { match: [/TOML syntax error: Can't redefine existing key/] });
});

// ---------------------------------------------------------------- inheritance and defaults

test('upstream, branch, mount and token_file are inherited from [global]; services may override each', () => {
  const cfg = parse(`[global]
upstream = "https://git.example.org/a"
branch = "prod"
mount = "/srv/a"
token_file = "/etc/gitopper/a.token"
keys = [{ path = "/k.pub" }]
${svc('', 'inherits')}
${svc('upstream = "https://git.example.org/b"\nbranch = "canary"\nmount = "/srv/b"\ntoken_file = "/etc/gitopper/b.token"', 'overrides')}
`);
  const [a, b] = cfg.services;
  assert.deepEqual([a!.upstream, a!.branch, a!.mount, a!.tokenFile], ['https://git.example.org/a', 'prod', '/srv/a', '/etc/gitopper/a.token']);
  assert.deepEqual([b!.upstream, b!.branch, b!.mount, b!.tokenFile], ['https://git.example.org/b', 'canary', '/srv/b', '/etc/gitopper/b.token']);
});

test('an empty string in a service means "not set" and inherits (gitopper merges Go zero values)', () => {
  const s = parse(GLOBAL + svc('upstream = ""\nmount = ""\nbranch = ""')).services[0]!;
  assert.deepEqual([s.upstream, s.mount, s.branch], ['https://git.example.org/ops/config', '/var/lib/gitopper', 'main']);
});

test('branch defaults to main; other per-service keys default to empty and are not inherited', () => {
  const cfg = parse(GLOBAL + svc());
  assert.equal(cfg.global.branch, 'main');
  const s = cfg.services[0]!;
  assert.deepEqual([s.branch, s.action, s.user, s.package, s.tokenFile, s.index], ['main', '', '', '', undefined, 0]);
  assert.deepEqual(s.dirs, [], 'a service without dirs is allowed (gitopper)');
});

test('a config without [[services]] is valid', () => {
  assert.deepEqual(parse(GLOBAL).services, []);
});

test('a service may set upstream and mount when [global] does not', () => {
  const s = parse(`[global]\nkeys = [{ path = "/k.pub" }]\n${svc('upstream = "http://127.0.0.1:8080/r.git"\nmount = "/srv"')}`).services[0]!;
  assert.equal(s.upstream, 'http://127.0.0.1:8080/r.git');
  assert.equal(s.mount, '/srv');
});

// ---------------------------------------------------------------- [global].keys

test('at least one key is required (gitopper message)', () => {
  const noKeys = GLOBAL.replace('keys = [{ path = "keys/op.pub" }]\n', '');
  configError(() => parse(noKeys + svc()), { entry: 'global', key: 'keys', match: [/at least one public key should be specified/] });
  configError(() => parse(`${noKeys}keys = []\n${svc()}`), { entry: 'global', key: 'keys', match: [/at least one public key should be specified/] });
});

test('key paths: relative ones resolve against the config file directory, absolute ones stay, ro defaults to false', () => {
  const text = GLOBAL.replace('keys = [{ path = "keys/op.pub" }]', 'keys = [{ path = "keys/op.pub" }, { path = "../shared/ci.pub", ro = true }, { path = "/abs/x.pub" }]') + svc();
  assert.deepEqual(parse(text, '/etc/gitopper/config.toml').global.keys, [
    { path: '/etc/gitopper/keys/op.pub', ro: false },
    { path: '/etc/shared/ci.pub', ro: true },
    { path: '/abs/x.pub', ro: false },
  ]);
  // A relative config file name is resolved the way path.resolve does (against the working directory).
  assert.equal(parse(text, 'conf/config.toml').global.keys[0]!.path, path.resolve('conf', 'keys/op.pub'));
});

test('a key needs a non-empty string path and a boolean ro', () => {
  const withKeys = (k: string): string => GLOBAL.replace('keys = [{ path = "keys/op.pub" }]', `keys = [{ path = "a.pub" }, ${k}]`) + svc();
  configError(() => parse(withKeys('{ ro = true }')), { entry: 'global.keys[1]', key: 'path', match: [/missing or empty/] });
  configError(() => parse(withKeys('{ path = "" }')), { entry: 'global.keys[1]', key: 'path' });
  configError(() => parse(withKeys('{ path = 42 }')), { entry: 'global.keys[1]', key: 'path', match: [/expected a string, got integer/] });
  configError(() => parse(withKeys('{ path = "b.pub", ro = "yes" }')), { entry: 'global.keys[1]', key: 'ro', match: [/expected a boolean, got string/] });
  configError(() => parse(GLOBAL.replace('keys = [{ path = "keys/op.pub" }]', 'keys = ["a.pub"]') + svc()), {
    entry: 'global', key: 'keys', match: [/expected an array of tables, got an array holding string values/, /path = /],
  });
  configError(() => parse(GLOBAL.replace('keys = [{ path = "keys/op.pub" }]', 'keys = "a.pub"') + svc()), { entry: 'global', key: 'keys', match: [/got a string/] });
});

// ---------------------------------------------------------------- machine, service, action

test('machine and service are required', () => {
  configError(() => parse(`${GLOBAL}\n[[services]]\nservice = "caddy"\n`), { entry: 'services[0] "caddy"', key: 'machine', match: [/missing or empty/, /-h\/--hosts/] });
  configError(() => parse(`${GLOBAL}\n[[services]]\nmachine = "web1"\n`), { entry: 'services[0]', key: 'service', match: [/missing or empty/] });
  configError(() => parse(`${GLOBAL}\n[[services]]\nmachine = ""\nservice = "caddy"\n`), { key: 'machine' });
});

test('service must be a valid systemd unit name (it is also the directory <mount>/<service>)', () => {
  for (const ok of ['prometheus', 'docker-compose@caddy', 'systemd-networkd.service', 'a\\x2db', 'x:y_z']) {
    assert.equal(parse(GLOBAL + svc('', ok)).services[0]!.service, ok);
  }
  configError(() => parse(GLOBAL + svc('', 'etc/caddy')), { entry: 'services[0] "etc/caddy"', key: 'service', match: [/"\/"/, /<mount>\/<service>/] });
  configError(() => parse(GLOBAL + svc('', '..')), { key: 'service', match: [/not a unit name/] });
  configError(() => parse(GLOBAL + svc('', '.')), { key: 'service', match: [/not a unit name/] });
  configError(() => parse(GLOBAL + svc('', 'my service')), { key: 'service', match: [/" "/, /allowed characters/] });
  configError(() => parse(GLOBAL + svc('', 'x'.repeat(256))), { key: 'service', match: [/at most 255/] });
  assert.equal(parse(GLOBAL + svc('', 'x'.repeat(255))).services[0]!.service.length, 255);
});

test('action must be one of ACTIONS; the message lists them', () => {
  for (const action of ACTIONS) {
    assert.equal(parse(GLOBAL + svc(`action = "${action}"`)).services[0]!.action, action);
  }
  const err = configError(() => parse(GLOBAL + svc('action = "bounce"')), { entry: 'services[0] "caddy"', key: 'action', match: [/"bounce"/] });
  for (const action of ACTIONS) assert.ok(err.message.includes(`"${action}"`), `lists ${action}`);
  configError(() => parse(GLOBAL + svc('action = "Reload"')), { key: 'action' });
});

test('user and package are strings that may be empty', () => {
  const s = parse(GLOBAL + svc('user = ""\npackage = ""')).services[0]!;
  assert.deepEqual([s.user, s.package], ['', '']);
  configError(() => parse(GLOBAL + svc('user = 1000')), { key: 'user', match: [/expected a string, got integer/] });
  configError(() => parse(GLOBAL + svc('package = ["a"]')), { key: 'package', match: [/got array/] });
});

// ---------------------------------------------------------------- upstream

test('upstream is required after inheritance', () => {
  configError(() => parse(GLOBAL.replace(/upstream = .*\n/, '') + svc()), { entry: 'services[0] "caddy"', key: 'upstream', match: [/not set here nor in \[global\]/] });
});

test('http and https upstreams are accepted', () => {
  for (const u of ['https://github.com/miekg/gitopper-config', 'http://127.0.0.1:8080/upstream.git', 'https://git.example.org:8443/a/b.git?x=1']) {
    assert.equal(parse(GLOBAL + svc(`upstream = "${u}"`)).services[0]!.upstream, u);
  }
});

test('SSH and local upstreams are accepted as written: ssh://, scp-like, absolute paths, file://', () => {
  for (const u of [
    'ssh://git@github.com/miekg/gitopper-config', 'ssh://git@git.example.org:2222/ops/config.git', 'git+ssh://git@h/r.git',
    'git@github.com:miekg/gitopper-config.git', 'github.com:miekg/gitopper-config', 'deploy@[::1]:srv/r.git', 'ssh://h/~git/r.git',
    '/srv/git/config.git', 'file:///srv/git/config.git', 'file://localhost/srv/git/config.git',
  ]) {
    assert.equal(parse(GLOBAL + svc(`upstream = "${u}"`)).services[0]!.upstream, u);
  }
  assert.equal(parse(GLOBAL.replace('https://git.example.org/ops/config', 'git@example.org:ops/config') + svc()).services[0]!.upstream, 'git@example.org:ops/config', 'in [global] too');
});

test('git://, relative paths, other schemes and hostile SSH forms are refused, with what to use instead', () => {
  const cases: [string, RegExp][] = [
    ['git://github.com/miekg/gitopper-config', /git:\/\/ protocol, which is neither authenticated nor encrypted/],
    ['./config.git', /relative path/],
    ['config.git', /relative path/],
    ['ftp://example.org/repo', /scheme ftp:\/\//],
    ['file://otherhost/srv/x.git', /names host "otherhost"/],
    ['ssh://-oProxyCommand=touch%20x/r.git', /SSH host "-oProxyCommand=touch%20x", which ssh would read as an option/],
    ['-oProxyCommand=x:r.git', /SSH host/],
    ['-l@host:r.git', /SSH user "-l"/],
    ['ssh://git@h:99999/r.git', /not a valid URL|port/],
    ['git@h:', /names no repository path/],
    ['/', /root directory/],
  ];
  for (const [u, kind] of cases) {
    const err = configError(() => parse(GLOBAL + svc(`upstream = "${u}"`)), { entry: 'services[0] "caddy"', key: 'upstream', match: [kind] });
    assert.ok(err.data.fix!.length > 10, `fix for ${u} says what to use`);
  }
});

test('a password in an SSH URL is refused and not echoed; the fix points at ssh_key', () => {
  const err = configError(() => parse(GLOBAL + svc('upstream = "ssh://git:s3cret@h/r.git"')), { key: 'upstream', match: [/password in the URL/, /ssh_key/] });
  assert.ok(!err.message.includes('s3cret'), err.message);
});

test('credentials in the upstream URL are refused and not echoed; the fix points at token_file', () => {
  for (const u of ['https://alice:s3cret@git.example.org/x', 'https://ghp_t0ken@git.example.org/x']) {
    const err = configError(() => parse(GLOBAL + svc(`upstream = "${u}"`)), { key: 'upstream', match: [/credentials/, /token_file/] });
    assert.ok(!err.message.includes('s3cret') && !err.message.includes('ghp_t0ken'), err.message);
  }
});

test('an invalid [global] upstream is reported at global', () => {
  configError(() => parse(GLOBAL.replace('https://git.example.org/ops/config', 'git://example.org/ops/config') + svc('upstream = "https://ok/x"')), {
    entry: 'global', key: 'upstream', match: [/git:\/\/ protocol/],
  });
});

// ---------------------------------------------------------------- mount, branch, token_file

test('mount is required, absolute, and normalised', () => {
  configError(() => parse(GLOBAL.replace(/mount = .*\n/, '') + svc()), { entry: 'services[0] "caddy"', key: 'mount', match: [/not set here nor in \[global\]/] });
  configError(() => parse(GLOBAL + svc('mount = "var/lib/x"')), { entry: 'services[0] "caddy"', key: 'mount', match: [/not an absolute path/] });
  configError(() => parse(GLOBAL.replace('"/var/lib/gitopper"', '"gitopper"') + svc()), { entry: 'global', key: 'mount' });
  const cfg = parse(GLOBAL.replace('"/var/lib/gitopper"', '"/var/lib//gitopper/"') + svc());
  assert.equal(cfg.global.mount, '/var/lib/gitopper');
  assert.equal(cfg.services[0]!.mount, '/var/lib/gitopper');
});

test('branch must look like a git branch name', () => {
  assert.equal(parse(GLOBAL + svc('branch = "release/1.0"')).services[0]!.branch, 'release/1.0');
  for (const b of ['has space', '-x', 'a..b', 'x.lock', 'a:b', 'trailing/']) {
    configError(() => parse(GLOBAL + svc(`branch = "${b}"`)), { entry: 'services[0] "caddy"', key: 'branch', match: [/not a valid git branch name/] });
  }
  configError(() => parse(GLOBAL.replace('[global]', '[global]\nbranch = "bad branch"') + svc()), { entry: 'global', key: 'branch' });
});

test('token_file: absolute kept, relative resolved against the config file directory, must be a string', () => {
  assert.equal(parse(GLOBAL + svc('token_file = "/run/secrets/git"')).services[0]!.tokenFile, '/run/secrets/git');
  const cfg = parse(GLOBAL.replace('[global]', '[global]\ntoken_file = "secrets/token"') + svc(), '/etc/gitopper/config.toml');
  assert.equal(cfg.global.tokenFile, '/etc/gitopper/secrets/token');
  assert.equal(cfg.services[0]!.tokenFile, '/etc/gitopper/secrets/token');
  configError(() => parse(GLOBAL + svc('token_file = true')), { key: 'token_file', match: [/expected a string, got boolean/] });
});

test('ssh_key and known_hosts: resolved like key paths, inherited from [global], strings without characters ssh misreads', () => {
  const ssh = GLOBAL.replace('https://git.example.org/ops/config', 'git@git.example.org:ops/config');
  const cfg = parse(ssh.replace('[global]', '[global]\nssh_key = "keys/deploy"\nknown_hosts = "/etc/gitopper/known_hosts"') + svc() + svc('ssh_key = "/etc/other_key"\nknown_hosts = "kh"', 'own'), '/etc/gitopper/config.toml');
  assert.deepEqual([cfg.global.sshKey, cfg.global.knownHosts], ['/etc/gitopper/keys/deploy', '/etc/gitopper/known_hosts']);
  const [a, b] = cfg.services;
  assert.deepEqual([a!.sshKey, a!.knownHosts], ['/etc/gitopper/keys/deploy', '/etc/gitopper/known_hosts'], 'inherited');
  assert.deepEqual([b!.sshKey, b!.knownHosts], ['/etc/other_key', '/etc/gitopper/kh'], 'own, relative resolved against the config file');
  const none = parse(ssh + svc()).services[0]!;
  assert.deepEqual([none.sshKey, none.knownHosts], [undefined, undefined], 'unset: ssh defaults');
  configError(() => parse(ssh + svc('ssh_key = 1')), { key: 'ssh_key', match: [/expected a string, got integer/] });
  configError(() => parse(ssh + svc('known_hosts = "my hosts"'), '/etc/gitopper/config.toml'), { key: 'known_hosts', match: [/contains " ", which ssh would misread/] });
  configError(() => parse(ssh + svc('ssh_key = "/etc/%u/key"')), { key: 'ssh_key', match: [/contains "%"/] });
  configError(() => parse(ssh.replace('[global]', '[global]\nssh_key = "a key"')), { entry: 'global', key: 'ssh_key', match: [/which ssh would misread/] });
  configError(() => parse(`ssh_key = "/k"\n${ssh}`), { entry: 'top level', key: 'ssh_key', match: [/under \[global\]/] });
});

test('token_file is for https only, ssh_key/known_hosts for SSH only: refused where written, dropped where inherited', () => {
  const ssh = 'upstream = "git@h:r.git"';
  configError(() => parse(GLOBAL + svc(`${ssh}\ntoken_file = "/t"`)), {
    entry: 'services[0] "caddy"', key: 'token_file', match: [/token_file applies to https upstreams only, and "git@h:r.git" is an SSH upstream/, /ssh_key/],
  });
  configError(() => parse(GLOBAL + svc('upstream = "/srv/r.git"\ntoken_file = "/t"')), { key: 'token_file', match: [/is a local repository/] });
  configError(() => parse(GLOBAL + svc('ssh_key = "/k"')), { key: 'ssh_key', match: [/ssh_key applies to SSH upstreams only, and "https:\/\/git.example.org\/ops\/config" is an http\(s\) upstream/, /token_file/] });
  configError(() => parse(GLOBAL + svc('upstream = "file:///srv/r.git"\nknown_hosts = "/kh"')), { key: 'known_hosts', match: [/is a local repository/] });
  configError(() => parse(GLOBAL.replace('[global]', '[global]\nssh_key = "/k"') + svc()), { entry: 'global', key: 'ssh_key', match: [/SSH upstreams only/] });
  configError(() => parse(GLOBAL.replace('https://git.example.org/ops/config', 'git@h:r.git').replace('[global]', '[global]\ntoken_file = "/t"') + svc()), { entry: 'global', key: 'token_file' });

  // inherited values apply only where they fit: one [global] serves https and SSH services
  const mixed = parse(`[global]
upstream = "https://git.example.org/ops/config"
token_file = "/etc/gitopper/token"
mount = "/var/lib/gitopper"
keys = [{ path = "/k.pub" }]
${svc(`${ssh}\nssh_key = "/etc/gitopper/deploy"`, 'viassh')}${svc('', 'viahttps')}${svc('upstream = "/srv/r.git"', 'vialocal')}`);
  const [viaSsh, viaHttps, viaLocal] = mixed.services;
  assert.deepEqual([viaSsh!.tokenFile, viaSsh!.sshKey], [undefined, '/etc/gitopper/deploy']);
  assert.deepEqual([viaHttps!.tokenFile, viaHttps!.sshKey], ['/etc/gitopper/token', undefined]);
  assert.deepEqual([viaLocal!.tokenFile, viaLocal!.sshKey, viaLocal!.knownHosts], [undefined, undefined, undefined]);
  const sshGlobal = parse(GLOBAL.replace('https://git.example.org/ops/config', 'git@h:r.git').replace('[global]', '[global]\nssh_key = "/k"\nknown_hosts = "/kh"') + svc('upstream = "https://x/y"', 'web'));
  assert.deepEqual([sshGlobal.services[0]!.sshKey, sshGlobal.services[0]!.knownHosts], [undefined, undefined], 'an https service does not inherit the SSH keys');
});

// ---------------------------------------------------------------- dirs

test('dirs: local absolute and normalised, link relative and normalised, file defaults to false', () => {
  const s = parse(GLOBAL + svc('dirs = [{ local = "/etc//caddy/", link = "./caddy/etc/" }, { local = "/etc/caddy/Caddyfile", link = "caddy/Caddyfile", file = true }]')).services[0]!;
  assert.deepEqual(s.dirs, [
    { local: '/etc/caddy', link: 'caddy/etc', file: false },
    { local: '/etc/caddy/Caddyfile', link: 'caddy/Caddyfile', file: true },
  ]);
});

test('dirs: bad local and link values are refused naming services[i].dirs[j]', () => {
  const at = 'services[0].dirs[0] (service "caddy")';
  const dir = (d: string): string => GLOBAL + svc(`dirs = [${d}]`);
  configError(() => parse(dir('{ local = "etc/caddy", link = "caddy" }')), { entry: at, key: 'local', match: [/not an absolute path/] });
  // an empty or absent local is accepted (checked out, not mounted, as gitopper did): test/config-compat.test.ts
  configError(() => parse(dir('{ local = "", link = "/caddy" }')), { entry: at, key: 'link', match: [/absolute/] });
  configError(() => parse(dir('{ local = "/", link = "caddy" }')), { entry: at, key: 'local', match: [/whole host/] });
  configError(() => parse(dir('{ local = "/etc/caddy" }')), { entry: at, key: 'link', match: [/is empty/] });
  configError(() => parse(dir('{ local = "/etc/caddy", link = "/caddy" }')), { entry: at, key: 'link', match: [/absolute/] });
  configError(() => parse(dir('{ local = "/etc/caddy", link = "../secrets" }')), { entry: at, key: 'link', match: [/"\.\."/] });
  configError(() => parse(dir('{ local = "/etc/caddy", link = "caddy/../../x" }')), { entry: at, key: 'link', match: [/leave the repository/] });
  configError(() => parse(dir('{ local = "/etc/caddy", link = "a/../b" }')), { entry: at, key: 'link' });
  configError(() => parse(dir('{ local = "/etc/caddy", link = "." }')), { entry: at, key: 'link', match: [/whole repository/] });
  configError(() => parse(dir('{ local = "/etc/caddy", link = "./" }')), { entry: at, key: 'link', match: [/whole repository/] });
  configError(() => parse(dir('{ local = "/etc/caddy", link = "caddy", file = "true" }')), { entry: at, key: 'file', match: [/expected a boolean, got string/] });
  configError(() => parse(dir('{ local = 1, link = "caddy" }')), { entry: at, key: 'local', match: [/expected a string/] });
});

test('dirs must be an array of tables', () => {
  configError(() => parse(GLOBAL + svc('dirs = "/etc/caddy"')), { entry: 'services[0] "caddy"', key: 'dirs', match: [/expected an array of tables, got a string/, /local = /] });
  configError(() => parse(GLOBAL + svc('dirs = ["/etc/caddy"]')), { key: 'dirs', match: [/array holding string values/] });
});

// ---------------------------------------------------------------- types

test('types are checked for every key; numbers are never accepted for strings', () => {
  configError(() => parse(GLOBAL.replace('"https://git.example.org/ops/config"', '1') + svc()), { entry: 'global', key: 'upstream', match: [/expected a string, got integer/] });
  // @iarna/toml wraps integers beyond 64 bits into a bigint; still an integer, never a string.
  configError(() => parse(`${GLOBAL}\n[[services]]\nmachine = 99999999999999999999\nservice = "caddy"\n`), {
    entry: 'services[0] "caddy"', key: 'machine', match: [/expected a string, got integer/],
  });
  configError(() => parse(GLOBAL + svc('branch = 1.5')), { key: 'branch', match: [/got float/] });
  configError(() => parse(GLOBAL + svc('branch = 2024-01-01T00:00:00Z')), { key: 'branch', match: [/got datetime/] });
  configError(() => parse(GLOBAL + svc('mount = { path = "/x" }')), { key: 'mount', match: [/got table/] });
  configError(() => parse(`global = "x"\n${svc()}`), { entry: 'top level', key: 'global', match: [/expected a table, got string/] });
  configError(() => parse(`${GLOBAL}\n[services]\nmachine = "web1"\nservice = "caddy"\n`), { entry: 'top level', key: 'services', match: [/single table/, /\[\[services\]\]/] });
  configError(() => parse(`services = 3\n${GLOBAL}`), { entry: 'top level', key: 'services', match: [/got integer/] });
});

test('an entry is named by its index and service name when it has one', () => {
  const err = configError(() => parse(GLOBAL + svc() + svc('action = "x"', 'grafana-server') + svc()), { key: 'action' });
  assert.equal(err.data.entry, 'services[1] "grafana-server"');
  assert.match(err.message, /^\/etc\/gitopper\/config\.toml: services\[1\] "grafana-server": key "action": /);
});

// ---------------------------------------------------------------- the result

test('the spec is deep-frozen (parseConfig and mergeConfig)', () => {
  for (const cfg of [parse(GLOBAL + svc('dirs = [{ local = "/etc/caddy", link = "caddy" }]')), mergeConfig(GLOBAL + svc(), FILE)]) {
    for (const o of [cfg, cfg.global, cfg.global.keys, cfg.global.keys[0], cfg.services, cfg.services[0], cfg.services[0]!.dirs]) {
      assert.ok(Object.isFrozen(o));
    }
    assert.throws(() => { (cfg.services[0] as { service: string }).service = 'x'; }, TypeError);
    assert.throws(() => { (cfg.global.keys as unknown[]).push({}); }, TypeError);
  }
  const d = parse(GLOBAL + svc('dirs = [{ local = "/etc/caddy", link = "caddy" }]')).services[0]!.dirs[0]!;
  assert.throws(() => { (d as { local: string }).local = '/'; }, TypeError);
});

test('parseConfig does no I/O: missing key and token files are fine, and the module imports no I/O library', () => {
  const cfg = parse(GLOBAL.replace('[global]', '[global]\ntoken_file = "/nonexistent/token"') + svc(), '/nonexistent/dir/config.toml');
  assert.equal(cfg.global.keys[0]!.path, '/nonexistent/dir/keys/op.pub');
  // parseConfig's modules in src/, all pure (config-file.ts, which reads the file, is not one of them)
  const pure = ['src/config/config.ts', 'src/config/spec.ts', 'src/config/host-services.ts', 'src/config/error.ts', 'src/config/fields.ts', 'src/config/health.ts', 'src/config/keys.ts', 'src/config/transport.ts', 'src/config/notify.ts', 'src/config/admission.ts', 'src/config/window.ts', 'src/config/secrets.ts', 'src/config/verify.ts', 'src/config/trust-keys.ts', 'src/config/validate.ts', 'src/config/duration.ts', 'src/upstream/upstream.ts', 'src/errors/gitopper-error.ts'];
  // as imported from src/config: './x.js' beside it, '../upstream/upstream.js' for the upstream model
  const local = (f: string) => (path.dirname(f) === 'src/config' ? './' : `../${path.basename(path.dirname(f))}/`) + `${path.basename(f, '.ts')}.js`;
  // luxon: time-zone arithmetic of deployment windows (no I/O)
  const allowed = ['@iarna/toml', 'luxon', 'node:path', 'node:crypto', ...pure.map(local)];
  const seen = new Set<string>();
  for (const src of pure) {
    const text = fs.readFileSync(src, 'utf8');
    // static imports and re-exports (also over several lines), side-effect imports; no dynamic import or require
    const imports = [...text.matchAll(/^(?:import|export)\b[^;]*?\bfrom\s*'([^']+)'/gm), ...text.matchAll(/^import\s*'([^']+)'/gm)].map((m) => m[1]!);
    for (const mod of imports) {
      assert.ok(allowed.includes(mod), `${src} imports ${mod}`);
      seen.add(mod);
    }
    assert.doesNotMatch(text, /\bimport\s*\(|\brequire\s*\(/, `${src} loads a module at run time`);
  }
  // each listed module but the entry is imported by another: the list is the whole set and the pattern finds imports
  assert.deepEqual(pure.filter((f) => f !== 'src/config/config.ts' && !seen.has(local(f))), []);
});

test('ConfigError carries code, name and structured data', () => {
  const err = configError(() => parse(GLOBAL + svc('mount = "rel"')), { key: 'mount' });
  assert.ok(err instanceof Error);
  assert.equal(err.name, 'ConfigError');
  assert.deepEqual(Object.keys(err.data).sort(), ['entry', 'file', 'fix', 'key']);
  assert.equal(err.data.file, FILE);
  const direct = new ConfigError('broken', { file: 'f.toml' });
  assert.equal(direct.message, 'f.toml: broken');
});

// ---------------------------------------------------------------- servicesForHost

test('servicesForHost: exact machine match against any of the hosts, in file order', () => {
  const cfg = parse(GLOBAL + svc('', 'a', 'web1') + svc('', 'b', 'web2') + svc('', 'c', 'web1') + svc('', 'd', 'db1'));
  assert.deepEqual(servicesForHost(cfg, ['web1']).map((s) => s.service), ['a', 'c']);
  assert.deepEqual(servicesForHost(cfg, ['db1', 'web1']).map((s) => s.service), ['a', 'c', 'd']);
  assert.deepEqual(servicesForHost(cfg, ['WEB1', 'web1.example.org', 'web']), []);
  assert.deepEqual(servicesForHost(cfg, []), []);
  assert.equal(servicesForHost(cfg, ['web2'])[0], cfg.services[1], 'returns the spec objects themselves');
});

test('servicesForHost: a service name twice on this host is refused, naming both entries', () => {
  const cfg = parse(GLOBAL + svc('', 'caddy', 'web1') + svc('', 'caddy', 'web2') + svc('', 'caddy', 'web1'));
  configError(() => servicesForHost(cfg, ['web1']), { entry: 'services[2] "caddy"', key: 'service', match: [/services\[0\] "caddy"/] });
  assert.equal(servicesForHost(cfg, ['web2']).length, 1, 'another host\'s duplicates do not matter');
  const aliases = parse(GLOBAL + svc('', 'caddy', 'web1') + svc('', 'caddy', 'web1.example.org'));
  assert.equal(servicesForHost(aliases, ['web1']).length, 1);
  // Host aliases (-h web1 -h web1.example.org): both entries land on this host.
  configError(() => servicesForHost(aliases, ['web1', 'web1.example.org']), { entry: 'services[1] "caddy"', key: 'service', match: [/services\[0\] "caddy"/] });
});

test('servicesForHost: a local mount target twice on this host is refused, naming both entries', () => {
  const cfg = parse(GLOBAL
    + svc('dirs = [{ local = "/etc/shared", link = "a" }]', 'a', 'web1')
    + svc('dirs = [{ local = "/etc/other", link = "b" }, { local = "/etc/shared/", link = "b2" }]', 'b', 'web1')
    + svc('dirs = [{ local = "/etc/shared", link = "c" }]', 'c', 'web2'));
  configError(() => servicesForHost(cfg, ['web1']), {
    entry: 'services[1].dirs[1] (service "b")', key: 'local', match: [/"\/etc\/shared"/, /services\[0\]\.dirs\[0\] \(service "a"\)/],
  });
  assert.deepEqual(servicesForHost(cfg, ['web2']).map((s) => s.service), ['c']);
  const within = parse(GLOBAL + svc('dirs = [{ local = "/etc/x", link = "a" }, { local = "/etc/x", link = "b" }]'));
  configError(() => servicesForHost(within, ['web1']), { entry: 'services[0].dirs[1] (service "caddy")', key: 'local', match: [/services\[0\]\.dirs\[0\]/] });
});

test('the shipped example config/config.toml is valid and names two services for its host', async () => {
  const { readFileSync } = await import('node:fs');
  const file = 'config/config.toml';
  const cfg = parseConfig(readFileSync(file, 'utf8'), file);
  assert.deepEqual(servicesForHost(cfg, ['grafana.example.org']).map((s) => s.service), ['grafana-server', 'prometheus']);
  assert.deepEqual(cfg.warnings, [], 'the example draws no warning');
});

test('the example config and docs/config.md say what package does: installed, never "informational" (issue 16)', async () => {
  const { readFileSync } = await import('node:fs');
  const doc = readFileSync('docs/config.md', 'utf8');
  const annotated = /## Annotated example\n\n```toml\n([\s\S]*?)```/.exec(doc)?.[1];
  assert.ok(annotated, 'docs/config.md has an annotated example');
  const cfg = parseConfig(annotated, 'docs/config.md');
  assert.deepEqual(cfg.warnings, []);
  assert.ok(cfg.services.some((s) => s.package !== ''), 'the example shows package');
  for (const [name, text] of [['docs/config.md', doc], ['config/config.toml', readFileSync('config/config.toml', 'utf8')]] as const) {
    for (const line of text.split('\n').filter((l) => /^\s*package\s*=/.test(l))) {
      assert.doesNotMatch(line, /informational/i, `${name}: ${line}`);
      assert.match(line, /install/i, `${name}: the comment says it is installed: ${line}`);
    }
  }
});
