/**
 * Config gitopper accepted, on the real daemon (issue 16): a `[global]` `package` installs nothing and is
 * logged as a warning, a `dirs` entry without `local` is checked out but not mounted (warning), and
 * `action = "force-reload"` reloads the unit; the warnings are logged again at a live reload (-r).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { reloadMarkerUnit } from './rig/systemd.js';
import type { LogLine } from './e2e/daemon.js';
import { isState, lines, waitFor, World, worldPerFile } from './e2e/world.js';

let w: World;
const { skip } = worldPerFile('gitopper-e2e-compat', (x) => (w = x));

const mounted = (target: string) => readFileSync('/proc/self/mountinfo', 'utf8').split('\n').some((l) => l.split(' ')[4] === target);
/** A warn-level line whose message contains `text`. */
const warned = (text: string) => (l: LogLine) => l.level === 40 && typeof l.msg === 'string' && l.msg.includes(text);

test('the daemon starts on config gitopper accepted, logs each warning at startup and at a live reload', { skip, timeout: 120_000 }, async () => {
  const reloads = path.join(w.dir, 'g.reloads');
  await w.um.writeUnit('grafana-server.service', reloadMarkerUnit('grafana-server', reloads));
  const checkout = path.join(w.dir, 'compat', 'grafana1', 'grafana-server');
  const etc = path.join(w.dir, 'compat', 'etc', 'grafana');
  const service = (action: string) => `
[[services]]
machine = "grafana.atoom.net"
service = "grafana-server"
user = "nobody"
action = "${action}"
mount = "${w.dir}/compat/grafana1"
dirs = [
    { local = "${etc}", link = "grafana/etc" },
    { local = "", link = "grafana/dashboards" },
]
`;
  const config = (action: string) => w.config('compat', service(action)).replace('[global]\n', '[global]\npackage = "sl"\nuser = "root"\n');
  const file = path.join(w.dir, 'compat.toml');
  const d = await w.daemon('compat', config('reload'), ['-r']);
  try {
    await d.waitLog((l) => l.msg === 'ready', 'ready');
    await d.waitLog(warned(`${file}: global: key "package": has no effect in [global]`), 'the [global] package warning');
    await d.waitLog(warned(`${file}: global: key "user": has no effect in [global]`), 'the [global] user warning');
    await d.waitLog(warned('key "local": is empty, so "grafana/dashboards" is checked out'), 'the dirs warning');
    assert.ok(!d.lines.some((l) => /install(ing package)? sl\b/.test(JSON.stringify(l))), 'nothing installed');
    assert.ok(mounted(etc), 'the entry with local is mounted');
    assert.ok(existsSync(path.join(checkout, 'grafana', 'dashboards')), 'the entry without local is checked out');
    assert.ok(!readFileSync('/proc/self/mountinfo', 'utf8').includes(path.join(checkout, 'grafana', 'dashboards')), 'and mounted nowhere');
    await d.waitLog(isState('grafana-server', 'OK'), 'grafana-server OK');

    // a live reload reads the file again: its warnings are logged again; the changed action
    // force-reload (= try-reload-or-restart) reaches systemd and reloads the running unit
    const before = lines(reloads);
    const n = d.lines.length;
    await writeFile(file, config('force-reload'));
    await d.waitLog((l) => l.msg === 'config applied', 'config applied', 20_000, n);
    await d.waitLog(warned(`${file}: global: key "package"`), 'the warning again', 20_000, n);
    await waitFor(() => lines(reloads) > before, 'a reload of grafana-server by force-reload');
    await d.waitLog((l) => l.msg === 'pass applied' && JSON.stringify(l.actions).includes('try-reload-or-restart'), 'the pass, logged with the verb force-reload stands for', 20_000, n);
    assert.ok(mounted(etc));
  } finally {
    await d.stop();
  }
});
