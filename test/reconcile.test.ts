import { test } from 'node:test';
import assert from 'node:assert/strict';
import { checkoutOf, isTemplateInstance, reconcile, unitName, type ReconcileDeps } from '../src/core/reconcile.js';
import { FakeGit, FakeMounts, FakeUnits, FakeUsers, ManualClock } from './fakes/ports.js';
import { spec } from './fakes/spec.js';

function deps(): ReconcileDeps & { git: FakeGit; mounts: FakeMounts; units: FakeUnits } {
  const git = new FakeGit();
  git.push('c1', { 'grafana/etc/grafana.ini': 'v1', 'crapdir/crap.md': 'x' });
  return { git, mounts: new FakeMounts(), units: new FakeUnits(), users: new FakeUsers(), clock: new ManualClock() };
}
const idle = { pendingAction: false };

test('first setup checks out, mounts, and starts the inactive unit', async () => {
  const d = deps();
  const out = await reconcile(spec(), 'c1', idle, d);
  assert.equal(out.state, 'OK');
  assert.equal(out.commit, 'c1');
  assert.deepEqual(d.git.checkouts, [{ dir: '/srv/gitopper/grafana-server', commit: 'c1' }]);
  assert.equal(d.mounts.mounted.get('/etc/grafana'), '/srv/gitopper/grafana-server/grafana/etc');
  assert.deepEqual(d.units.calls, ['daemon-reload', 'start grafana-server.service']);
  assert.equal(out.mounted, 1);
});

test('a change under a link reloads once; a change elsewhere only moves HEAD', async () => {
  const d = deps();
  await reconcile(spec(), 'c1', idle, d);
  d.units.calls = [];
  d.git.push('c2', { 'grafana/etc/grafana.ini': 'v2', 'crapdir/crap.md': 'x' });
  const out = await reconcile(spec(), 'c2', idle, d);
  assert.equal(out.state, 'OK');
  assert.deepEqual(out.changed, ['grafana/etc/grafana.ini']);
  assert.deepEqual(d.units.calls, ['daemon-reload', 'reload grafana-server.service']);

  d.units.calls = [];
  d.git.push('c3', { 'grafana/etc/grafana.ini': 'v2', 'crapdir/crap.md': 'y' });
  const out3 = await reconcile(spec(), 'c3', idle, d);
  assert.equal(out3.commit, 'c3');
  assert.deepEqual(out3.changed, []);
  assert.deepEqual(d.units.calls, []);
  assert.equal(d.git.checkouts.length, 2, 'no checkout for a change outside the links');
  assert.equal(d.git.head.get('/srv/gitopper/grafana-server'), 'c3');
});

test('nothing new: no checkout, no systemd call', async () => {
  const d = deps();
  await reconcile(spec(), 'c1', idle, d);
  d.units.calls = [];
  const out = await reconcile(spec(), 'c1', idle, d);
  assert.equal(out.state, 'OK');
  assert.deepEqual(d.units.calls, []);
  assert.equal(d.git.checkouts.length, 1);
  assert.equal(out.job, undefined);
  assert.equal(out.phases.unit, undefined, 'no unit phase when systemd is not asked');
});

test('a failed reload is BROKEN with the job result, and is retried on the next pass', async () => {
  const d = deps();
  await reconcile(spec(), 'c1', idle, d);
  d.git.push('c2', { 'grafana/etc/grafana.ini': 'v2' });
  d.units.result = 'failed';
  const out = await reconcile(spec(), 'c2', idle, d);
  assert.equal(out.state, 'BROKEN');
  assert.match(out.info, /reload grafana-server\.service: job failed \(ActiveState=failed, Result=exit-code\)/);
  assert.equal(out.runtime.pendingAction, true);
  assert.deepEqual(out.job, { action: 'reload', result: 'failed' });
  assert.deepEqual(Object.keys(out.phases).sort(), ['checkout', 'mount', 'unit']);
  d.units.result = 'done';
  d.units.calls = [];
  const again = await reconcile(spec(), 'c2', out.runtime, d);
  assert.equal(again.state, 'OK');
  assert.deepEqual(d.units.calls, ['daemon-reload', 'reload grafana-server.service']);
  assert.equal(again.runtime.pendingAction, false);
});

test('a git failure is DIFF and keeps the deployed commit', async () => {
  const d = deps();
  await reconcile(spec(), 'c1', idle, d);
  d.git.push('c2', { 'grafana/etc/grafana.ini': 'v2' });
  d.git.failCheckout = new Error('disk full');
  const out = await reconcile(spec(), 'c2', idle, d);
  assert.equal(out.state, 'DIFF');
  assert.match(out.info, /checking out c2: disk full/);
  assert.equal(out.commit, 'c1');
});

test('a mount failure is BROKEN and recovers on a later pass', async () => {
  const d = deps();
  d.mounts.fail = new Error('/etc/grafana is already mounted from 8:1:/elsewhere');
  const out = await reconcile(spec(), 'c1', idle, d);
  assert.equal(out.state, 'BROKEN');
  assert.match(out.info, /bind-mounting .* on \/etc\/grafana: .*already mounted/);
  assert.deepEqual(d.units.calls, []);
  d.mounts.fail = undefined;
  const ok = await reconcile(spec(), 'c1', out.runtime, d);
  assert.equal(ok.state, 'OK');
  assert.deepEqual(d.units.calls, ['daemon-reload', 'start grafana-server.service']);
});

test('an unknown user is BROKEN and nothing is checked out or mounted (no root fallback)', async () => {
  const d = deps();
  const out = await reconcile(spec({ user: 'nobody-here' }), 'c1', idle, d);
  assert.equal(out.state, 'BROKEN');
  assert.match(out.info, /user "nobody-here" does not exist on this host/);
  assert.equal(d.git.checkouts.length, 0);
  assert.equal(d.mounts.mounted.size, 0);
});

test('an active unit whose mounts were re-made (reboot) gets its action, a template instance is enabled', async () => {
  const d = deps();
  d.units.active.add('docker-compose@caddy.service');
  const s = spec({ service: 'docker-compose@caddy', dirs: [{ local: '/tmp/dc.yml', link: 'docker-compose/caddy/docker-compose.yml', file: true }] });
  d.git.push('c1', { 'docker-compose/caddy/docker-compose.yml': 'a' });
  const out = await reconcile(s, 'c1', idle, d);
  assert.equal(out.state, 'OK');
  assert.deepEqual(d.units.calls, ['daemon-reload', 'enable docker-compose@caddy.service', 'reload docker-compose@caddy.service']);
});

test('empty action: files and mounts, no systemd', async () => {
  const d = deps();
  const out = await reconcile(spec({ action: '' }), 'c1', idle, d);
  assert.equal(out.state, 'OK');
  assert.deepEqual(d.units.calls, []);
  assert.equal(d.mounts.mounted.size, 1);
});

test('unit names and template detection follow systemd naming', () => {
  assert.equal(unitName('grafana-server'), 'grafana-server.service');
  assert.equal(unitName('foo.timer'), 'foo.timer');
  assert.equal(isTemplateInstance('docker-compose@caddy'), true);
  assert.equal(isTemplateInstance('grafana-server'), false);
  assert.equal(checkoutOf(spec({ mount: '/tmp/grafana1/' })).dir, '/tmp/grafana1/grafana-server');
});
