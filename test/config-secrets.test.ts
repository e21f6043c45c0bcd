/** The `age_identity` key (src/config/secrets.ts through parseConfig): inheritance, resolution, type errors. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mergeConfig, parseConfig } from '../src/config/config.js';

const config = (global: string, services: string[]) => `[global]
upstream = "https://example.org/r"
mount = "/srv/g"
keys = [{ path = "/k.pub" }]
${global}
${services.map((s, i) => `[[services]]\nmachine = "m"\nservice = "s${i}"\n${s}\n`).join('\n')}`;

test('age_identity: a service\'s own value, else [global]\'s; "" inherits; resolved against the config file\'s directory', () => {
  const cfg = parseConfig(config('age_identity = "age.key"', ['', 'age_identity = "/root/other.key"', 'age_identity = ""', 'age_identity = "../keys/s3.key"']), '/etc/gitopper/config.toml');
  assert.equal(cfg.global.ageIdentity, '/etc/gitopper/age.key');
  assert.deepEqual(cfg.services.map((s) => s.ageIdentity), ['/etc/gitopper/age.key', '/root/other.key', '/etc/gitopper/age.key', '/etc/keys/s3.key']);
  assert.equal(mergeConfig(config('age_identity = "age.key"', ['']), '/etc/gitopper/config.toml').services[0]!.ageIdentity, 'age.key', 'merge keeps it as written');
});

test('age_identity unset: no service decrypts anything', () => {
  const cfg = parseConfig(config('', ['', 'age_identity = ""']), '/etc/gitopper/config.toml');
  assert.equal(cfg.global.ageIdentity, undefined);
  assert.deepEqual(cfg.services.map((s) => s.ageIdentity), [undefined, undefined]);
  assert.ok(!('ageIdentity' in cfg.services[0]!), 'absent, not undefined, so specs compare equal to older ones');
});

test('age_identity must be a string; the message names the entry, the key and the fix; case-insensitive like every key', () => {
  assert.throws(() => parseConfig(config('age_identity = 1', ['']), 'c.toml'), /c\.toml: global: key "age_identity": expected a string, got .*Fix: quote the value: age_identity = "\.\.\."/);
  assert.throws(() => parseConfig(config('', ['age_identity = true']), 'c.toml'), /c\.toml: services\[0\] "s0": key "age_identity": expected a string/);
  assert.equal(parseConfig(config('', ['AGE_IDENTITY = "/k"']), 'c.toml').services[0]!.ageIdentity, '/k');
  assert.throws(() => parseConfig(`age_identity = "/k"\n${config('', [''])}`, 'c.toml'), /key "age_identity".*put it under \[global\]/);
});
