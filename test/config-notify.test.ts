/**
 * src/config/notify.ts through parseConfig: the top-level `[[notify]]` targets, their defaults, every
 * rule (located errors with a fix), and that the target label never holds the URL's token.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigError, ConfigProblems, NOTIFY_EVENTS, parseAll, parseConfig } from '../src/config/config.js';

const FILE = '/etc/gitopper/config.toml';
const BASE = `[global]
upstream = "https://git.example.org/ops/config"
mount = "/var/lib/gitopper"
keys = [{ path = "keys/op.pub" }]

[[services]]
machine = "web1"
service = "caddy"
`;

const parse = (notify: string) => parseConfig(`${BASE}\n${notify}\n`, FILE).notify;
/** `text` before the tables: top-level keys. */
const parseTop = (text: string) => parseConfig(`${text}\n${BASE}`, FILE).notify;

/** The ConfigError `fn` throws; asserts its entry, key and that it names a fix. */
function refused(fn: () => unknown, entry: string, key: string, match?: RegExp): ConfigError {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof ConfigError, String(err));
    assert.equal(err.data.entry, entry, err.message);
    assert.equal(err.data.key, key, err.message);
    assert.ok((err.data.fix ?? '').length > 0, 'says how to fix it');
    if (match) assert.match(err.message, match);
    return err;
  }
  assert.fail('expected a ConfigError');
}

test('no [[notify]]: an empty list', () => {
  assert.deepEqual(parseConfig(BASE, FILE).notify, []);
});

test('defaults: format json, all events and services, timeout 10 s, 5 retries; secret_file resolved against the config dir', () => {
  const [n, ...rest] = parse('[[notify]]\nurl = "https://hooks.example:8443/gitopper?token=abc"\nsecret_file = "notify.secret"');
  assert.equal(rest.length, 0);
  assert.deepEqual(n, {
    index: 0,
    url: 'https://hooks.example:8443/gitopper?token=abc',
    label: 'https://hooks.example:8443',
    secretFile: '/etc/gitopper/notify.secret',
    format: 'json',
    timeoutSeconds: 10,
    retries: 5,
    queue: 1000,
  });
  assert.ok(Object.isFrozen(n), 'part of the frozen spec');
});

test('every key: name, format, events (case-insensitive), services, timeout, retries, link', () => {
  const [slack, matrix] = parse(`[[notify]]
name = "ops-slack"
url = "https://hooks.slack.example/services/T0/B0/SECRETTOKEN"
format = "slack"
events = ["broken", "AUTO-ROLLBACK", "Freeze"]
services = ["caddy"]
timeout = "3s"
retries = 0
queue = 50
link = "https://grafana.example/d/x?var-host=$host&var-service=$service"

[[notify]]
url = "http://127.0.0.1:9000/hook/abc"
format = "matrix"
secret_file = "/etc/gitopper/m.secret"`);
  assert.equal(slack!.label, 'ops-slack');
  assert.deepEqual(slack!.events, ['BROKEN', 'AUTO-ROLLBACK', 'freeze']);
  assert.deepEqual(slack!.services, ['caddy']);
  assert.equal(slack!.timeoutSeconds, 3);
  assert.equal(slack!.retries, 0);
  assert.equal(slack!.queue, 50);
  assert.equal(slack!.secretFile, undefined, 'slack needs no secret');
  assert.equal(slack!.link, 'https://grafana.example/d/x?var-host=$host&var-service=$service');
  assert.equal(matrix!.label, 'http://127.0.0.1:9000', 'the origin: no path (hookshot and Slack keep their token there)');
  assert.equal(matrix!.secretFile, '/etc/gitopper/m.secret');
});

test('labels never hold credentials, paths or queries', () => {
  const [n] = parse('[[notify]]\nurl = "https://user:pa55@hooks.example/x/TOKEN?k=SECRET"\nsecret_file = "s"');
  assert.equal(n!.label, 'https://hooks.example');
});

test('rules: each refused at notify[i] naming the key, with a fix', () => {
  refused(() => parse('[notify]\nurl = "https://h.example/"'), 'top level', 'notify', /double brackets/);
  refused(() => parseTop('notify = ["https://h.example/"]'), 'top level', 'notify');
  refused(() => parse('[[notify]]\nsecret_file = "s"'), 'notify[0]', 'url', /missing/);
  refused(() => parse('[[notify]]\nurl = "ftp://h.example/"\nsecret_file = "s"'), 'notify[0]', 'url', /http\(s\)/);
  refused(() => parse('[[notify]]\nurl = "https://h.example/"'), 'notify[0]', 'secret_file', /required for format = "json"/);
  refused(() => parse('[[notify]]\nurl = "https://h.example/"\nformat = "teams"'), 'notify[0]', 'format', /"teams"/);
  refused(() => parse('[[notify]]\nurl = "https://h.example/"\nsecret_file = "s"\nevents = ["deployed"]'), 'notify[0]', 'events', /"deployed" is not an event/);
  refused(() => parse('[[notify]]\nurl = "https://h.example/"\nsecret_file = "s"\nevents = []'), 'notify[0]', 'events', /empty/);
  refused(() => parse('[[notify]]\nurl = "https://h.example/"\nsecret_file = "s"\nservices = [1]'), 'notify[0]', 'services');
  refused(() => parse('[[notify]]\nurl = "https://h.example/"\nsecret_file = "s"\ntimeout = "soon"'), 'notify[0]', 'timeout');
  refused(() => parse('[[notify]]\nurl = "https://h.example/"\nsecret_file = "s"\nretries = 21'), 'notify[0]', 'retries', /0 to 20/);
  refused(() => parse('[[notify]]\nurl = "https://h.example/"\nsecret_file = "s"\nqueue = 0'), 'notify[0]', 'queue', /1 to 100000/);
  refused(() => parse('[[notify]]\nurl = "https://h.example/"\nsecret_file = "s"\nlink = "grafana"'), 'notify[0]', 'link');
  refused(() => parse('[[notify]]\nname = "a b"\nurl = "https://h.example/"\nsecret_file = "s"'), 'notify[0] "a b"', 'name');
  refused(() => parse('[[notify]]\nurl = "https://h.example/"\nsecret_file = "s"\nsecret = "x"'), 'notify[0]', 'secret', /unknown key/);
});

test('two targets on one origin need names; the same name twice is refused', () => {
  refused(() => parse('[[notify]]\nurl = "https://h.example/a"\nsecret_file = "s"\n[[notify]]\nurl = "https://h.example/b"\nsecret_file = "s"'), 'notify[1]', 'url', /same target as notify\[0\]/);
  refused(() => parse('[[notify]]\nname = "x"\nurl = "https://h.example/a"\nsecret_file = "s"\n[[notify]]\nname = "x"\nurl = "https://i.example/b"\nsecret_file = "s"'), 'notify[1] "x"', 'name');
  assert.equal(parse('[[notify]]\nname = "a"\nurl = "https://h.example/a"\nsecret_file = "s"\n[[notify]]\nname = "b"\nurl = "https://h.example/b"\nsecret_file = "s"').length, 2);
});

test('--check collects every [[notify]] problem along with the others', () => {
  const problems = new ConfigProblems(true);
  parseAll(`${BASE}\n[[notify]]\nurl = "https://h.example/"\n[[notify]]\nurl = "nope"\nsecret_file = "s"\n`, FILE, problems);
  assert.deepEqual(problems.errors.map((e) => [e.data.entry, e.data.key]), [['notify[0]', 'secret_file'], ['notify[1]', 'url']]);
});

test('a config error about the URL does not print its token', () => {
  const err = refused(() => parse('[[notify]]\nurl = "https://h.example/SECRETTOKEN"\nformat = "nope"'), 'notify[0]', 'format');
  assert.doesNotMatch(err.message, /SECRETTOKEN/);
  assert.equal(NOTIFY_EVENTS.length, 9);
});
