/**
 * Config that gitopper accepted (issue 16): per-service keys in `[global]` (ignored there, so accepted
 * with a warning), `dirs` entries without `local` (checked out, not mounted, with a warning), systemctl's
 * alias verbs in `action` (stored as the verb they stand for), and what is still refused. The reconcile
 * side of an entry without `local` runs the core with the fakes.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ACTION_ALIASES, ACTIONS, ConfigError, canonicalAction, parseConfig, servicesForHost, type ConfigSpec } from '../src/config/config.js';
import { loadConfig } from '../src/config/file.js';
import { checkoutOf, reconcile, type ReconcileDeps } from '../src/core/reconcile.js';
import { FakeGit, FakeMounts, FakeUnits, FakeUsers, ManualClock } from './fakes/ports.js';

const FIXTURES = fileURLToPath(new URL('../../test/fixtures/configs/', import.meta.url));
const FILE = '/etc/gitopper/config.toml';
const GLOBAL = `[global]
upstream = "https://git.example.org/ops/config"
mount = "/var/lib/gitopper"
keys = [{ path = "keys/op.pub" }]
`;
const svc = (extra = '', service = 'caddy', machine = 'web1') => `\n[[services]]\nmachine = ${JSON.stringify(machine)}\nservice = ${JSON.stringify(service)}\n${extra}\n`;
const parse = (text: string): ConfigSpec => parseConfig(text, FILE);
const withGlobal = (lines: string) => GLOBAL.replace('[global]', `[global]\n${lines}`);

/** The ConfigError `fn` throws (fails the test when it throws nothing else). */
function refused(fn: () => unknown): ConfigError {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof ConfigError, String(err));
    return err;
  }
  assert.fail('expected a ConfigError');
}

// ---------------------------------------------------------------- per-service keys in [global]

test('[global] user, action and package: accepted, not inherited, one warning each naming file, entry, key, fix', () => {
  const cfg = parse(withGlobal('user = "root"\naction = "restart"\npackage = "nginx"') + svc());
  const s = cfg.services[0]!;
  assert.deepEqual([s.user, s.action, s.package], ['', '', ''], 'gitopper inherited none of them; neither do we');
  assert.deepEqual(cfg.warnings.map((w) => w.data.key), ['action', 'user', 'package']);
  for (const w of cfg.warnings) {
    assert.equal(w.data.file, FILE);
    assert.equal(w.data.entry, 'global');
    assert.equal(w.service, undefined, 'about [global]: every host reports it');
    assert.ok(w.message.startsWith(`${FILE}: global: key "${w.data.key}": has no effect in [global]`), w.message);
    assert.match(w.message, /gitopper inherits only upstream, branch and mount/);
    assert.ok(w.message.endsWith(`Fix: set ${w.data.key} in each [[services]] entry that needs it, and remove it from [global]`), w.message);
  }
});

test('[global] machine, service and dirs (gitopper\'s Global embeds the whole Service): accepted with a warning, type-checked', () => {
  const cfg = parse(withGlobal('machine = "web1"\nservice = "x"\ndirs = [{ local = "/etc/x", link = "x" }]') + svc());
  assert.deepEqual(cfg.warnings.map((w) => w.data.key), ['machine', 'service', 'dirs']);
  assert.match(cfg.warnings[0]!.message, /Fix: remove it from \[global\]: every \[\[services\]\] entry names its own machine$/);
  assert.deepEqual(cfg.services[0]!.dirs, [], 'global dirs are not inherited');
  // still typed as gitopper's decoder typed them
  const e1 = refused(() => parse(withGlobal('user = 0') + svc()));
  assert.deepEqual([e1.data.entry, e1.data.key], ['global', 'user']);
  assert.match(e1.message, /expected a string, got integer/);
  const e2 = refused(() => parse(withGlobal('dirs = [{ local = "/etc/x", target = "x" }]') + svc()));
  assert.deepEqual([e2.data.entry, e2.data.key], ['global.dirs[0]', 'target']);
  const e3 = refused(() => parse(withGlobal('dirs = "x"') + svc()));
  assert.deepEqual([e3.data.entry, e3.data.key], ['global', 'dirs']);
  // keys that were never gitopper's are still unknown in [global]
  const e4 = refused(() => parse(withGlobal('drift = "revert"') + svc()));
  assert.deepEqual([e4.data.entry, e4.data.key], ['global', 'drift']);
  assert.match(e4.message, /unknown key/);
});

test('[global] keys are case-insensitive like every key, and a valid config without them has no warnings', () => {
  assert.deepEqual(parse(withGlobal('User = "root"') + svc()).warnings.map((w) => w.data.key), ['user']);
  assert.deepEqual(parse(GLOBAL + svc('user = "caddy"\naction = "reload"\npackage = "caddy"')).warnings, []);
});

// ---------------------------------------------------------------- dirs without local

test('a dirs entry with local = "" or no local: its link is checked out (links), not mounted (dirs), with a warning', () => {
  const cfg = parse(GLOBAL + svc('dirs = [{ local = "/etc/caddy", link = "caddy/etc" }, { local = "", link = "./caddy/snippets/" }, { link = "caddy/extra", file = true }]'));
  const s = cfg.services[0]!;
  assert.deepEqual(s.dirs, [{ local: '/etc/caddy', link: 'caddy/etc', file: false }]);
  assert.deepEqual(s.links, ['caddy/snippets', 'caddy/extra'], 'normalised like a mounted link');
  assert.deepEqual(checkoutOf(s).links, ['caddy/etc', 'caddy/snippets', 'caddy/extra'], 'all three are in the checkout');
  assert.deepEqual(cfg.warnings.map((w) => [w.data.entry, w.data.key, w.service]), [
    ['services[0].dirs[1] (service "caddy")', 'local', 0],
    ['services[0].dirs[2] (service "caddy")', 'local', 0],
  ]);
  const w = cfg.warnings[0]!.message;
  assert.ok(w.startsWith(`${FILE}: services[0].dirs[1] (service "caddy"): key "local": is empty, so "caddy/snippets" is checked out into /var/lib/gitopper/caddy but mounted nowhere`), w);
  assert.match(w, /gitopper skipped the mount/);
  assert.match(w, /Fix: set local to the absolute path on this host/);
  // a service whose dirs all lack local has no links key only when there are none
  assert.equal(parse(GLOBAL + svc('dirs = [{ local = "/etc/caddy", link = "caddy/etc" }]')).services[0]!.links, undefined);
});

test('without local the link is still checked, and two entries without local do not clash as mount targets', () => {
  for (const [link, re] of [['../secrets', /leave the repository/], ['/abs', /absolute/], ['.', /whole repository/], ['', /is empty/]] as const) {
    const e = refused(() => parse(GLOBAL + svc(`dirs = [{ local = "", link = ${JSON.stringify(link)} }]`)));
    assert.deepEqual([e.data.entry, e.data.key], ['services[0].dirs[0] (service "caddy")', 'link']);
    assert.match(e.message, re);
  }
  const cfg = parse(GLOBAL + svc('dirs = [{ local = "", link = "a" }]') + svc('dirs = [{ local = "", link = "b" }]', 'other'));
  assert.deepEqual(servicesForHost(cfg, ['web1']).map((s) => s.links), [['a'], ['b']]);
});

// ---------------------------------------------------------------- action: systemctl's aliases

test('action: systemctl\'s aliases are stored as the verb they stand for (systemctl\'s unit_actions table)', () => {
  const want: Record<string, string> = {
    'force-reload': 'try-reload-or-restart',
    'reload-or-try-restart': 'try-reload-or-restart',
    condreload: 'try-reload-or-restart',
    condrestart: 'try-restart',
    condstop: 'stop',
  };
  assert.deepEqual({ ...ACTION_ALIASES }, want);
  for (const [alias, verb] of Object.entries(want)) {
    const cfg = parse(GLOBAL + svc(`action = "${alias}"`));
    assert.equal(cfg.services[0]!.action, verb, alias);
    assert.deepEqual(cfg.warnings, [], `${alias} works as in gitopper: nothing to warn about`);
  }
  for (const a of ACTIONS) assert.equal(canonicalAction(a), a);
  for (const bad of ['constructor', '__proto__', 'toString', 'Force-Reload']) assert.equal(canonicalAction(bad), undefined, bad);
});

test('action: other verbs (kill, isolate, enable, daemon-reload, a wrong case) are refused with every accepted value and the hook way out', () => {
  for (const bad of ['kill', 'isolate', 'enable', 'daemon-reload', 'FORCE-RELOAD', 'constructor']) {
    const e = refused(() => parse(GLOBAL + svc(`action = "${bad}"`)));
    assert.deepEqual([e.data.entry, e.data.key], ['services[0] "caddy"', 'action'], bad);
    assert.ok(e.message.includes(`"${bad}" is not a systemd action this agent can run`), e.message);
    for (const ok of [...ACTIONS, ...Object.keys(ACTION_ALIASES)]) assert.ok(e.data.fix!.includes(`"${ok}"`), `${bad}: fix lists ${ok}`);
    assert.match(e.data.fix!, /hooks = \{ post = /);
  }
});

// ---------------------------------------------------------------- the fixture, and loadConfig

test('fixture gitopper-accepted.toml: starts, with the warnings of [global] and of this host\'s entries only', async () => {
  const file = path.join(FIXTURES, 'gitopper-accepted.toml');
  const cfg = parseConfig(fs.readFileSync(file, 'utf8'), file);
  const [nginx, postfix, postfix2] = cfg.services;
  assert.equal(nginx!.action, 'try-reload-or-restart');
  assert.deepEqual(nginx!.dirs.map((d) => d.local), ['/etc/nginx/sites-enabled']);
  assert.deepEqual(nginx!.links, ['nginx/snippets']);
  assert.deepEqual([postfix!.action, postfix!.dirs, postfix!.links], ['try-restart', [], ['postfix/etc']]);
  assert.equal(postfix2!.action, 'try-reload-or-restart');
  assert.deepEqual([nginx!.user, nginx!.package], ['', ''], '[global] user and package reach no service');
  assert.equal(cfg.warnings.length, 6);

  const loaded = await loadConfig(file, ['localhost']);
  assert.deepEqual(loaded.services.map((s) => s.service), ['nginx', 'postfix']);
  assert.equal(loaded.warnings.length, 5, loaded.warnings.join('\n'));
  assert.deepEqual(loaded.warnings.slice(0, 3).map((w) => /key "(\w+)"/.exec(w)?.[1]), ['action', 'user', 'package']);
  for (const w of loaded.warnings) assert.ok(w.startsWith(`${file}: `) && /\. Fix: /.test(w), w);
  assert.ok(loaded.warnings.some((w) => w.includes('services[0].dirs[1] (service "nginx")')));
  assert.ok(loaded.warnings.some((w) => w.includes('services[1].dirs[0] (service "postfix")')));
  assert.ok(!loaded.warnings.some((w) => w.includes('services[2]')), 'mail2.example.net reports its own entry');
  assert.equal((await loadConfig(file, ['mail2.example.net'])).warnings.filter((w) => w.includes('services[2]')).length, 1);
});

test('the other valid fixtures (gitopper\'s own shapes) start without a warning', () => {
  for (const name of ['quickstart.toml', 'annotated.toml', 'root-config.toml', 'config-repo.toml']) {
    const file = path.join(FIXTURES, name);
    assert.deepEqual(parseConfig(fs.readFileSync(file, 'utf8'), file).warnings, [], name);
  }
});

test('loadConfig on a file written by an operator: warnings for [global] even on a host with no services', async () => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'gitopper-compat-'));
  try {
    const file = path.join(dir, 'config.toml');
    await writeFile(file, withGlobal('package = "sl"') + svc('dirs = [{ local = "", link = "x" }]'));
    const none = await loadConfig(file, ['elsewhere']);
    assert.deepEqual(none.services, []);
    assert.deepEqual(none.warnings.map((w) => w.split(': ').slice(1, 3).join(': ')), ['global: key "package"']);
    assert.equal((await loadConfig(file, ['web1'])).warnings.length, 2);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

// ---------------------------------------------------------------- reconcile: no mount for a dir without local

function deps(): ReconcileDeps & { git: FakeGit; mounts: FakeMounts; units: FakeUnits } {
  const git = new FakeGit();
  git.push('c1', { 'caddy/etc/Caddyfile': 'v1', 'caddy/snippets/tls.conf': 'a', 'other/x': 'x' });
  return { git, mounts: new FakeMounts(), units: new FakeUnits(), users: new FakeUsers({ caddy: { user: 'caddy', uid: 70, gid: 70 } }), clock: new ManualClock() };
}

test('reconcile: a dir without local is checked out but never mounted; a change under it still runs the action', async () => {
  const s = parse(GLOBAL + svc('user = "caddy"\naction = "force-reload"\ndirs = [{ local = "/etc/caddy", link = "caddy/etc" }, { local = "", link = "caddy/snippets" }]')).services[0]!;
  const d = deps();
  const first = await reconcile(s, 'c1', { pendingAction: false }, d);
  assert.equal(first.state, 'OK', first.info);
  assert.deepEqual(d.git.checkouts, [{ dir: '/var/lib/gitopper/caddy', commit: 'c1' }]);
  assert.deepEqual([...d.mounts.mounted], [['/etc/caddy', '/var/lib/gitopper/caddy/caddy/etc']], 'one mount: the entry without local has none');
  assert.equal(first.mounted, 1);
  assert.deepEqual(d.units.calls, ['daemon-reload', 'start caddy.service']);

  // the unmounted link is part of the checkout: a change there is a change of the service
  d.units.calls = [];
  d.units.active.add('caddy.service');
  d.git.push('c2', { 'caddy/etc/Caddyfile': 'v1', 'caddy/snippets/tls.conf': 'b', 'other/x': 'x' });
  const second = await reconcile(s, 'c2', first.runtime, d);
  assert.equal(second.state, 'OK', second.info);
  assert.deepEqual(second.changed, ['caddy/snippets/tls.conf']);
  assert.deepEqual(d.git.checkouts.map((c) => c.commit), ['c1', 'c2']);
  assert.deepEqual(d.units.calls, ['daemon-reload', 'try-reload-or-restart caddy.service'], 'force-reload reaches systemd as its verb');
  assert.equal(d.mounts.mounted.size, 1, 'still no mount for it');

  // a change outside every link moves HEAD only
  d.units.calls = [];
  d.git.push('c3', { 'caddy/etc/Caddyfile': 'v1', 'caddy/snippets/tls.conf': 'b', 'other/x': 'y' });
  const third = await reconcile(s, 'c3', second.runtime, d);
  assert.deepEqual([third.state, third.changed, d.units.calls], ['OK', [], []]);
});
