/**
 * Health checks with automatic rollback, and hooks, on real parts: a unit that really fails after a
 * restart, a health URL that answers 500, a health command that hangs past its timeout, and hook
 * scripts committed to the repository.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { existsSync, readFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { isState, World, worldPerFile } from './e2e/world.js';

let w: World;
const { skip } = worldPerFile('gitopper-e2e-health', (x) => (w = x));

/** A service whose unit runs only while its mounted grafana.ini says "ok". */
async function unitReadingIni(name: string): Promise<string> {
  const ini = path.join(w.dir, name, 'etc', 'grafana', 'grafana.ini');
  await w.um.writeUnit('grafana-server.service', `[Service]\nExecStart=/bin/sh -c 'grep -qx ok ${ini} && exec sleep infinity; exit 1'\n`);
  return ini;
}

async function push(content: string, msg: string): Promise<string> {
  await w.work.write('grafana/etc/grafana.ini', content);
  const sha = await w.work.commit(msg, { allowEmpty: true });
  await w.work.push();
  return sha;
}

test('a unit that fails after the change is rolled back to the last good commit and frozen', { skip, timeout: 120_000 }, async (t) => {
  const good = await push('ok\n', 'good');
  await unitReadingIni('unit');
  const toml = w.config('unit', w.grafana('unit').replace('action = "reload"', 'action = "restart"\nhealth = { grace = "2s" }'));
  const d = await w.daemon('unit', toml);
  try {
    await d.waitLog((l) => l.msg === 'ready', 'ready');
    const st = await w.um.trySystemctl('status', 'grafana-server.service');
    assert.match(st.stdout, /Active: active/, st.stdout);
    const bad = await push('bad\n', 'bad');
    const failed = await d.waitLog((l) => l.msg === 'health check failed: rolling back', 'the health check to fail', 30_000);
    const frozen = await d.waitLog(isState('grafana-server', 'FREEZE'), 'frozen on the good commit', 30_000);
    assert.match(String(frozen.info), new RegExp(`^AUTO-ROLLBACK from ${bad.slice(0, 8)} to ${good.slice(0, 8)}: grafana-server\\.service (failed|is|restarted)`));
    assert.equal(frozen.commit, good);
    assert.equal(readFileSync(path.join(w.dir, 'unit', 'etc', 'grafana', 'grafana.ini'), 'utf8'), 'ok\n');
    assert.equal((await w.um.systemctl('is-active', 'grafana-server.service')).trim(), 'active', 'restarted on the good files');
    t.diagnostic(`failed health check → restored commit: ${(((frozen.time as number) - (failed.time as number)) / 1000).toFixed(3)} s (daemon log timestamps)`);
  } finally {
    await d.stop();
  }
});

test('a health URL answering 500, and a health command that hangs past its timeout, both roll back', { skip, timeout: 120_000 }, async () => {
  let status = 200;
  const server = http.createServer((_req, res) => res.writeHead(status).end(String(status)));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/health`;
  try {
    await push('ok\n', 'good again');
    await unitReadingIni('url');
    const d = await w.daemon('url', w.config('url', w.grafana('url').replace('action = "reload"', `action = "restart"\nhealth = { http = "${url}", timeout = "1s", retries = 2, grace = "1s" }`)));
    try {
      await d.waitLog((l) => l.msg === 'ready', 'ready');
      status = 500;
      const bad = await push('ok\n# new but unhealthy\n', 'unhealthy');
      const frozen = await d.waitLog(isState('grafana-server', 'FREEZE'), 'frozen after the 500', 30_000);
      assert.match(String(frozen.info), new RegExp(`^AUTO-ROLLBACK from ${bad.slice(0, 8)} .*health URL ${url.replace(/[.]/g, '\\.')} answered 500 \\(2 attempts\\)`));
    } finally {
      await d.stop();
    }

    status = 200;
    await push('ok\n# good for exec\n', 'good for exec');
    const d2 = await w.daemon('exec', w.config('exec', w.grafana('exec').replace('action = "reload"', 'action = "restart"\nhealth = { exec = ["/bin/sh", "-c", "test -e /tmp/gitopper-e2e-hang-flag && exec sleep 30; exit 0"], timeout = "1s", retries = 1, grace = "1s" }')));
    await unitReadingIni('exec');
    try {
      await d2.waitLog((l) => l.msg === 'ready', 'ready');
      const { writeFile, rm } = await import('node:fs/promises');
      await writeFile('/tmp/gitopper-e2e-hang-flag', '');
      try {
        await push('ok\n# hangs\n', 'hangs');
        const frozen = await d2.waitLog(isState('grafana-server', 'FREEZE'), 'frozen after the hang', 30_000);
        assert.match(String(frozen.info), /health command \/bin\/sh timed out after 1s/);
      } finally {
        await rm('/tmp/gitopper-e2e-hang-flag', { force: true });
      }
    } finally {
      await d2.stop();
    }
  } finally {
    server.close();
  }
});

test('hooks: a failing pre hook blocks the commit with its output; a post hook runs with the environment', { skip, timeout: 120_000 }, async () => {
  const { mkdir } = await import('node:fs/promises');
  await mkdir(path.join(w.dir, 'hookout'), { mode: 0o777 });
  await (await import('node:fs/promises')).chmod(path.join(w.dir, 'hookout'), 0o777);
  const marker = path.join(w.dir, 'hookout', 'post.env'); // hooks run as the service's user (nobody)
  await w.work.write('hooks/pre.sh', '#!/bin/sh\nif grep -q forbidden grafana/etc/grafana.ini; then echo "forbidden setting in grafana.ini" >&2; exit 4; fi\n');
  await w.work.write('hooks/post.sh', `#!/bin/sh\nprintf '%s|%s|%s\\n' "$GITOPPER_SERVICE" "$GITOPPER_COMMIT" "$GITOPPER_CHANGED" >> ${marker}\n`);
  const { chmod } = await import('node:fs/promises');
  for (const f of ['hooks/pre.sh', 'hooks/post.sh']) await chmod(path.join(w.work.dir, f), 0o755);
  const base = await push('ok\n# hooks\n', 'hooks');
  await w.um.writeUnit('grafana-server.service', '[Service]\nExecStart=/bin/sleep infinity\nExecReload=/bin/true\n');
  const d = await w.daemon('hooks', w.config('hooks', w.grafana('hooks').replace('action = "reload"', 'action = "reload"\nhooks = { pre = ["hooks/pre.sh"], post = ["hooks/post.sh"], timeout = "10s" }')));
  try {
    await d.waitLog((l) => l.msg === 'ready', 'ready');
    assert.ok(existsSync(marker), d.lines.filter((l) => l.service === 'grafana-server').map((l) => JSON.stringify(l)).join('\n'));
    assert.equal(readFileSync(marker, 'utf8'), `grafana-server|${base}|grafana/etc\ngrafana/dashboards\n`, 'post hook at first setup, with the environment');
    const ini = path.join(w.dir, 'hooks', 'etc', 'grafana', 'grafana.ini');
    const bad = await push('ok\nforbidden = yes\n', 'forbidden');
    const broken = await d.waitLog(isState('grafana-server', 'BROKEN'), 'BROKEN by the pre hook', 30_000);
    assert.match(String(broken.info), /pre hook hooks\/pre\.sh failed \(exit 4\): forbidden setting in grafana\.ini/);
    assert.equal(readFileSync(ini, 'utf8'), 'ok\n# hooks\n', 'files unchanged');
    assert.ok(!existsSync(path.join(w.dir, 'hooks', 'grafana1', 'grafana-server', 'hooks')), 'hook scripts are not checked out into the service checkout');
    const fixed = await push('ok\n# fixed\n', 'fixed');
    await d.waitLog((l) => l.msg === 'state' && l.service === 'grafana-server' && l.state === 'OK' && l.commit === fixed, 'OK at the fixed commit', 30_000);
    assert.equal(readFileSync(ini, 'utf8'), 'ok\n# fixed\n');
    assert.match(readFileSync(marker, 'utf8'), new RegExp(`grafana-server\\|${fixed}\\|grafana/etc/grafana.ini`));
    assert.notEqual(bad, fixed);
  } finally {
    await d.stop();
  }
});
