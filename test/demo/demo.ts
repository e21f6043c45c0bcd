/**
 * `npm run demo`: the agent's main job on this machine, step by step, cleaning up after itself.
 * A demo upstream on loopback, a real systemd user manager with a demo unit, the real daemon
 * mounting the files, a commit, the unit reloaded, the new content visible at the mount target.
 * Everything happens inside a private mount namespace (nothing is mounted on the host).
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, readlinkSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { startGitServer } from '../rig/git-server.js';
import { makeBare, removeDirs, tmpDir, WorkClone } from '../rig/repo.js';
import { canRunSandbox, reloadMarkerUnit, startUserManager } from '../rig/systemd.js';
import { startDaemon, type Daemon } from '../e2e/daemon.js';
import { prettyFormatter } from '../../src/telemetry/log.js';
import { makeKey } from '../fakes/keys.js';

const say = (s: string) => process.stdout.write(`\n\x1b[1m==> ${s}\x1b[0m\n`);
const show = (s: string) => process.stdout.write(`${s.replace(/^/gm, '    ')}\n`);
const pretty = prettyFormatter(process.stdout.isTTY === true && process.env.NO_COLOR === undefined);
/** The agent's log lines from `from` on, as `--log-format pretty` (the default on a terminal) shows them. */
const showLog = (d: Daemon, from: number) => show(d.lines.slice(from).map((l) => pretty(JSON.stringify(l)).trimEnd()).join('\n'));

/** Re-run this file inside `unshare -m --propagation private` (root only), like test/run.mjs. */
function reexecInNamespace(): never {
  if (process.getuid?.() !== 0) {
    process.stderr.write('demo: needs root (it bind-mounts files and runs a systemd user manager). Run: sudo npm run demo\n');
    process.exit(1);
  }
  const probe = spawnSync('unshare', ['-m', '--propagation', 'private', 'true'], { stdio: 'ignore' });
  if (probe.status !== 0) {
    process.stderr.write('demo: needs `unshare -m` (util-linux) to make a private mount namespace; it failed here. Install util-linux, run as root outside a restricted container.\n');
    process.exit(1);
  }
  const r = spawnSync('unshare', ['-m', '--propagation', 'private', '--', process.execPath, '--enable-source-maps', fileURLToPath(import.meta.url)], {
    stdio: 'inherit',
    env: { ...process.env, GITOPPER_TEST_NS: '1', GITOPPER_TEST_HOST_MNTNS: readlinkSync('/proc/self/ns/mnt') },
  });
  process.exit(r.status ?? 1);
}

async function main(): Promise<void> {
  if (process.env.GITOPPER_TEST_NS !== '1') reexecInNamespace();
  const ok = canRunSandbox();
  if (!ok.ok) throw new Error(ok.why);
  const dir = await tmpDir('gitopper-demo');
  const cleanup: (() => Promise<unknown>)[] = [];
  try {
    say('1. A git upstream on loopback (git-http-backend), with one service\'s config in it');
    await mkdir(path.join(dir, 'git'));
    await makeBare(path.join(dir, 'git', 'demo.git'), {
      'webapp/etc/app.ini': '[server]\ngreeting = hello from commit 1\n',
      'README.md': 'demo repository for gitopper\n',
    });
    const server = await startGitServer({ root: path.join(dir, 'git') });
    cleanup.push(() => server.close());
    show(`upstream: ${server.url('demo.git')}\nfiles:    webapp/etc/app.ini, README.md`);

    say('2. A real systemd user manager on its own D-Bus, with a unit whose reload leaves a mark');
    const um = await startUserManager(path.join(dir, 'systemd'));
    cleanup.push(() => um.stop());
    const marker = path.join(dir, 'webapp.reloads');
    await um.writeUnit('webapp.service', reloadMarkerUnit('webapp', marker));
    show(`bus: ${um.busAddress}\nunit webapp.service: ExecReload appends a line to ${marker}`);

    say('3. The config (gitopper\'s config.toml format)');
    const target = path.join(dir, 'etc', 'webapp');
    await mkdir(path.join(dir, 'keys'));
    // the operator's SSH key: the agent lets requests signed with it in (docs/security.md)
    const operator = makeKey(path.join(dir, 'keys'), 'operator', 'ed25519', { comment: 'demo-operator' });
    await writeFile(path.join(dir, 'keys', 'demo.pub'), readFileSync(operator.pub));
    const toml = `[global]
upstream = "${server.url('demo.git')}"
mount = "${dir}/checkouts"
keys = [ { path = "keys/demo.pub" } ]

[[services]]
machine = "demo-host"
service = "webapp"
action = "reload"
dirs = [ { local = "${target}", link = "webapp/etc" } ]
`;
    await writeFile(path.join(dir, 'config.toml'), toml);
    show(toml);

    say('4. Check it first: gitopper --check -c config.toml -h demo-host (starts nothing)');
    const checked = spawnSync(process.execPath, [fileURLToPath(new URL('../../cmd/gitopper.js', import.meta.url)), '--check', '-c', path.join(dir, 'config.toml'), '-h', 'demo-host'], { encoding: 'utf8' });
    show(`${checked.stderr}${checked.stdout.trimEnd()}\nexit code: ${checked.status}`);

    say('5. Start the agent: gitopper -c config.toml -h demo-host -t 2s --user --insecure-http (API on loopback)');
    const d = startDaemon(['-c', path.join(dir, 'config.toml'), '-h', 'demo-host', '-t', '2s', '--user', '--insecure-http', '--state-dir', path.join(dir, 'state'), '-m', '127.0.0.1:0', '-s', '127.0.0.1:0'], um.env as Record<string, string>);
    cleanup.push(() => d.stop());
    const ready = await d.waitLog((l) => l.msg === 'ready', 'the first pass');
    showLog(d, 0);
    show(`agent ready: ${JSON.stringify(ready.services)}`);
    show(`sparse checkout: ${dir}/checkouts/webapp (only webapp/etc; README.md is not there: ${existsSync(path.join(dir, 'checkouts', 'webapp', 'README.md')) ? 'WRONG' : 'right'})`);
    show(`bind mount: ${target} <- ${dir}/checkouts/webapp/webapp/etc`);
    show(`${target}/app.ini now says:\n${readFileSync(path.join(target, 'app.ini'), 'utf8')}`);
    show(`systemctl --user is-active webapp: ${(await um.systemctl('is-active', 'webapp.service')).trim()} (first setup started it)`);

    say('6. An operator pushes a change upstream');
    const work = await WorkClone.open(path.join(dir, 'git', 'demo.git'), path.join(dir, 'work'));
    await work.write('webapp/etc/app.ini', '[server]\ngreeting = hello from commit 2\n');
    const sha = await work.commit('webapp: new greeting');
    const t0 = performance.now();
    await work.push();
    show(`pushed ${sha.slice(0, 8)} "webapp: new greeting"`);

    say('7. The agent fetches, checks out, and asks systemd (D-Bus) to reload webapp');
    const logFrom = d.lines.length;
    const applied = await d.waitLog((l) => l.msg === 'pass applied' && l.commit === sha, 'the change to be applied', 30_000);
    while (!existsSync(marker)) await new Promise((r) => setTimeout(r, 20));
    showLog(d, logFrom);
    show(`applied in ${((performance.now() - t0) / 1000).toFixed(2)} s: changed ${JSON.stringify(applied.changed)}, systemd ${JSON.stringify(applied.actions)}`);
    show(`reload marker: ${readFileSync(marker, 'utf8').trim()}`);
    show(`${target}/app.ini now says:\n${readFileSync(path.join(target, 'app.ini'), 'utf8')}`);

    say('8. The operator\'s overview: gitopperctl status @HOST (every service, problems first; exit 0 when all are OK)');
    const api = await d.apiUrl();
    const status = spawnSync(process.execPath, [fileURLToPath(new URL('../../cmd/gitopperctl.js', import.meta.url)), '-i', operator.file, 'status', `@${api}`], { encoding: 'utf8', env: { PATH: process.env.PATH ?? '', HOME: dir } });
    show(`$ gitopperctl -i ${operator.file} status @${api}\n${status.stdout.trimEnd()}${status.stderr ? `\n${status.stderr.trimEnd()}` : ''}\nexit code: ${status.status}`);

    say('9. Stop the agent (SIGTERM → exit 0) and clean up');
    show(`exit code: ${await d.stop('SIGTERM')}`);
  } finally {
    for (const f of cleanup.reverse()) await f().catch(() => undefined);
    await removeDirs(dir);
  }
  say('Done. Nothing was left mounted or running.');
}

main().catch((err: unknown) => {
  process.stderr.write(`demo failed: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
