/**
 * Operators steer a real daemon with the built `gitopperctl`, as a user would: rollback to an older
 * commit of the gitopper-config history, a restart that keeps the freeze, unfreeze back to the tip.
 * Over HTTPS with the daemon's own self-signed certificate, pinned by gitopperctl on first use and
 * still the same after the restart; every request signed with the operator's key (`-i`), recorded
 * as who did it.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { reloadMarkerUnit } from './rig/systemd.js';
import { isPass, lines, waitFor, World, worldPerFile } from './e2e/world.js';

let w: World;
const { skip } = worldPerFile('gitopper-e2e-op', (x) => (w = x));

/** Run the built client with the operator's key; resolves with stdout, rejects with its stderr on a non-zero exit. */
const ctl = (...args: string[]) => w.ctl(...args);

test('rollback to an older commit, restart stays frozen, unfreeze returns to the tip', { skip, timeout: 120_000 }, async () => {
  const marker = path.join(w.dir, 'grafana.reloads');
  await w.um.writeUnit('grafana-server.service', reloadMarkerUnit('grafana-server', marker));
  const ini = path.join(w.dir, 'op', 'etc', 'grafana', 'grafana.ini');
  let d = await w.daemon('op', w.config('op', w.grafana('op')), [], { tls: true });
  await d.waitLog((l) => l.msg === 'ready', 'ready');
  const cert = await d.waitLog((l) => /^API TLS certificate/.test(String(l.msg)), 'the certificate line');
  assert.equal(cert.origin, 'created');
  let host = `@${(await d.apiUrl()).replace('https://', '')}`;
  const tipBytes = readFileSync(ini, 'utf8');

  // an older commit that changed grafana.ini, from the real history
  const shas = (await w.work.git('log', '--format=%H', '--', 'grafana/etc/grafana.ini')).trim().split('\n');
  assert.ok(shas.length >= 2, 'the history has at least two grafana.ini versions');
  const old = shas[1]!;
  const oldBytes = await w.work.git('show', `${old}:grafana/etc/grafana.ini`);
  assert.notEqual(oldBytes, tipBytes);

  const rb = await ctl('do', 'rollback', host, 'grafana-server', old.slice(0, 8));
  assert.match(rb, /grafana-server\s+\S+\s+FREEZE\s+ROLLBACK: /);
  const known = readFileSync(path.join(w.dir, '.config', 'gitopper', 'known_hosts'), 'utf8');
  assert.equal(known.split(' ')[1]?.trim(), cert.fingerprint, 'gitopperctl pinned the certificate the daemon logged');
  assert.equal(readFileSync(ini, 'utf8'), oldBytes, 'old bytes at the mount target');
  assert.equal(lines(marker), 1, 'one reload for the rollback');
  const listed = JSON.parse(await ctl('-m', 'list', 'service', host, 'grafana-server')) as { services: { hash: string; state: string; stateinfo: string }[] };
  assert.deepEqual(listed.services.map((s) => [s.hash, s.state, s.stateinfo]), [[old.slice(0, 8), 'FREEZE', `ROLLBACK: ${old.slice(0, 8)}`]]);

  // upstream moves on; the frozen service does not
  await w.work.write('grafana/etc/grafana.ini', '[server]\nhttp_port = 4000\n');
  const tip = await w.work.commit('grafana: port 4000');
  await w.work.push();
  await ctl('do', 'pull', host, 'grafana-server');
  await new Promise((r) => setTimeout(r, 1500));
  assert.equal(readFileSync(ini, 'utf8'), oldBytes, 'a pull does not undo the rollback');

  // restart: still frozen at that commit, no reload
  assert.equal(await d.stop('SIGTERM'), 0);
  d = await w.daemon('op', undefined, [], { tls: true });
  await d.waitLog((l) => l.msg === 'ready', 'ready after restart');
  const kept = await d.waitLog((l) => /^API TLS certificate/.test(String(l.msg)), 'the certificate line');
  assert.deepEqual([kept.origin, kept.fingerprint], ['kept', cert.fingerprint], 'the same certificate after a restart');
  // the port is new after the restart: pin it again (the certificate is the same)
  host = `@${(await d.apiUrl()).replace('https://', '')}`;
  const table = await ctl('list', 'service', host);
  assert.match(table, /^#\s+SERVICE\s+HASH\s+STATE\s+INFO\s+SINCE/m);
  assert.match(table, new RegExp(`grafana-server\\s+${old.slice(0, 8)}\\s+FREEZE\\s+ROLLBACK: ${old.slice(0, 8)}`));
  assert.equal(readFileSync(ini, 'utf8'), oldBytes);
  assert.equal(lines(marker), 1);

  // unfreeze: tip at once, OK, one more reload
  const un = await ctl('do', 'unfreeze', host, 'grafana-server');
  assert.match(un, new RegExp(`grafana-server\\s+${tip.slice(0, 8)}\\s+OK`));
  assert.equal(readFileSync(ini, 'utf8'), '[server]\nhttp_port = 4000\n');
  await waitFor(() => lines(marker) === 2, 'the unfreeze reload');
  const history = JSON.parse(await ctl('-m', 'list', 'history', host, 'grafana-server')) as { history: { trigger: string; hash: string }[] };
  assert.deepEqual(history.history.slice(0, 1).map((h) => [h.trigger, h.hash]), [['unfreeze', tip.slice(0, 8)]]);
  assert.ok(history.history.some((h) => h.trigger === 'rollback' && h.hash === old.slice(0, 8)), 'the rollback survived the restart in history');
  const by = (history.history as { trigger: string; by?: string }[]).filter((h) => h.trigger === 'rollback' || h.trigger === 'unfreeze').map((h) => h.by);
  assert.ok(by.length >= 2 && by.every((b) => b === w.operator.by), `rollback and unfreeze recorded as the operator's key: ${JSON.stringify(by)}`);

  // operator errors: exit 1 with the server's message
  await assert.rejects(ctl('do', 'unfreeze', host, 'grafana-server'), (e: { stderr: string; code: number }) => e.code === 1 && /not frozen/.test(e.stderr));
  await assert.rejects(ctl('do', 'rollback', host, 'grafana-server', 'deadbeef'), (e: { stderr: string; code: number }) => e.code === 1 && /not a commit in the history/.test(e.stderr));
  await assert.rejects(ctl('do', 'freeze', host, 'nope'), (e: { stderr: string; code: number }) => e.code === 1 && /not managed on this host/.test(e.stderr));
  await d.waitLog(isPass('grafana-server', tip), 'a pass at the tip');
  assert.equal(await d.stop('SIGTERM'), 0);
});
