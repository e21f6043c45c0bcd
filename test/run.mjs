#!/usr/bin/env node
// Test runner for `npm test` (after `npm run build`).
//
//   node test/run.mjs [FILTER...] [--node-test-flag...]
//
// Runs every dist/test/**/*.test.js (sorted) with `node --enable-source-maps --test`, passing the files
// explicitly: given a directory, node would also run the rig helpers as tests. FILTER words keep only
// files whose path below dist/test contains one of them (`node test/run.mjs config`); arguments that
// start with `--` go to node (e.g. `--test-name-pattern=reload`).
//
// As root, when `unshare` works, node runs inside a private mount namespace
// (`unshare -m --propagation private`) with GITOPPER_TEST_NS=1 (and GITOPPER_TEST_HOST_MNTNS, this
// process's mount namespace): every mount a test makes (bind mounts,
// the systemd user managers' tmpfs on /run/systemd) stays in there and vanishes with it. Otherwise the
// namespace tests skip and one line says why. Exits with node's exit code and prints nothing after
// node's summary.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readlinkSync } from 'node:fs';
import path from 'node:path';
import { constants } from 'node:os';
import { fileURLToPath, pathToFileURL } from 'node:url';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const testRoot = path.join(repoRoot, 'dist', 'test');

/** Every *.test.js below `dir`, as paths relative to `dir`, sorted. */
function findTests(dir, rel = '') {
  const out = [];
  for (const e of readdirSync(path.join(dir, rel), { withFileTypes: true })) {
    const r = rel ? `${rel}/${e.name}` : e.name;
    if (e.isDirectory()) out.push(...findTests(dir, r));
    else if (e.isFile() && e.name.endsWith('.test.js')) out.push(r);
  }
  return out.sort();
}

const args = process.argv.slice(2);
const filters = args.filter((a) => !a.startsWith('--'));
const nodeFlags = args.filter((a) => a.startsWith('--'));

if (!existsSync(testRoot)) {
  console.error(`run.mjs: ${path.relative(process.cwd(), testRoot) || testRoot} does not exist; run \`npm run build\` first`);
  process.exit(1);
}
const files = findTests(testRoot).filter((f) => filters.length === 0 || filters.some((w) => f.includes(w)));
if (files.length === 0) {
  console.error(`run.mjs: no test files in dist/test${filters.length ? ` match ${filters.join(', ')}` : ''}`);
  process.exit(1);
}

const nodeArgs = [
  '--enable-source-maps',
  '--test',
  '--test-concurrency=2',
  ...nodeFlags,
  ...files.map((f) => path.join(testRoot, f)),
];

/** Why tests cannot get a private mount namespace, or '' when they can. */
function namespaceProblem() {
  if (process.platform !== 'linux') return `platform is ${process.platform}`;
  if (process.getuid() !== 0) return 'not running as root';
  const probe = spawnSync('unshare', ['-m', '--propagation', 'private', 'true'], { stdio: 'ignore' });
  if (probe.error) return `unshare is unavailable (${probe.error.code ?? probe.error.message})`;
  if (probe.status !== 0) return `\`unshare -m --propagation private true\` exited ${probe.status}`;
  return '';
}

const problem = namespaceProblem();
const env = { ...process.env };
let cmd = process.execPath;
let cmdArgs = nodeArgs;
if (problem) {
  delete env.GITOPPER_TEST_NS;
  delete env.GITOPPER_TEST_HOST_MNTNS;
  console.log(`run.mjs: no private mount namespace (${problem}); tests that need root + systemd will skip`);
} else {
  env.GITOPPER_TEST_NS = '1';
  env.GITOPPER_TEST_HOST_MNTNS = readlinkSync('/proc/self/ns/mnt'); // lets the rig prove it is not on the host
  cmd = 'unshare';
  cmdArgs = ['-m', '--propagation', 'private', '--', process.execPath, ...nodeArgs];
}

const child = spawn(cmd, cmdArgs, { cwd: repoRoot, env, stdio: ['ignore', 'inherit', 'inherit'] });
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) process.on(sig, () => child.kill(sig));
child.on('error', (err) => {
  console.error(`run.mjs: cannot start ${cmd}: ${err.message}`);
  process.exit(1);
});
child.on('exit', async (code, signal) => {
  if (!problem) {
    // Kill and remove systemd user manager cgroups that a crashed test process left behind (silent).
    try {
      const rig = await import(pathToFileURL(path.join(repoRoot, 'dist', 'test', 'rig', 'systemd.js')).href);
      await rig.sweepStaleCgroups();
    } catch {
      /* rig not built: nothing to sweep */
    }
  }
  process.exit(code ?? 128 + (constants.signals[signal] ?? 0));
});
