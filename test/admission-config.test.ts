/** The `anti_rollback`, `rollout` and `window` config keys (src/config/admission.ts): inheritance, defaults and errors. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseConfig } from '../src/config/config.js';
import { twoServices } from './fakes/config-text.js';

const cfg = twoServices;

test('rollout and window: a service inherits [global]\'s, or replaces them with its own', () => {
  const c = parseConfig(cfg(`rollout = { bake = "15m", gate = { prometheus = "http://prometheus:9090/", query = 'x{commit="$commit"}', for = "5m" } }
window = "Mon-Fri 09:00-17:00 Europe/Amsterdam"
anti_rollback = true`, `rollout = { bake = "0s" }
anti_rollback = false
window = ["Sat 10:00-12:00 UTC", "Sun 10:00-12:00"]`), 'c.toml');
  const [web, db] = c.services;
  assert.deepEqual(web!.rollout, { bakeSeconds: 0 });
  assert.deepEqual(web!.window, ['Sat 10:00-12:00 UTC', 'Sun 10:00-12:00']);
  assert.deepEqual(db!.rollout, { bakeSeconds: 900, gate: { prometheus: 'http://prometheus:9090', query: 'x{commit="$commit"}', forSeconds: 300 } });
  assert.deepEqual(db!.window, ['Mon-Fri 09:00-17:00 Europe/Amsterdam']);
  assert.equal(web!.antiRollback, false);
  assert.equal(db!.antiRollback, true);
  const none = parseConfig(cfg('', ''), 'c.toml').services[0]!;
  assert.equal(none.rollout, undefined);
  assert.equal(none.window, undefined);
  assert.equal(none.antiRollback, undefined);
});

test('bad rollout and window values name the file, the entry, the key and the fix', () => {
  const bad: [string, RegExp][] = [
    ['rollout = {}', /c\.toml: services\[0\] "web"\.rollout: sets neither bake nor gate\. Fix: write rollout = /],
    ['rollout = { bake = "soon" }', /services\[0\] "web"\.rollout: key "bake": "soon" is not a positive duration/],
    ['rollout = { wait = "1m" }', /key "wait"/],
    ['rollout = { gate = { query = "up" } }', /\.rollout\.gate: key "prometheus": is missing/],
    ['rollout = { gate = { prometheus = "http://u:p@prom:9090", query = "up" } }', /key "prometheus": holds credentials/],
    ['rollout = { gate = { prometheus = "ftp://prom", query = "up" } }', /is not an http or https URL/],
    ['rollout = { gate = { prometheus = "http://prom:9090" } }', /key "query": is missing/],
    ['window = "weekdays"', /services\[0\] "web": key "window": "weekdays" is not a deployment window\. Fix: write it as window = /],
    ['window = "Mon 09:00-17:00 Moon/Base"', /"Moon\/Base" in "Mon 09:00-17:00 Moon\/Base" is not a time zone/],
    ['window = []', /key "window": is an empty list/],
    ['window = 9', /key "window": expected a string or an array of strings, got/],
    ['anti_rollback = "yes"', /key "anti_rollback": expected a boolean/],
  ];
  for (const [line, re] of bad) assert.throws(() => parseConfig(cfg('', line), 'c.toml'), re, line);
  assert.throws(() => parseConfig(cfg('window = "Mon"', ''), 'c.toml'), /c\.toml: global: key "window"/);
});
