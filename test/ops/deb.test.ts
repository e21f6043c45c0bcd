/**
 * The Debian package (`npm run deb`, config/debian/): built from the current dist/, installed with
 * the real dpkg, run, and removed. Root only (it installs into this machine's /usr for the length of
 * the test; a gitopper package that is already installed is left alone: the test skips).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { existsSync, lstatSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { findProgram } from '../rig/system-packages.js';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const { version } = (await import(path.join(repo, 'package.json'), { with: { type: 'json' } })).default as { version: string };

function run(cmd: string, args: string[], timeout = 120_000): SpawnSyncReturns<string> {
  return spawnSync(cmd, args, { encoding: 'utf8', timeout, env: { ...process.env, LC_ALL: 'C.UTF-8' } });
}
/**
 * dpkg, retried for up to two minutes while another apt or dpkg holds the frontend lock (dpkg has no
 * lock timeout of its own): other test files run `apt-get` at the same time (packages.test).
 */
function dpkg(args: string[]): SpawnSyncReturns<string> {
  const until = Date.now() + 120_000;
  for (;;) {
    const r = run('dpkg', args);
    if (r.status === 0 || !/frontend lock|locked by another process|could not get lock/i.test(r.stderr) || Date.now() > until) return r;
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 500);
  }
}
const ok = (r: SpawnSyncReturns<string>, what: string) => assert.equal(r.status, 0, `${what}: ${r.error?.message ?? ''}${r.stdout}${r.stderr}`);
const installed = (pkg: string) => /^Status: install ok installed$/m.test(run('dpkg', ['-s', pkg]).stdout);

function why(): string | false {
  if (process.getuid?.() !== 0) return 'needs root: dpkg -i installs into /usr';
  for (const p of ['dpkg-deb', 'dpkg']) if (!findProgram(p)) return `no ${p} in PATH (not a Debian system)`;
  if (installed('gitopper')) return 'a gitopper package is installed on this machine already; the test does not replace it';
  return false;
}

const FILES = [
  '/usr/bin/gitopper', '/usr/bin/gitopperctl', '/usr/bin/gitopperctl-rest',
  '/usr/lib/gitopper/dist/cmd/gitopper.js', '/usr/lib/gitopper/dist/cmd/gitopper-fetch.js', '/usr/lib/gitopper/package.json',
  '/usr/lib/gitopper/docs/daemon.md', '/usr/lib/gitopper/node_modules/isomorphic-git/package.json',
  '/usr/lib/systemd/system/gitopper.service',
  '/usr/share/man/man8/gitopper.8.gz', '/usr/share/man/man8/gitopperctl.8.gz',
  '/usr/share/bash-completion/completions/gitopperctl',
  '/usr/share/doc/gitopper/copyright', '/usr/share/doc/gitopper/examples/config.toml',
  '/usr/share/doc/gitopper/examples/alerts.yml', '/usr/share/doc/gitopper/examples/grafana-dashboard.json',
];

test('npm run deb builds a package that installs, runs and removes cleanly', { skip: why(), timeout: 600_000 }, () => {
  const out = mkdtempSync(path.join(os.tmpdir(), 'gitopper-deb-test-'));
  try {
    const built = run(process.execPath, [path.join(repo, 'config/debian/build-deb.mjs'), '--out', out], 300_000);
    ok(built, 'build-deb.mjs');
    const deb = path.join(out, `gitopper_${version}_all.deb`);
    assert.equal(built.stdout.trim(), deb);

    const info = run('dpkg-deb', ['-f', deb, 'Package', 'Version', 'Architecture', 'Depends']);
    ok(info, 'dpkg-deb -f');
    assert.equal(info.stdout, `Package: gitopper\nVersion: ${version}\nArchitecture: all\nDepends: nodejs (>= 20)\n`);
    const list = run('dpkg-deb', ['-c', deb]);
    ok(list, 'dpkg-deb -c');
    const entries = list.stdout.trim().split('\n');
    assert.ok(entries.every((l) => l.split(/\s+/)[1] === 'root/root'), 'every file is root:root');
    assert.ok(!entries.some((l) => /\.node$/.test(l)), 'no native addon in an "all" package');
    for (const dev of ['typescript', 'marked-man', 'fast-check']) assert.ok(!entries.some((l) => l.includes(`/node_modules/${dev}/`)), `devDependency ${dev} is not shipped`);
    assert.ok(!entries.some((l) => / \.\/etc\//.test(l)), 'nothing under /etc (so no conffiles)');

    // nodejs from a Debian package (Debian's or NodeSource's) satisfies Depends; a Node installed
    // otherwise (a tarball, nvm) is unknown to dpkg, so only then is the dependency forced.
    const force = installed('nodejs') ? [] : ['--force-depends'];
    try {
      ok(dpkg(['-i', ...force, deb]), `dpkg -i ${force.join(' ')}`);
      for (const f of FILES) assert.ok(existsSync(f), `${f} is installed`);
      assert.equal(lstatSync('/usr/bin/gitopper').mode & 0o777, 0o755);
      assert.equal(run('dpkg-query', ['-W', '-f=${Conffiles}', 'gitopper']).stdout.trim(), '');
      assert.equal(existsSync('/etc/systemd/system/multi-user.target.wants/gitopper.service'), false, 'not enabled on install');

      const help = run('/usr/bin/gitopper', ['--help']);
      ok(help, '/usr/bin/gitopper --help');
      assert.match(help.stdout, /^Usage: gitopper -c CONFIG/);
      assert.match(help.stdout, /\/usr\/lib\/gitopper\/docs\/daemon\.md/, '--help names the installed docs');
      const ctl = run('/usr/bin/gitopperctl', ['--help']);
      ok(ctl, '/usr/bin/gitopperctl --help');
      assert.match(ctl.stdout, /^usage: gitopperctl/);
      if (findProgram('man')) assert.equal(run('man', ['-w', 'gitopper']).stdout.trim(), '/usr/share/man/man8/gitopper.8.gz');
      ok(run('bash', ['--norc', '-c', '. /usr/share/bash-completion/completions/gitopperctl && complete -p gitopperctl']), 'completion loads');
      const unit = run('systemd-analyze', ['verify', '/usr/lib/systemd/system/gitopper.service']);
      if (!unit.error) assert.ok(!/gitopper\.service:.*(unknown|invalid|not executable)/i.test(unit.stderr), unit.stderr);

      const owned = run('dpkg', ['-L', 'gitopper']).stdout.trim().split('\n').filter((f) => f.startsWith('/usr/') && existsSync(f) && !lstatSync(f).isDirectory());
      assert.ok(owned.length > 100, `dpkg -L lists the files (${owned.length})`);
      ok(dpkg(['-r', 'gitopper']), 'dpkg -r');
      assert.equal(installed('gitopper'), false);
      assert.deepEqual(owned.filter((f) => existsSync(f)), [], 'every file is gone');
      assert.equal(existsSync('/usr/lib/gitopper'), false, '/usr/lib/gitopper is gone');
    } finally {
      dpkg(['--purge', 'gitopper']);
    }
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
});
