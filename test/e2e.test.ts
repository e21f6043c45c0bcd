/**
 * The agent's main job, end to end, on real parts: the gitopper-config history served by
 * git-http-backend on loopback, a real systemd user manager on its own D-Bus, real bind mounts in
 * the test run's private mount namespace, and the real daemon binary.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { reloadMarkerUnit } from './rig/systemd.js';
import { isPass, isState, lines, waitFor, World, worldPerFile } from './e2e/world.js';

let w: World;
const { skip } = worldPerFile('gitopper-e2e', (x) => (w = x));

test('config → sparse checkout → bind mounts → systemd reload, on the gitopper-config history', { skip, timeout: 120_000 }, async (t) => {
  const marker = path.join(w.dir, 'grafana.reloads');
  await w.um.writeUnit('grafana-server.service', reloadMarkerUnit('grafana-server', marker));
  const d = await w.daemon('main', w.config('main', w.grafana('main')));
  t.after(() => d.stop());
  await d.waitLog((l) => l.msg === 'ready', 'first pass');
  const etc = path.join(w.dir, 'main', 'etc', 'grafana');
  const checkout = path.join(w.dir, 'main', 'grafana1', 'grafana-server');

  // first setup: sparse checkout of the links only, owned by the service user, mounted, unit started
  assert.equal(readFileSync(path.join(etc, 'grafana.ini'), 'utf8'), readFileSync(path.join(checkout, 'grafana/etc/grafana.ini'), 'utf8'));
  assert.ok(existsSync(path.join(checkout, 'grafana/dashboards/dash.json')));
  assert.equal(existsSync(path.join(checkout, 'crapdir')), false, 'paths outside the links are not checked out');
  assert.equal(existsSync(path.join(checkout, 'prometheus')), false);
  assert.equal(statSync(path.join(checkout, 'grafana/etc/grafana.ini')).uid, 65534, 'owned by user nobody');
  assert.equal(statSync(path.join(etc, 'grafana.ini')).ino, statSync(path.join(checkout, 'grafana/etc/grafana.ini')).ino, 'bind mount shows the checkout');
  assert.equal((await w.um.systemctl('is-active', 'grafana-server.service')).trim(), 'active', 'first setup started the unit');
  assert.equal(lines(marker), 0, 'no reload at first setup');

  // a change under a link: new bytes at the target and exactly one reload
  await w.work.write('grafana/etc/grafana.ini', '[server]\nhttp_port = 3001\n');
  const c1 = await w.work.commit('grafana: new port');
  const pushed = performance.now();
  await w.work.push();
  await waitFor(() => lines(marker) === 1, 'the reload');
  const pushToReload = (performance.now() - pushed) / 1000;
  assert.equal(readFileSync(path.join(etc, 'grafana.ini'), 'utf8'), '[server]\nhttp_port = 3001\n');
  const applied = await d.waitLog(isPass('grafana-server', c1), 'pass at c1');
  assert.deepEqual(applied.changed, ['grafana/etc/grafana.ini']);
  const after1 = d.lines.length;
  await d.waitLog(isPass('grafana-server'), 'one more pass', 10_000, after1);
  assert.equal(lines(marker), 1, 'exactly one reload');

  // requests per pass with nothing new
  const mark = w.server.mark();
  const from = d.lines.length;
  await d.waitLog(isPass('grafana-server'), 'idle pass', 10_000, from);
  const m2 = w.server.mark();
  const from2 = d.lines.length;
  await d.waitLog(isPass('grafana-server'), 'second idle pass', 10_000, from2);
  const perPass = w.server.countSince(m2);
  assert.ok(w.server.countSince(mark) >= 1);
  assert.ok(d.lines.slice(from).some((l) => l.msg === 'pass skipped' && l.service === 'grafana-server'), 'a poll that found nothing new skipped the service (--verify-every)');

  // a change outside the links: the hash moves, nothing reloads
  await w.work.write('crapdir/crap.md', 'more crap\n');
  const c2 = await w.work.commit('crap');
  await w.work.push();
  await d.waitLog(isPass('grafana-server', c2), 'pass at c2');
  await d.waitLog(isPass('grafana-server'), 'one more pass', 10_000, d.lines.length);
  assert.equal(lines(marker), 1, 'no reload for crapdir/');
  assert.equal(existsSync(path.join(checkout, 'crapdir')), false);

  // upstream unreachable → DIFF, files stay; back → OK
  w.server.down();
  await d.waitLog(isState('grafana-server', 'DIFF'), 'DIFF');
  assert.equal(readFileSync(path.join(etc, 'grafana.ini'), 'utf8'), '[server]\nhttp_port = 3001\n', 'files stay');
  w.server.up();
  const from3 = d.lines.length;
  await d.waitLog(isState('grafana-server', 'OK'), 'recovery', 15_000, from3);

  t.diagnostic(`push-to-reload with -t 1s: ${pushToReload.toFixed(3)} s`);
  t.diagnostic(`git HTTP requests per idle pass, 1 service: ${perPass}`);
  t.diagnostic(`daemon peak RSS: ${(d.peakRssKiB() / 1024).toFixed(1)} MiB`);
  assert.equal(await d.stop('SIGTERM'), 0, 'SIGTERM → exit 0');
});

test('three services on one upstream: one fetch per pass; a failing reload is BROKEN with systemd\'s reason', { skip, timeout: 120_000 }, async (t) => {
  const okMarker = path.join(w.dir, 'prom.reloads');
  await w.um.writeUnit('prometheus.service', reloadMarkerUnit('prometheus', okMarker));
  await w.um.writeUnit('caddy.service', reloadMarkerUnit('caddy', path.join(w.dir, 'caddy.reloads'), { failReload: true }));
  const services = `${w.grafana('three')}
[[services]]
machine = "grafana.atoom.net"
service = "prometheus"
action = "reload"
dirs = [ { local = "${w.dir}/three/etc/prometheus", link = "prometheus/etc" } ]

[[services]]
machine = "grafana.atoom.net"
service = "caddy"
action = "reload"
dirs = [ { local = "${w.dir}/three/caddy/docker-compose.yml", link = "docker-compose/caddy/docker-compose.yml", file = true } ]
`;
  const d = await w.daemon('three', w.config('three', services));
  t.after(() => d.stop());
  await d.waitLog((l) => l.msg === 'ready', 'first pass');
  const fetches = () => d.lines.filter((l) => l.msg === 'fetched').length;
  const m = w.server.mark();
  const f0 = fetches();
  await waitFor(() => fetches() >= f0 + 2, 'two more passes');
  const passes = fetches() - f0;
  const perPass = w.server.countSince(m) / passes;
  const passLines = d.lines.filter((l) => l.msg === 'pass done' || l.msg === 'pass applied' || l.msg === 'pass skipped');
  assert.ok(passLines.length >= 3 * 2, 'every service had passes');

  // single-file mount, then a change to it: the mount is re-made and the reload fails → BROKEN
  const yml = path.join(w.dir, 'three', 'caddy', 'docker-compose.yml');
  await w.work.write('docker-compose/caddy/docker-compose.yml', 'services: {}\n');
  const c = await w.work.commit('caddy');
  await w.work.push();
  const broken = await d.waitLog(isState('caddy', 'BROKEN'), 'caddy BROKEN');
  assert.match(String(broken.info), /systemd reload caddy\.service: job failed \(ActiveState=active, Result=success\)/);
  assert.equal(readFileSync(yml, 'utf8'), 'services: {}\n', 'the single-file mount shows the new file');
  await d.waitLog(isPass('prometheus', c), 'prometheus saw the same commit');
  assert.equal(lines(okMarker), 0, 'prometheus did not reload for a caddy change');
  t.diagnostic(`git HTTP requests per idle pass, 3 services on one upstream: ${perPass.toFixed(1)} (${passes} passes)`);
  assert.ok(perPass <= 2, `one fetch per pass for three services (saw ${perPass} requests per pass)`);
});

test('a user that does not exist is BROKEN and nothing is checked out as root in its place', { skip, timeout: 60_000 }, async (t) => {
  const services = w.grafana('nouser').replace('user = "nobody"', 'user = "no-such-user-here"');
  const d = await w.daemon('nouser', w.config('nouser', services));
  t.after(() => d.stop());
  const l = await d.waitLog(isState('grafana-server', 'BROKEN'), 'BROKEN');
  assert.match(String(l.info), /user "no-such-user-here" does not exist on this host/);
  assert.equal(existsSync(path.join(w.dir, 'nouser', 'grafana1', 'grafana-server')), false);
  assert.equal(existsSync(path.join(w.dir, 'nouser', 'etc', 'grafana')), false);
});

test('bad config exits 1 naming the key and touches nothing; no service for this host exits 0; SIGHUP exits 2', { skip, timeout: 60_000 }, async () => {
  const bad = await w.daemon('bad', w.config('bad', w.grafana('bad').replace('action = "reload"', 'action = "explode"')));
  assert.equal(await bad.exited(), 1);
  assert.match(bad.stderr(), /action/);
  assert.equal(existsSync(path.join(w.dir, 'bad', 'state')), false, 'nothing created');
  const none = await w.daemon('none', w.config('none', w.grafana('none').replace('grafana.atoom.net', 'elsewhere.example')));
  assert.equal(await none.exited(), 0);
  const hup = await w.daemon('hup', w.config('hup', w.grafana('hup')));
  await hup.waitLog((l) => l.msg === 'ready', 'ready');
  assert.equal(await hup.stop('SIGHUP'), 2);
});
