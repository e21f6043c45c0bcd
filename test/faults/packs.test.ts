/**
 * Fault suite (docs/reliability.md): a pack of an object store damaged on disk (one flipped byte in
 * the middle), on the real daemon. Packs are read by offset and checked once per pack file per process
 * (src/adapters/git/packs/): after a restart the damaged pack is checked again, the pass fails with
 * `CORRUPT_PACK` instead of deploying other bytes, the deployed files stay; once the operator removes
 * the store, the next pass fetches it again and deploys the tip.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { storeName } from '../../src/upstream/upstream.js';
import { reloadMarkerUnit } from '../rig/systemd.js';
import { isPass, isState, World, worldPerFile } from '../e2e/world.js';
import { grafanaTargets, ownUpstream } from './lib/rig.js';
import { filesUnder } from './lib/trees.js';

let w: World;
const { skip } = worldPerFile('gitopper-faults-packs', (x) => (w = x));
const SVC = 'grafana-server';

test('a store pack with a flipped byte: the pass fails with CORRUPT_PACK, the deployed files stay; removing the store heals it', { skip, timeout: 180_000 }, async (t) => {
  const u = await ownUpstream(w, 'packs');
  await w.um.writeUnit(`${SVC}.service`, reloadMarkerUnit(SVC, path.join(w.dir, 'packs.reloads')));
  let d = await w.daemon('packs', u.config());
  t.after(async () => {
    await d.stop('SIGKILL');
    await u.proxy.close();
  });
  await d.waitLog(isState(SVC, 'OK'), 'first OK', 60_000);
  const { etc } = grafanaTargets(w, 'packs');
  const deployed = filesUnder(etc);
  assert.equal(await d.stop('SIGTERM'), 0);

  const store = path.join(w.dir, 'packs', 'state', 'upstreams', storeName(u.url));
  const packDir = path.join(store, 'objects', 'pack');
  const packs = fs.readdirSync(packDir).filter((f) => f.endsWith('.pack'));
  assert.ok(packs.length > 0);
  for (const p of packs) {
    const file = path.join(packDir, p);
    const buf = fs.readFileSync(file);
    buf[buf.length >> 1] = buf[buf.length >> 1]! ^ 0x40;
    fs.chmodSync(file, 0o644);
    fs.writeFileSync(file, buf);
  }
  await u.work.write('grafana/etc/grafana.ini', '[server]\nhttp_port = 3999\n');
  const tip = await u.work.commit('a change that must not be deployed from a damaged store');
  await u.work.push();

  d = await w.daemon('packs', u.config());
  const bad = await d.waitLog((l) => l.msg === 'state' && l.service === SVC && /is corrupt/.test(String(l.info)), 'the corrupt pack reported', 60_000);
  assert.notEqual(bad.state, 'OK');
  assert.match(String(bad.info), /CORRUPT_PACK: pack .* is corrupt \(content SHA-1 [0-9a-f]{40}, trailer [0-9a-f]{40}\); check the store with git fsck/);
  assert.deepEqual(filesUnder(etc), deployed, 'the deployed files stay as they were');

  fs.rmSync(store, { recursive: true, force: true }); // the operator's fix
  await d.waitLog(isPass(SVC, tip), 'the tip deployed from a store fetched again', 60_000);
  await d.waitLog(isState(SVC, 'OK'), 'OK again', 60_000);
  assert.match(fs.readFileSync(path.join(etc, 'grafana.ini'), 'utf8'), /http_port = 3999/);
});
