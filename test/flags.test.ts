import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { parseDuration } from '../src/config/duration.js';
import { FlagError, parseDaemonFlags, splitAddr, usage } from '../src/daemon/flags.js';

test('Go durations', () => {
  assert.equal(parseDuration('90s'), 90);
  assert.equal(parseDuration('5m'), 300);
  assert.equal(parseDuration('1h30m'), 5400);
  assert.equal(parseDuration('1.5h'), 5400);
  assert.equal(parseDuration('250ms'), 0.25);
  assert.equal(parseDuration('0'), 0);
  for (const bad of ['', '5', 'm', '5x', '-5s', '5m3']) assert.throws(() => parseDuration(bad), /invalid duration/, bad);
});

test('gitopper defaults and short flags; -h is hosts, repeatable and comma-separated', () => {
  const o = parseDaemonFlags(['-c', 'config.toml', '-h', 'a,b', '-h', 'c', '-t', '1m', '-d']);
  assert.deepEqual(o.hosts, ['a', 'b', 'c']);
  assert.equal(o.durationSeconds, 60);
  assert.equal(o.metric, ':9222');
  assert.equal(o.api, ':2222');
  assert.equal(o.root, true);
  assert.equal(o.debug, true);
  assert.equal(o.directory, 'gitopper');
  assert.equal(o.branch, 'main');
  assert.equal(o.stateDir, '/var/lib/gitopper');
  assert.equal(parseDaemonFlags(['-c', 'x']).durationSeconds, 300);
});

test('-o takes Go boolean forms', () => {
  assert.equal(parseDaemonFlags(['-c', 'x', '-o=false']).root, false);
  assert.equal(parseDaemonFlags(['-c', 'x', '--root', 'false']).root, false);
  assert.equal(parseDaemonFlags(['-o', '-c', 'x']).root, true);
});

test('bad flags are FlagErrors that say what to do', () => {
  assert.throws(() => parseDaemonFlags([]), (e: unknown) => e instanceof FlagError && /-c\/--config is required/.test(e.message));
  assert.throws(() => parseDaemonFlags(['-c', 'x', '-t', 'soon']), /-t\/--duration: invalid duration "soon"/);
  assert.throws(() => parseDaemonFlags(['-c', 'x', '--bogus']), /bogus.*see --help/);
  assert.throws(() => parseDaemonFlags(['-c', 'x', '-m', 'nope']), /-m\/--metric: bad address/);
  assert.equal(parseDaemonFlags(['--help']).help, true);
});

test('addresses', () => {
  assert.deepEqual(splitAddr(':9222'), { host: '', port: 9222 });
  assert.deepEqual(splitAddr('127.0.0.1:80'), { host: '127.0.0.1', port: 80 });
  assert.deepEqual(splitAddr('[::1]:2222'), { host: '::1', port: 2222 });
  assert.throws(() => splitAddr('host:99999'), FlagError);
});

test('--verify-every: default 10, a whole number from 1, anything else a FlagError', () => {
  assert.equal(parseDaemonFlags(['-c', 'x']).verifyEvery, 10);
  assert.equal(parseDaemonFlags(['-c', 'x', '--verify-every', '1']).verifyEvery, 1);
  assert.equal(parseDaemonFlags(['-c', 'x', '--verify-every=60']).verifyEvery, 60);
  for (const bad of ['0', '-1', '2.5', 'ten', '', '1e3']) {
    assert.throws(() => parseDaemonFlags(['-c', 'x', `--verify-every=${bad}`]), (e: Error) => e instanceof FlagError && /--verify-every .*whole number of polls/.test(e.message), bad);
  }
});

test('--store-retention (default 168h) and --fetch-timeout (default 60s, at least 1s) take Go durations', () => {
  const d = parseDaemonFlags(['-c', 'x']);
  assert.equal(d.storeRetentionSeconds, 168 * 3600);
  assert.equal(d.fetchTimeoutSeconds, 60);
  const o = parseDaemonFlags(['-c', 'x', '--store-retention', '36h', '--fetch-timeout=1m30s']);
  assert.equal(o.storeRetentionSeconds, 36 * 3600);
  assert.equal(o.fetchTimeoutSeconds, 90);
  assert.throws(() => parseDaemonFlags(['-c', 'x', '--store-retention', '7d']), (e: Error) => e instanceof FlagError && /^--store-retention: /.test(e.message));
  assert.throws(() => parseDaemonFlags(['-c', 'x', '--fetch-timeout', '500ms']), (e: Error) => e instanceof FlagError && /--fetch-timeout 500ms is below 1s/.test(e.message));
});

describe('-h is hosts (gitopper), --help is help', () => {
  const hostsError = (e: unknown) => e instanceof FlagError && /is -h\/--hosts NAME, as in gitopper/.test(e.message) && /For help use --help/.test(e.message);

  test('-h without a name says what -h is and where help is, not "argument is ambiguous"', () => {
    for (const argv of [['-h'], ['-h', '--help'], ['-h', '-c', 'x'], ['-c', 'x', '-h'], ['--hosts'], ['--hosts', '-d', '-c', 'x']]) {
      assert.throws(() => parseDaemonFlags(argv), hostsError, argv.join(' '));
    }
    assert.doesNotThrow(() => parseDaemonFlags(['-h', 'web1', '-c', 'x', '-h', 'web2']));
    assert.deepEqual(parseDaemonFlags(['--hosts', 'a', '-c', 'x']).hosts, ['a']);
  });

  test('usage names daemon.md in the docs directory it is given', () => {
    const text = usage('/usr/lib/node_modules/gitopper/docs/');
    assert.match(text, /\/usr\/lib\/node_modules\/gitopper\/docs\/daemon\.md/);
    assert.doesNotMatch(text, /See docs\/daemon\.md/);
  });

  const program = path.resolve('dist', 'cmd', 'gitopper.js');
  const run = (...args: string[]) => spawnSync(process.execPath, [program, ...args], { encoding: 'utf8', timeout: 30_000 });

  test('gitopper --help: exit 0, and the docs path it names exists next to the program (as in the package)', () => {
    const r = run('--help');
    assert.equal(r.status, 0, r.stderr);
    const named = /^(\/\S+\/daemon\.md) /m.exec(r.stdout)?.[1];
    assert.ok(named, r.stdout);
    assert.equal(named, path.resolve('docs', 'daemon.md'));
    assert.ok(existsSync(named));
  });

  test('gitopper -h alone: exit 1 with the hosts/help message on stderr', () => {
    const r = run('-h');
    assert.equal(r.status, 1);
    assert.match(r.stderr, /^gitopper: -h is -h\/--hosts NAME, as in gitopper: .* For help use --help\n$/);
    assert.equal(r.stdout, '');
  });
});
