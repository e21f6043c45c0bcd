/**
 * Fault suite (docs/reliability.md): object stores of upstreams that left the config do not pile up
 * in `<state-dir>/upstreams/` (src/core/store-sweep.ts), on the real daemon: after a restart with a config
 * that dropped a service and moved another to a new upstream, the dropped service's store is removed
 * and said so; the moved service's old store stays while its history needs it.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { storeName } from '../../src/upstream/upstream.js';
import { makeBare } from '../rig/repo.js';
import { reloadMarkerUnit } from '../rig/systemd.js';
import { World, worldPerFile } from '../e2e/world.js';

let w: World;
const { skip } = worldPerFile('gitopper-fault-stores', (x) => (w = x));

test('a store no service uses any more is removed (and logged) after --store-retention; one a service history still needs is kept', { skip, timeout: 120_000 }, async (t) => {
  await w.um.writeUnit('grafana-server.service', reloadMarkerUnit('grafana-server', path.join(w.dir, 'stores.reloads')));
  // a second upstream for a service that will leave the config
  await makeBare(path.join(w.dir, 'git', 'copy.git'), { 'grafana/dashboards/other.json': '{}\n' });
  const copy = w.server.url('copy.git');
  await mkdir(path.join(w.dir, 'stores', 'other'), { recursive: true });
  const other = `
[[services]]
machine = "grafana.atoom.net"
service = "other"
action = ""
upstream = "${copy}"
mount = "${w.dir}/stores/othermount"
dirs = [ { local = "${w.dir}/stores/other", link = "grafana/dashboards" } ]
`;
  let d = await w.daemon('stores', w.config('stores', w.grafana('stores') + other));
  t.after(() => d.stop('SIGKILL'));
  await d.waitLog((l) => l.msg === 'ready', 'first pass', 60_000);
  const upstreams = path.join(w.dir, 'stores', 'state', 'upstreams');
  const original = w.server.url('gitopper-config.git');
  assert.ok(existsSync(path.join(upstreams, storeName(original))));
  assert.ok(existsSync(path.join(upstreams, storeName(copy))));
  assert.equal(await d.stop('SIGTERM'), 0);

  // grafana-server moves to an unrelated repository; "other" leaves the config
  await makeBare(path.join(w.dir, 'git', 'new.git'), { 'grafana/etc/grafana.ini': '[server]\n', 'grafana/dashboards/d.json': '{}\n' });
  const fresh = w.server.url('new.git');
  const moved = w.grafana('stores').replace('service = "grafana-server"', `service = "grafana-server"\nupstream = "${fresh}"`);
  d = await w.daemon('stores', w.config('stores', moved), ['--store-retention', '1s']);
  const removed = await d.waitLog((l) => l.msg === 'object store removed: no configured service uses its upstream', 'the removal', 30_000);
  assert.equal(removed.store, storeName(copy));
  assert.equal(existsSync(path.join(upstreams, storeName(copy))), false);
  const kept = await d.waitLog((l) => l.msg === 'unused object store kept' && l.name === storeName(original), 'the kept store', 30_000);
  assert.match(String(kept.reason), /^holds [0-9a-f]{8}, still needed by a service$/);
  assert.ok(existsSync(path.join(upstreams, storeName(original))), "grafana-server's history lives only in the old store");
  assert.ok(existsSync(path.join(upstreams, storeName(fresh))));
});
