/**
 * The real daemon on an SSH upstream, end to end: the gitopper-config history behind a real sshd on
 * loopback (test/rig/sshd.ts), `ssh_key` + `known_hosts` from the config, a real systemd user manager,
 * real bind mounts in the test run's private mount namespace.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, statSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { canRunSandbox, reloadMarkerUnit } from './rig/systemd.js';
import { noSshd, startSshd, type Sshd } from './rig/sshd.js';
import { isPass, isState, lines, waitFor, World } from './e2e/world.js';

const sandbox = canRunSandbox();
const skip = !sandbox.ok ? sandbox.why : noSshd();
let w: World;
let sshd: Sshd;

before(async () => {
  if (skip) return;
  w = await World.create('gitopper-e2e-ssh');
  sshd = await startSshd(path.join(w.dir, 'sshd'));
});
after(async () => {
  await sshd?.close();
  await w?.close();
});

test('ssh upstream: config with ssh_key + known_hosts → checkout → bind mount → reload; one connection per pass; a changed host key is DIFF', { skip, timeout: 120_000 }, async (t) => {
  const marker = path.join(w.dir, 'grafana.reloads');
  await w.um.writeUnit('grafana-server.service', reloadMarkerUnit('grafana-server', marker));
  const upstream = sshd.url(path.join(w.dir, 'git', 'gitopper-config.git'));
  const knownHosts = path.join(w.dir, 'known_hosts');
  await writeFile(knownHosts, readFileSync(sshd.knownHosts));
  const toml = w.config('ssh', w.grafana('ssh')).replace(/^upstream = .*$/m, `upstream = "${upstream}"\nssh_key = "${sshd.deployKey}"\nknown_hosts = "${knownHosts}"`);
  assert.match(toml, /^upstream = "ssh:\/\//m);
  const d = await w.daemon('ssh', toml);
  t.after(() => d.stop());
  await d.waitLog((l) => l.msg === 'ready', 'first pass');
  const etc = path.join(w.dir, 'ssh', 'etc', 'grafana');
  const checkout = path.join(w.dir, 'ssh', 'grafana1', 'grafana-server');
  assert.equal(readFileSync(path.join(etc, 'grafana.ini'), 'utf8'), readFileSync(path.join(checkout, 'grafana/etc/grafana.ini'), 'utf8'));
  assert.equal(statSync(path.join(etc, 'grafana.ini')).ino, statSync(path.join(checkout, 'grafana/etc/grafana.ini')).ino, 'bind mount shows the checkout');
  assert.ok(sshd.accepted() >= 1, 'the deploy key logged in');

  // a change pushed to the repository behind sshd: new bytes at the bind-mount target, one reload
  await w.work.write('grafana/etc/grafana.ini', '[server]\nhttp_port = 3022\n');
  const c1 = await w.work.commit('grafana: port over ssh');
  await w.work.push();
  await waitFor(() => lines(marker) === 1, 'the reload', 20_000);
  assert.equal(readFileSync(path.join(etc, 'grafana.ini'), 'utf8'), '[server]\nhttp_port = 3022\n');
  await d.waitLog(isPass('grafana-server', c1), 'pass at c1');

  // idle passes: one ssh connection each
  const fetched = () => d.lines.filter((l) => l.msg === 'fetched').length;
  await d.waitLog(isPass('grafana-server'), 'a pass', 10_000, d.lines.length);
  const c0 = sshd.connections();
  const f0 = fetched();
  await waitFor(() => fetched() >= f0 + 2, 'two more passes', 20_000);
  const perPass = (sshd.connections() - c0) / (fetched() - f0);
  t.diagnostic(`ssh connections per idle pass: ${perPass.toFixed(1)} (${fetched() - f0} passes)`);
  assert.ok(perPass <= 1.5, `one connection per pass (saw ${perPass})`);
  assert.equal(lines(marker), 1, 'no reload when nothing changed');

  // the server's key no longer matches known_hosts: DIFF with ssh's reason, files stay; fixed → OK
  const other = readFileSync(`${sshd.otherKey}.pub`, 'utf8').trim().split(' ').slice(0, 2).join(' ');
  await writeFile(knownHosts, `[127.0.0.1]:${sshd.port} ${other}\n`);
  const diff = await d.waitLog(isState('grafana-server', 'DIFF'), 'DIFF', 20_000, d.lines.length);
  assert.match(String(diff.info), /host key of 127\.0\.0\.1 CHANGED/);
  assert.equal(readFileSync(path.join(etc, 'grafana.ini'), 'utf8'), '[server]\nhttp_port = 3022\n', 'files stay');
  await writeFile(knownHosts, readFileSync(sshd.knownHosts));
  await d.waitLog(isState('grafana-server', 'OK'), 'recovery', 20_000, d.lines.length);
  assert.equal(await d.stop('SIGTERM'), 0);
});
