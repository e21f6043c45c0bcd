/**
 * Live config (-r) and self-bootstrap (-U -D -M) on the real daemon with the gitopper-config history.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { reloadMarkerUnit } from './rig/systemd.js';
import { startDaemon } from './e2e/daemon.js';
import { isState, waitFor, World, worldPerFile } from './e2e/world.js';

let w: World;
const { skip } = worldPerFile('gitopper-e2e-cfg', (x) => (w = x));

const mounted = (target: string) => readFileSync('/proc/self/mountinfo', 'utf8').split('\n').some((l) => l.split(' ')[4] === target);

test('-r applies config changes in place and refuses a bad config, keeping the running one', { skip, timeout: 120_000 }, async () => {
  await w.um.writeUnit('grafana-server.service', reloadMarkerUnit('grafana-server', path.join(w.dir, 'g.reloads')));
  await w.um.writeUnit('prometheus.service', reloadMarkerUnit('prometheus', path.join(w.dir, 'p.reloads')));
  const prom = `
[[services]]
machine = "grafana.atoom.net"
service = "prometheus"
action = "reload"
dirs = [ { local = "${w.dir}/live/etc/prometheus", link = "prometheus/etc" } ]
`;
  const file = path.join(w.dir, 'live.toml');
  const d = await w.daemon('live', w.config('live', w.grafana('live')), ['-r']);
  try {
    await d.waitLog((l) => l.msg === 'ready', 'ready');
    const grafanaEtc = path.join(w.dir, 'live', 'etc', 'grafana');
    assert.ok(mounted(grafanaEtc));

    // add a service
    await writeFile(file, w.config('live', w.grafana('live') + prom));
    const added = await d.waitLog((l) => l.msg === 'config applied', 'config applied');
    assert.deepEqual(added.added, ['prometheus']);
    assert.deepEqual(added.unchanged, ['grafana-server']);
    await d.waitLog(isState('prometheus', 'OK'), 'prometheus OK');
    assert.ok(existsSync(path.join(w.dir, 'live', 'etc', 'prometheus', 'prometheus.yml')));

    // remove one: its mounts go, the other stays
    const n = d.lines.length;
    await writeFile(file, w.config('live', prom));
    const removed = await d.waitLog((l) => l.msg === 'config applied', 'second config applied', 20_000, n);
    assert.deepEqual(removed.removed, ['grafana-server']);
    assert.equal(mounted(grafanaEtc), false, 'the removed service\'s mount is gone');
    assert.deepEqual(readdirSync(grafanaEtc), [], 'the target directory is left, empty');
    assert.ok(mounted(path.join(w.dir, 'live', 'etc', 'prometheus')));

    // an invalid config is refused with file and key, and the running one stays
    const m = d.lines.length;
    await writeFile(file, w.config('live', prom.replace('action = "reload"', 'action = "explode"')));
    const refused = await d.waitLog((l) => l.msg === 'config refused: keeping the running one', 'refusal', 20_000, m);
    assert.match(String(refused.err), /live\.toml.*action/s);
    const api = await d.apiUrl();
    const list = (await (await w.fetch(`${api}/list/service`)).json()) as { services: { service: string; state: string }[] };
    assert.deepEqual(list.services.map((s) => [s.service, s.state]), [['prometheus', 'OK']]);
  } finally {
    await d.stop();
  }
});

test('self-bootstrap: -U -D -M checks out the config directory, manages it as "gitopper", applies repo config changes, refuses bad ones', { skip, timeout: 120_000 }, async () => {
  // the operator's key goes into the config repository, as an operator would add it
  const repoCfg = await w.work.git('show', 'HEAD:gitopper/config.toml');
  await w.work.write('gitopper/keys/operator.pub', readFileSync(w.operator.pub, 'utf8'));
  await w.work.write('gitopper/config.toml', repoCfg.replace('keys = [\n', 'keys = [\n    { path = "keys/operator.pub" },\n'));
  await w.work.commit('add the e2e operator key');
  await w.work.push();
  const mount = path.join(w.dir, 'boot');
  const args = ['-U', w.server.url('gitopper-config.git'), '-D', 'gitopper', '-M', mount, '-c', 'config.toml', '-h', 'bootstrap-test', '-t', '1s', '--user', '-d', '--state-dir', path.join(w.dir, 'boot-state'), '-m', '127.0.0.1:0', '-s', '127.0.0.1:0', '--insecure-http'];
  const d = startDaemon(args, w.um.env as Record<string, string>);
  try {
    await d.waitLog((l) => l.msg === 'bootstrapped', 'bootstrapped');
    await d.waitLog((l) => l.msg === 'ready', 'ready');
    const checkout = path.join(mount, 'gitopper');
    assert.ok(existsSync(path.join(checkout, 'gitopper', 'config.toml')));
    assert.deepEqual(readdirSync(checkout).sort(), ['.git', 'gitopper'], 'only the -D directory is checked out');
    const api = await d.apiUrl();
    const list = async () => ((await (await w.fetch(`${api}/list/service`)).json()) as { services: { service: string; state: string }[] }).services.map((s) => [s.service, s.state]);
    assert.deepEqual(await list(), [['gitopper', 'OK']]);

    // a config change in the repo is applied live: a service for this host appears
    const cfg = (await w.work.git('show', 'HEAD:gitopper/config.toml'));
    const withService = `${cfg}
[[services]]
machine = "bootstrap-test"
service = "crap"
upstream = "${w.server.url('gitopper-config.git')}"
mount = "${w.dir}/boot-checkouts"
action = ""
dirs = [ { local = "${w.dir}/boot-targets/crap", link = "crapdir" } ]
`;
    await w.work.write('gitopper/config.toml', withService);
    await w.work.commit('add a service for bootstrap-test');
    await w.work.push();
    const applied = await d.waitLog((l) => l.msg === 'config applied', 'config applied', 30_000);
    assert.deepEqual(applied.added, ['crap']);
    const crapState = await d.waitLog((l) => l.msg === 'state' && l.service === 'crap' && l.info !== 'starting', 'crap\'s first state', 30_000);
    assert.equal(crapState.state, 'OK', String(crapState.info));
    await waitFor(() => existsSync(path.join(w.dir, 'boot-targets', 'crap', 'crap.md')), 'the new service mounted');
    assert.ok(existsSync(path.join(w.dir, 'boot-checkouts', 'crap', 'crapdir', 'crap.md')), 'its checkout is in the test dir, not in the repo config\'s global mount');

    // an invalid config in the repo is refused and reported; the running one stays
    const n = d.lines.length;
    await w.work.write('gitopper/config.toml', withService.replace('action = ""', 'action = "explode"'));
    await w.work.commit('break the config');
    await w.work.push();
    const refused = await d.waitLog((l) => l.msg === 'config refused: keeping the running one', 'refusal', 30_000, n);
    assert.match(String(refused.err), /config\.toml.*action/s);
    assert.deepEqual((await list()).map((r) => r[0]).sort(), ['crap', 'gitopper']);
  } finally {
    await d.stop();
  }
});
