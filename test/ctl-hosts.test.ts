/**
 * gitopperctl's hosts file (`@NAME` groups, docs/gitopperctl.md "Host groups") and `--version`:
 * the file's grammar and its errors (file, line, fix; exit 2), expansion in file order without
 * duplicates, a group winning over a host of the same name, where the file is looked for, and
 * requests really going to every member. Against the real API app over a FakeControl.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { run, version } from '../cmd/gitopperctl.js';
import { parseCommand, UsageError } from '../src/ctl/args.js';
import { expandGroup, groupResolver, hostsFileOf, HostsFileError, parseHosts } from '../src/ctl/hosts.js';
import { createApiApp } from '../src/http/app.js';
import { FakeControl } from './fakes/control.js';
import { keyDir, keyFile, makeKey, testAuth } from './fakes/keys.js';

const dir = keyDir('gitopper-ctl-hosts-');
const operator = makeKey(dir, 'operator', 'ed25519', { comment: 'miek@limos' });
const authorized = keyFile(dir, 'authorized_keys', [operator]);

/** A FakeControl behind the real API app on loopback; its host as `http://127.0.0.1:port`. */
async function agent(t: { after: (fn: () => Promise<void>) => void }): Promise<{ control: FakeControl; host: string }> {
  const control = new FakeControl();
  const server: Server = await new Promise((resolve) => {
    const s = createApiApp(control, { auth: testAuth(authorized) }).listen(0, '127.0.0.1', () => resolve(s));
  });
  t.after(() => new Promise<void>((resolve) => server.close(() => resolve())));
  return { control, host: `http://127.0.0.1:${(server.address() as AddressInfo).port}` };
}

/** gitopperctl in-process with `env`: exit code, stdout, stderr. */
async function ctl(env: Record<string, string>, ...args: string[]) {
  let stdout = '';
  let stderr = '';
  const code = await run(['-i', operator.file, ...args], { stdout: { write: (s: string) => (stdout += s) }, stderr: { write: (s: string) => (stderr += s) }, env });
  return { code, stdout, stderr };
}

/** Writes `text` as a hosts file under the test dir; returns its path. */
function hostsFile(name: string, text: string): string {
  const file = path.join(dir, name);
  mkdirSync(path.dirname(file), { recursive: true });
  writeFileSync(file, text);
  return file;
}

/** parseCommand with the groups of `text`, written to a file named by GITOPPER_HOSTS. */
const parseWith = (text: string, args: string[]) => {
  const file = hostsFile('parse-hosts', text);
  return parseCommand(args, groupResolver({ GITOPPER_HOSTS: file }, dir));
};

test('--version and -V print "gitopperctl <version>" from package.json, exit 0', async () => {
  const pkg = JSON.parse(readFileSync(path.resolve('package.json'), 'utf8')) as { version: string };
  assert.equal(version(), pkg.version);
  for (const flag of ['--version', '-V']) {
    const r = await ctl({}, flag);
    assert.deepEqual([r.code, r.stdout, r.stderr], [0, `gitopperctl ${pkg.version}\n`, '']);
  }
});

test('the file: groups in order, comments and blanks, known hosts, nested groups expanded once each', () => {
  const hosts = parseHosts('# the fleet\n\nweb: web1 web2:2223  # front\ndb: db1 @web [::1]:2224 web1\nall: @db @web db9\nlonely.example.org\n', 'F');
  assert.deepEqual([...hosts.groups.keys()], ['web', 'db', 'all']);
  assert.deepEqual(hosts.known, ['lonely.example.org']);
  assert.deepEqual(expandGroup(hosts, 'db'), ['db1', 'web1', 'web2:2223', '[::1]:2224']);
  assert.deepEqual(expandGroup(hosts, 'all'), ['db1', 'web1', 'web2:2223', '[::1]:2224', 'db9']);
  assert.deepEqual(parseHosts('fe80::1\nhttps://gw/p\n2001:db8::7\nweb1:2222\n', 'F').known, ['fe80::1', 'https://gw/p', '2001:db8::7', 'web1:2222'], 'colons of hosts are no group');
});

test('a bad file names the file, the line and the fix', () => {
  const bad: [string, RegExp][] = [
    ['ok: a\nweb1 web2\n', /^hosts file F line 2: "web1 web2" is neither "NAME: HOST\.\.\." nor a single HOST: to make a group, write "NAME: web1 web2"$/],
    ['a: b\nb: @c\n', /^hosts file F line 2: group b includes @c, which is not a group of this file: define "c: HOST\.\.\." or drop the @/],
    ['a: x @b\nb: @c\nc: @a\n', /^hosts file F line 3: groups include each other \(a → b → c → a\): remove @a from group c$/],
    ['me: @me\n', /^hosts file F line 1: groups include each other \(me → me\): remove @me from group me$/],
    ['a: x\n\na: y\n', /^hosts file F line 3: group a is already defined on line 1: merge the two lines$/],
    ['empty:   # nothing yet\n', /^hosts file F line 1: group empty has no hosts/],
    ['w@b: x\n', /^hosts file F line 1: bad group name "w@b"/],
    ['g: web1 host:port\n', /^hosts file F line 1: "host:port" is not a host: write host, host:port/],
    ['@web1\n', /^hosts file F line 1: "@web1": a known host is written without @/],
    ['# x\nweb:web1\n', /^hosts file F line 2: "web:web1" is not a host: to define group web, put a blank after the colon \("web: web1"\)$/],
  ];
  for (const [text, message] of bad) assert.throws(() => parseHosts(text, 'F'), (e: Error) => e instanceof HostsFileError && e instanceof UsageError && message.test(e.message), text);
});

test('@NAME expands in file order, duplicates dropped; a group beats a host of that name; the same host written twice is still an error', () => {
  const text = 'web: web1 web2:2223 web1:2222\nweb1: one two\n';
  const cmd = parseWith(text, ['ls', 's', '@web', '@web2:2223', '@x']);
  assert.ok(cmd.kind === 'services');
  assert.deepEqual(cmd.targets.map((t) => [t.host, t.base]), [
    ['web1', 'https://web1:2222'], ['web2:2223', 'https://web2:2223'], ['x', 'https://x:2222'],
  ]);
  const won = parseWith(text, ['ls', 's', '@web1']);
  assert.ok(won.kind === 'services');
  assert.deepEqual(won.targets.map((t) => t.host), ['one', 'two'], 'group web1 wins over host web1');
  assert.throws(() => parseWith(text, ['ls', 's', '@x', '@x:2222']), /@x and @x:2222 are the same host/);
  const forget = parseWith(text, ['forget', '@web']);
  assert.ok(forget.kind === 'forget');
  assert.equal(forget.targets.length, 2);
});

test('where the file is: --hosts, then GITOPPER_HOSTS, then $XDG_CONFIG_HOME (absolute), then ~/.config', () => {
  assert.deepEqual(hostsFileOf('/o', { GITOPPER_HOSTS: '/e', XDG_CONFIG_HOME: '/x' }, '/h'), { file: '/o', explicit: true });
  assert.deepEqual(hostsFileOf(undefined, { GITOPPER_HOSTS: '/e', XDG_CONFIG_HOME: '/x' }, '/h'), { file: '/e', explicit: true });
  assert.deepEqual(hostsFileOf(undefined, { XDG_CONFIG_HOME: '/x', HOME: '/home/me' }, '/h'), { file: '/x/gitopper/hosts', explicit: false });
  assert.deepEqual(hostsFileOf(undefined, { XDG_CONFIG_HOME: 'rel', HOME: '/home/me' }, '/h'), { file: '/home/me/.config/gitopper/hosts', explicit: false });
  assert.deepEqual(hostsFileOf(undefined, {}, '/h'), { file: '/h/.config/gitopper/hosts', explicit: false });
});

test('a group asks every member (one table, HOST as written in the file); no file: @NAME is a host as before', async (t) => {
  const a = await agent(t);
  const b = await agent(t);
  const home = path.join(dir, 'home1');
  hostsFile('home1/.config/gitopper/hosts', `both: ${a.host} ${b.host}\n`);
  const r = await ctl({ HOME: home }, 'ls', 'm', '@both');
  assert.equal(r.code, 0, r.stderr);
  const hosts = r.stdout.trimEnd().split('\n').slice(1).map((l) => l.split(/\s+/)[0]);
  assert.deepEqual(hosts, [a.host, a.host, b.host, b.host], 'two machines each, in file order');
  for (const { control } of [a, b]) assert.ok(control.calls.includes('machines'), 'each member was asked');

  // without a file nothing changes: @both is the host "both" (https, port 2222)
  const none = parseCommand(['ls', 'm', '@both'], groupResolver({ HOME: path.join(dir, 'home-without-file') }, dir));
  assert.ok(none.kind === 'machines');
  assert.deepEqual(none.targets, [{ host: 'both', base: 'https://both:2222' }]);
});

test('a bad file through gitopperctl: exit 2, the file and line on stderr, no usage text, nothing sent', async (t) => {
  const a = await agent(t);
  const file = hostsFile('bad-hosts', `# ok\nweb: ${a.host}\nweb2 web3\n`);
  for (const [env, args] of [[{ GITOPPER_HOSTS: file }, []], [{}, ['--hosts', file]]] as const) {
    const r = await ctl(env, ...args, 'ls', 's', '@web');
    assert.equal(r.code, 2);
    assert.equal(r.stdout, '');
    assert.equal(r.stderr, `gitopperctl: hosts file ${file} line 3: "web2 web3" is neither "NAME: HOST..." nor a single HOST: to make a group, write "NAME: web2 web3"\n`);
  }
  const missing = await ctl({ GITOPPER_HOSTS: path.join(dir, 'no-such-file') }, 'ls', 's', '@web');
  assert.equal(missing.code, 2);
  assert.match(missing.stderr, /cannot read hosts file .*no-such-file: .*given with --hosts or GITOPPER_HOSTS/);
  assert.deepEqual(a.control.calls, []);
});
