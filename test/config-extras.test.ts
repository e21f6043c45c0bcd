/** Config keys of our own beyond gitopper's: drift, hooks, health, auto_rollback. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseConfig } from '../src/config/config.js';

const base = (extra: string) => `[global]
upstream = "https://example.org/r"
mount = "/srv/g"
keys = [{ path = "/k.pub" }]

[[services]]
machine = "m"
service = "web"
${extra}
`;

test('hooks, health and auto_rollback parse with their defaults', () => {
  const s = parseConfig(base(`hooks = { pre = ["ci/check.sh"], post = ["ci/done.sh"] }
health = { exec = "/usr/bin/curl -fsS http://127.0.0.1:1/", http = "http://127.0.0.1:3000/health" }
auto_rollback = "retry-next-commit"
drift = "revert"`), 'c.toml').services[0]!;
  assert.deepEqual(s.hooks, { pre: ['ci/check.sh'], post: ['ci/done.sh'], timeoutSeconds: 60 });
  assert.deepEqual(s.health, { exec: ['/usr/bin/curl', '-fsS', 'http://127.0.0.1:1/'], http: 'http://127.0.0.1:3000/health', timeoutSeconds: 30, retries: 3, graceSeconds: 5 });
  assert.equal(s.autoRollback, 'retry-next-commit');
  assert.equal(s.drift, 'revert');
  const d = parseConfig(base(''), 'c.toml').services[0]!;
  assert.equal(d.hooks, undefined);
  assert.equal(d.health, undefined);
  assert.equal(d.autoRollback, 'freeze');
  assert.equal(d.drift, 'report');
  const t = parseConfig(base('health = { exec = ["/bin/check", "a b"], timeout = "2s", retries = 1, grace = "1m" }'), 'c.toml').services[0]!;
  assert.deepEqual(t.health, { exec: ['/bin/check', 'a b'], timeoutSeconds: 2, retries: 1, graceSeconds: 60 });
});

test('bad values name the entry, the key and the fix', () => {
  const bad: [string, RegExp][] = [
    ['hooks = { pre = ["../escape.sh"] }', /services\[0\] "web"\.hooks: key "pre\[0\]".*\.\./],
    ['hooks = { pre = "ci/check.sh" }', /key "pre": expected an array of strings/],
    ['hooks = { pre = [], when = "always" }', /"when"/],
    ['health = { exec = "curl http://x" }', /key "exec": must name a program by absolute path/],
    ['health = { http = "ftp://x" }', /key "http": "ftp:\/\/x" is not an http\(s\) URL/],
    ['health = { retries = 0 }', /key "retries": expected a whole number from 1 to 100/],
    ['health = { timeout = "soon" }', /key "timeout": "soon" is not a positive duration/],
    ['auto_rollback = "never"', /key "auto_rollback".*Fix: use auto_rollback = "freeze"/],
    ['drift = "ignore"', /key "drift".*Fix: use drift = "report"/],
    ['health = "yes"', /key "health": expected a table/],
  ];
  for (const [extra, re] of bad) assert.throws(() => parseConfig(base(extra), 'c.toml'), re, extra);
});

test('hook_secret_file is global and resolved against the config file', () => {
  const cfg = parseConfig(base('').replace('[global]\n', '[global]\nhook_secret_file = "secrets/hook"\n'), '/etc/gitopper/config.toml');
  assert.equal(cfg.global.hookSecretFile, '/etc/gitopper/secrets/hook');
  assert.throws(() => parseConfig(base('hook_secret_file = "x"'), 'c.toml'), /services\[0\] "web": key "hook_secret_file"/);
});
