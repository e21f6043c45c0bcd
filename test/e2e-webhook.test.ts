/**
 * Push webhooks on the real daemon: a GitHub-signed push applies at once (polling is 60 s here), an
 * unsigned or wrongly signed one is refused with 401; push-to-applied is measured.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { reloadMarkerUnit } from './rig/systemd.js';
import { lines, waitFor, World, worldPerFile } from './e2e/world.js';

let w: World;
const { skip } = worldPerFile('gitopper-e2e-hook', (x) => (w = x));

const SECRET = 'e2e-webhook-secret';

test('a signed push webhook applies at once; unsigned and wrongly signed ones are refused', { skip, timeout: 120_000 }, async (t) => {
  const marker = path.join(w.dir, 'hook.reloads');
  await w.um.writeUnit('grafana-server.service', reloadMarkerUnit('grafana-server', marker));
  await writeFile(path.join(w.dir, 'hook.secret'), `${SECRET}\n`, { mode: 0o600 });
  const toml = w.config('hook', w.grafana('hook')).replace('[global]\n', `[global]\nhook_secret_file = "${w.dir}/hook.secret"\n`);
  const d = await w.daemon('hook', toml, ['-t', '60s']);
  try {
    await d.waitLog((l) => l.msg === 'ready', 'ready');
    const url = `${await d.apiUrl()}/hook`;
    const payload = (sha: string) => Buffer.from(JSON.stringify({ ref: 'refs/heads/main', after: sha, repository: { clone_url: w.server.url('gitopper-config.git') } }));
    const send = (body: Buffer, sig: string) => fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', 'x-github-event': 'push', 'x-hub-signature-256': sig }, body: new Uint8Array(body) });

    const unsigned = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: new Uint8Array(payload('x')) });
    assert.equal(unsigned.status, 401);
    const wrong = await send(payload('x'), `sha256=${createHmac('sha256', 'not-the-secret').update(payload('x')).digest('hex')}`);
    assert.equal(wrong.status, 401);
    await d.waitLog((l) => l.msg === 'webhook refused' && l.status === 401, 'the refusal logged');

    const seconds: number[] = [];
    for (let i = 0; i < 10; i++) {
      await w.work.write('grafana/etc/grafana.ini', `[server]\nhttp_port = ${6000 + i}\n`);
      const sha = await w.work.commit(`port ${6000 + i}`);
      const before = lines(marker);
      const t0 = performance.now();
      await w.work.push();
      const body = payload(sha);
      const res = await send(body, `sha256=${createHmac('sha256', SECRET).update(body).digest('hex')}`);
      assert.equal(res.status, 202);
      assert.deepEqual(await res.json(), { accepted: true, services: ['grafana-server'] });
      await waitFor(() => lines(marker) === before + 1, `reload ${i}`, 10_000);
      seconds.push((performance.now() - t0) / 1000);
    }
    seconds.sort((a, b) => a - b);
    const p = (q: number) => seconds[Math.min(seconds.length - 1, Math.ceil(q * seconds.length) - 1)]!;
    t.diagnostic(`webhook push-to-applied over ${seconds.length} pushes: p50 ${p(0.5).toFixed(3)} s, p95 ${p(0.95).toFixed(3)} s`);
    assert.ok(p(0.95) < 5, 'applied long before the 60 s poll');
  } finally {
    await d.stop();
  }
});
