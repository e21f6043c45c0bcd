import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync } from 'node:fs';
import { packageFamily, SystemPackages } from '../src/adapters/host/packages.js';
import { reconcile } from '../src/core/reconcile.js';
import type { PackagePort } from '../src/ports/host.js';
import { FakeGit, FakeMounts, FakeUnits, FakeUsers, ManualClock } from './fakes/ports.js';
import { spec } from './fakes/spec.js';
import { findProgram } from './rig/system-packages.js';

test('package family from os-release ID / ID_LIKE', () => {
  assert.equal(packageFamily('ID=debian\nVERSION_ID="12"\n'), 'debian');
  assert.equal(packageFamily('ID=ubuntu\nID_LIKE=debian\n'), 'debian');
  assert.equal(packageFamily('ID=linuxmint\nID_LIKE="ubuntu debian"\n'), 'debian');
  assert.equal(packageFamily('ID=arch\n'), 'arch');
  assert.equal(packageFamily('ID=endeavouros\nID_LIKE=arch\n'), 'arch');
  assert.equal(packageFamily('ID=fedora\nID_LIKE="rhel centos"\n'), undefined);
});

const debian = existsSync('/usr/bin/dpkg-query') && process.getuid?.() === 0;

test('real apt: an installed package is present; an unknown one fails with apt\'s reason; a bad name never reaches a command', { skip: debian ? false : 'needs a Debian host and root' }, async () => {
  const p = new SystemPackages();
  assert.equal(await p.ensure('dpkg'), 'present');
  await assert.rejects(p.ensure('gitopper-no-such-package-xyz'), /apt-get install gitopper-no-such-package-xyz failed: .*(Unable to locate|E:)/);
  await assert.rejects(p.ensure('foo; rm -rf /'), /not a valid package name/);
  await assert.rejects(p.ensure('-o=Dpkg::Foo'), /not a valid package name/);
});

/** apt's version as [major, minor, patch] (`apt-get --version`: "apt 2.6.1 (amd64)"), or undefined. */
function aptVersion(): number[] | undefined {
  try {
    const m = /^apt (\d+)\.(\d+)\.(\d+)/.exec(execFileSync('apt-get', ['--version'], { encoding: 'utf8' }));
    return m ? m.slice(1, 4).map(Number) : undefined;
  } catch {
    return undefined;
  }
}
const apt = debian ? aptVersion() : undefined;
// DPkg::Lock::Timeout is apt >= 1.9.11 (older apt ignores it and fails at once: the adapter's documented floor)
const lockTimeout = apt !== undefined && (apt[0]! > 1 || (apt[0] === 1 && (apt[1]! > 9 || (apt[1] === 9 && apt[2]! >= 11))));

test('real apt: while another process holds the dpkg lock, apt-get waits for it instead of failing at once', { skip: !debian || !findProgram('python3') ? 'needs a Debian host, root and python3 (to hold the lock)' : lockTimeout ? false : `apt ${apt?.join('.') ?? '?'} has no DPkg::Lock::Timeout (apt >= 1.9.11)` }, async () => {
  // python3's fcntl.lockf takes the same POSIX record lock apt and dpkg take on lock-frontend
  const holder = spawn('python3', ['-c', "import fcntl,sys,time\nf=open('/var/lib/dpkg/lock-frontend','w')\nfcntl.lockf(f,fcntl.LOCK_EX)\nprint('held',flush=True)\ntime.sleep(3)"], { stdio: ['ignore', 'pipe', 'inherit'] });
  let releasedAt = Infinity;
  const exited = once(holder, 'exit').then(() => (releasedAt = Date.now()));
  const [line] = (await once(holder.stdout!, 'data')) as [Buffer];
  assert.equal(line.toString().trim(), 'held');
  const err = await new SystemPackages().ensure('gitopper-no-such-package-xyz').then(() => undefined, (e: Error) => e);
  const returnedAt = Date.now();
  await exited;
  assert.equal(holder.exitCode, 0);
  assert.ok(releasedAt <= returnedAt, 'apt-get returned only after the holder let go of the lock');
  assert.match(String(err?.message), /Unable to locate package gitopper-no-such-package-xyz/, 'the real answer, not "could not get lock"');
});

test('reconcile installs the package once, before looking up the user; a failure is BROKEN and retried', async () => {
  const calls: string[] = [];
  let fail = true;
  const packages: PackagePort = {
    ensure: async (name) => {
      calls.push(name);
      if (fail) throw new Error('apt-get install grafana failed: E: Unable to locate package grafana');
      return 'installed';
    },
  };
  const git = new FakeGit();
  git.push('c1', { 'grafana/etc/grafana.ini': 'v1' });
  const deps = { git, mounts: new FakeMounts(), units: new FakeUnits(), users: new FakeUsers(), clock: new ManualClock(), packages };
  const s = spec({ package: 'grafana' });
  const bad = await reconcile(s, 'c1', { pendingAction: false }, deps);
  assert.equal(bad.state, 'BROKEN');
  assert.match(bad.info, /installing package grafana: apt-get install grafana failed/);
  assert.equal(git.checkouts.length, 0);
  fail = false;
  const ok = await reconcile(s, 'c1', bad.runtime, deps);
  assert.equal(ok.state, 'OK');
  assert.ok(ok.actions.includes('install grafana'));
  const again = await reconcile(s, 'c1', ok.runtime, deps);
  assert.equal(again.state, 'OK');
  assert.deepEqual(calls, ['grafana', 'grafana'], 'not asked again once installed');
});
