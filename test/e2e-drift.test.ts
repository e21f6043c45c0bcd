/**
 * Drift on real files: edits made through a bind-mount target are noticed (chokidar + a walk of the index and work tree),
 * reported, never silently overwritten by a pull, and reverted with drift = "revert".
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { reloadMarkerUnit } from './rig/systemd.js';
import { isState, lines, waitFor, World, worldPerFile } from './e2e/world.js';

let w: World;
const { skip } = worldPerFile('gitopper-e2e-drift', (x) => (w = x));

test('report: a local edit is reported, blocks an upstream change to that file, and clears once resolved', { skip, timeout: 120_000 }, async () => {
  await w.um.writeUnit('grafana-server.service', reloadMarkerUnit('grafana-server', path.join(w.dir, 'r.reloads')));
  const d = await w.daemon('report', w.config('report', w.grafana('report')), ['-t', '3s']);
  try {
    await d.waitLog((l) => l.msg === 'ready', 'ready');
    const ini = path.join(w.dir, 'report', 'etc', 'grafana', 'grafana.ini');
    const original = readFileSync(ini, 'utf8');
    await writeFile(ini, `${original}\n# edited on the host\n`);
    const drift = await d.waitLog((l) => l.msg === 'state' && l.service === 'grafana-server' && /^drift: 1 file/.test(String(l.info)), 'drift reported');
    assert.match(String(drift.info), /grafana\/etc\/grafana\.ini/);
    const listed = (await (await w.fetch(`${await d.apiUrl()}/list/service/grafana-server`)).json()) as { services: { drift: string[] }[] };
    assert.deepEqual(listed.services[0]!.drift, ['grafana/etc/grafana.ini'], '/list/service shows the drifted paths');

    await w.work.write('grafana/etc/grafana.ini', '[server]\nhttp_port = 5000\n');
    const tip = await w.work.commit('grafana: 5000');
    await w.work.push();
    const diff = await d.waitLog(isState('grafana-server', 'DIFF'), 'DIFF');
    assert.match(String(diff.info), new RegExp(`local edits to grafana/etc/grafana\\.ini would be overwritten by ${tip.slice(0, 8)}`));
    assert.match(readFileSync(ini, 'utf8'), /edited on the host/, 'the edit was not discarded');

    await writeFile(ini, original); // the operator resolves it
    await waitFor(() => readFileSync(ini, 'utf8') === '[server]\nhttp_port = 5000\n', 'the upstream change applied after the edit was undone', 20_000);
    await d.waitLog(isState('grafana-server', 'OK'), 'OK again');
  } finally {
    await d.stop();
  }
});

test('revert: a local edit is undone at once and the unit reloaded', { skip, timeout: 120_000 }, async () => {
  const marker = path.join(w.dir, 'v.reloads');
  await w.um.writeUnit('grafana-server.service', reloadMarkerUnit('grafana-server', marker));
  const toml = w.config('revert', w.grafana('revert').replace('action = "reload"', 'action = "reload"\ndrift = "revert"'));
  const d = await w.daemon('revert', toml, ['-t', '60s']);
  try {
    await d.waitLog((l) => l.msg === 'ready', 'ready');
    const ini = path.join(w.dir, 'revert', 'etc', 'grafana', 'grafana.ini');
    const original = readFileSync(ini, 'utf8');
    const before = lines(marker);
    await writeFile(ini, 'garbage\n');
    await waitFor(() => readFileSync(ini, 'utf8') === original, 'the edit reverted', 15_000).catch((e: Error) => {
      throw new Error(`${e.message}\n${d.lines.slice(-8).map((l) => JSON.stringify(l)).join('\n')}`);
    });
    const applied = await d.waitLog((l) => l.msg === 'pass applied' && l.trigger === 'drift', 'the drift pass');
    assert.deepEqual(applied.reverted, ['grafana/etc/grafana.ini']);
    await waitFor(() => lines(marker) === before + 1, 'one reload after the revert');
  } finally {
    await d.stop();
  }
});
