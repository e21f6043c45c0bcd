#!/usr/bin/env node
// `npm run bench` (after `npm run build`): runs dist/bench/main.js as root inside a private mount
// namespace (`unshare -m --propagation private`), as test/run.mjs runs the tests, so the systemd
// user manager's tmpfs, cgroup2 mount and the bind mounts stay in there and vanish with it.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readlinkSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const main = path.join(root, 'dist', 'bench', 'main.js');
if (!existsSync(main)) {
  console.error('bench/run.mjs: dist/bench/main.js is missing; run `npm run build` first');
  process.exit(1);
}
if (process.getuid?.() !== 0) {
  console.error('bench/run.mjs: must run as root (bind mounts and a systemd user manager in a private mount namespace)');
  process.exit(1);
}
const probe = spawnSync('unshare', ['-m', '--propagation', 'private', 'true'], { stdio: 'ignore' });
if (probe.error || probe.status !== 0) {
  console.error('bench/run.mjs: `unshare -m --propagation private` does not work here');
  process.exit(1);
}
const env = { ...process.env, GITOPPER_TEST_NS: '1', GITOPPER_TEST_HOST_MNTNS: readlinkSync('/proc/self/ns/mnt') };
const child = spawn('unshare', ['-m', '--propagation', 'private', '--', process.execPath, main, ...process.argv.slice(2)], { cwd: root, env, stdio: ['ignore', 'inherit', 'inherit'] });
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) process.on(sig, () => child.kill(sig));
child.on('exit', async (code, signal) => {
  try {
    const rig = await import(pathToFileURL(path.join(root, 'dist', 'test', 'rig', 'systemd.js')).href);
    await rig.sweepStaleCgroups();
  } catch {
    /* nothing to sweep */
  }
  process.exit(code ?? (signal ? 1 : 0));
});
