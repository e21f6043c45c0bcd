/** The `verify` key (signed commits, docs/trust-and-rollout.md): parsing, inheritance, paths, refusals. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigError, ConfigProblems, parseAll, parseConfig } from '../src/config/config.js';
import { twoServices } from './fakes/config-text.js';

const FILE = '/etc/gitopper/config.toml';
const config = twoServices;

function refused(text: string, want: { entry: string; key: string; match: RegExp }): ConfigError {
  let caught: unknown;
  try {
    parseConfig(text, FILE);
  } catch (err) {
    caught = err;
  }
  assert.ok(caught instanceof ConfigError, `expected a ConfigError, got ${String(caught)}`);
  assert.equal(caught.data.entry, want.entry);
  assert.equal(caught.data.key, want.key);
  assert.match(caught.message, want.match);
  assert.ok(caught.data.fix !== undefined && caught.data.fix.length > 0, 'names a fix');
  return caught;
}

test('verify absent: no service verifies', () => {
  const cfg = parseConfig(config('', ''), FILE);
  assert.equal(cfg.global.verify, undefined);
  assert.equal(cfg.services[0]!.verify, undefined);
  assert.ok(!('verify' in cfg.services[0]!), 'no verify key at all');
});

test('[global] verify is inherited; a service\'s own table replaces it whole', () => {
  const cfg = parseConfig(config('verify = { allowed_signers = "/etc/gitopper/allowed_signers", openpgp_keys = "/etc/gitopper/keys.asc" }', 'verify = { openpgp_keys = "/srv/keys/web.asc" }'), FILE);
  assert.deepEqual(cfg.global.verify, { allowedSigners: '/etc/gitopper/allowed_signers', openpgpKeys: '/etc/gitopper/keys.asc' });
  assert.deepEqual(cfg.services[0]!.verify, { openpgpKeys: '/srv/keys/web.asc' }, 'own table: no allowed_signers from [global]');
  assert.deepEqual(cfg.services[1]!.verify, { allowedSigners: '/etc/gitopper/allowed_signers', openpgpKeys: '/etc/gitopper/keys.asc' });
});

test('per-service verify only: the other service does not verify', () => {
  const cfg = parseConfig(config('', 'verify = { allowed_signers = "/etc/gitopper/allowed_signers" }'), FILE);
  assert.deepEqual(cfg.services[0]!.verify, { allowedSigners: '/etc/gitopper/allowed_signers' });
  assert.equal(cfg.services[1]!.verify, undefined);
});

test('relative paths resolve against the config file\'s directory, in [global] and in services', () => {
  const cfg = parseConfig(config('verify = { allowed_signers = "trust/allowed_signers" }', 'verify = { openpgp_keys = "../keys.asc", allowed_signers = "./a" }'), '/etc/gitopper/config.toml');
  assert.deepEqual(cfg.global.verify, { allowedSigners: '/etc/gitopper/trust/allowed_signers' });
  assert.deepEqual(cfg.services[0]!.verify, { openpgpKeys: '/etc/keys.asc', allowedSigners: '/etc/gitopper/a' });
  assert.deepEqual(cfg.services[1]!.verify, { allowedSigners: '/etc/gitopper/trust/allowed_signers' });
});

test('keys are case-insensitive like every other key', () => {
  const cfg = parseConfig(config('', 'Verify = { Allowed_Signers = "/a" }'), FILE);
  assert.deepEqual(cfg.services[0]!.verify, { allowedSigners: '/a' });
});

test('bad verify values name the entry, the key and a fix', () => {
  refused(config('', 'verify = { allowed_signer = "/a" }'), { entry: 'services[0] "web".verify', key: 'allowed_signer', match: /unknown key.*allowed_signers, openpgp_keys/ });
  refused(config('verify = { gpg = "/a" }', ''), { entry: 'global.verify', key: 'gpg', match: /unknown key/ });
  refused(config('', 'verify = {}'), { entry: 'services[0] "web"', key: 'verify', match: /names no keys file.*Fix: write verify = \{ allowed_signers/ });
  refused(config('', 'verify = "/etc/gitopper/allowed_signers"'), { entry: 'services[0] "web"', key: 'verify', match: /expected a table, got string/ });
  refused(config('', 'verify = { allowed_signers = 1 }'), { entry: 'services[0] "web".verify', key: 'allowed_signers', match: /expected a string, got integer/ });
  refused(config('', 'verify = { openpgp_keys = "" }'), { entry: 'services[0] "web".verify', key: 'openpgp_keys', match: /is empty/ });
});

test('--check collects a verify problem with the others', () => {
  const problems = new ConfigProblems(true);
  parseAll(config('verify = { bogus = "x" }', 'verify = {}', 'action = "explode"'), FILE, problems);
  const places = problems.errors.map((e) => `${e.data.entry}/${e.data.key}`);
  assert.ok(places.includes('global.verify/bogus'), places.join(' '));
  assert.ok(places.includes('services[0] "web"/verify'), places.join(' '));
  assert.ok(places.includes('services[1] "db"/action'), places.join(' '));
});
