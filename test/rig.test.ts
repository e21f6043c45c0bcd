/**
 * Tests of the test rig itself: the smart-HTTP git server (git CLI and isomorphic-git, auth, 503s,
 * request counting), the repository helpers, and the systemd user manager sandbox.
 */
import assert from 'node:assert/strict';
import { existsSync, promises as fsp } from 'node:fs';
import * as fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import dbus from 'dbus-next';
import sshpk from 'sshpk';
import git from 'isomorphic-git';
import http from 'isomorphic-git/http/node';
import { startGitServer, type GitServer } from './rig/git-server.js';
import { GitError, WorkClone, git as gitCli, makeBare, removeDirs, tmpDir } from './rig/repo.js';
import { CONFIG_REPO_COMMITS, CONFIG_REPO_GRAFANA_HOST, makeConfigRepo } from './rig/config-repo.js';
import { findProgram, missingPackage } from './rig/system-packages.js';
import { parseConfig, servicesForHost } from '../src/config/config.js';
import {
  SystemctlError,
  canRunSandbox,
  reloadMarkerTemplate,
  reloadMarkerUnit,
  startUserManager,
} from './rig/systemd.js';

const SHA = /^[0-9a-f]{40}$/;
const author = { name: 'Iso Rig', email: 'iso@rig.invalid' };

/** Status code of an isomorphic-git HttpError (undefined for other errors). */
function httpStatus(err: unknown): number | undefined {
  return (err as { data?: { statusCode?: number } }).data?.statusCode;
}

describe('repo helpers', () => {
  let tmp: string;
  before(async () => {
    tmp = await tmpDir('rig-repo');
  });
  after(() => removeDirs(tmp));

  test('makeConfigRepo gives the generated 24-commit gitopper-config history on main, the same every time', async () => {
    const bare = path.join(tmp, 'upstream.git');
    const head = await makeConfigRepo(bare);
    assert.match(head, SHA);
    assert.equal((await gitCli(['rev-parse', 'refs/heads/main'], { cwd: bare })).trim(), head);
    assert.equal((await gitCli(['symbolic-ref', 'HEAD'], { cwd: bare })).trim(), 'refs/heads/main');
    assert.equal((await gitCli(['for-each-ref', '--format=%(refname)'], { cwd: bare })).trim(), 'refs/heads/main', 'one branch, no tags');
    assert.equal((await gitCli(['rev-list', '--count', 'main'], { cwd: bare })).trim(), String(CONFIG_REPO_COMMITS));
    assert.equal((await gitCli(['config', 'http.receivepack'], { cwd: bare })).trim(), 'true');
    assert.equal((await gitCli(['remote'], { cwd: bare })).trim(), '', 'no remote');
    await gitCli(['fsck', '--strict', '--no-dangling'], { cwd: bare });
    assert.equal(await makeConfigRepo(path.join(tmp, 'again.git')), head, 'fixed identities and dates: the same commit ids');
  });

  test('the generated history has the shape the tests rely on', async () => {
    const bare = path.join(tmp, 'shape.git');
    await makeConfigRepo(bare);
    const cli = (...args: string[]) => gitCli(args, { cwd: bare });
    assert.deepEqual((await cli('ls-tree', '-r', '--name-only', 'main')).trim().split('\n'), [
      'README.md',
      'crapdir/crap.md',
      'docker-compose/caddy/docker-compose.yml',
      'gitopper/config.toml',
      'gitopper/keys/ops_ed25519.pub',
      'grafana/dashboards/dash.json',
      'grafana/etc/grafana.ini',
      'prometheus/etc/prometheus.yml',
    ]);
    // one merge of a side line; one commit that changes nothing; one rename
    assert.equal((await cli('rev-list', '--merges', '--count', 'main')).trim(), '1');
    const commits = (await cli('log', '--format=%H %T %P', 'main')).trim().split('\n').map((l) => l.split(' '));
    const treeOf = new Map(commits.map(([c, t]) => [c!, t!]));
    assert.equal(commits.filter(([, t, p, q]) => q === undefined && p !== undefined && treeOf.get(p) === t).length, 1, 'one empty commit');
    assert.deepEqual((await cli('log', '-M', '--diff-filter=R', '--name-status', '--format=', 'main')).trim().split('\n'), ['R100\tconfig.toml\tgitopper/config.toml']);
    // grafana.ini has many versions (rollback targets); commits that change crapdir/ alone
    const ini = (await cli('log', '--format=%H', 'main', '--', 'grafana/etc/grafana.ini')).trim().split('\n');
    assert.ok(ini.length >= 8, `grafana.ini changed by ${ini.length} commits`);
    const iniVersions = new Set(await Promise.all(ini.map((c) => cli('rev-parse', `${c}:grafana/etc/grafana.ini`))));
    assert.ok(iniVersions.size >= 4, 'several distinct grafana.ini contents');
    const crapOnly = (await cli('log', '--format=%H', 'main', '--', 'crapdir')).trim().split('\n');
    assert.ok(crapOnly.length >= 3, `${crapOnly.length} commits touch crapdir/`);
    for (const c of crapOnly) assert.equal((await cli('diff-tree', '--no-commit-id', '--name-only', '-r', c)).trim(), 'crapdir/crap.md', 'a commit that changes crapdir/ only');
  });

  test("the repository's gitopper/config.toml is a valid config: grafana-server links grafana/etc and grafana/dashboards, its key is in the repository", async () => {
    const bare = path.join(tmp, 'config.git');
    await makeConfigRepo(bare);
    const text = await gitCli(['show', 'main:gitopper/config.toml'], { cwd: bare });
    assert.ok(text.includes('keys = [\n'), 'the self-bootstrap test adds a key after this line');
    const cfg = parseConfig(text, '/boot/gitopper/config.toml');
    const mine = servicesForHost(cfg, [CONFIG_REPO_GRAFANA_HOST]);
    assert.deepEqual(mine.map((s) => [s.service, s.dirs.map((d) => d.link)]), [['grafana-server', ['grafana/etc', 'grafana/dashboards']]]);
    assert.deepEqual(servicesForHost(cfg, ['bootstrap-test']), []);
    assert.deepEqual(cfg.global.keys, [{ path: '/boot/gitopper/keys/ops_ed25519.pub', ro: false }]);
    const pub = await gitCli(['show', 'main:gitopper/keys/ops_ed25519.pub'], { cwd: bare });
    assert.equal(sshpk.parseKey(pub, 'ssh').type, 'ed25519');
  });

  test('WorkClone writes, removes, commits, pushes to the bare dir and logs', async () => {
    const bare = path.join(tmp, 'wc.git');
    const first = await makeConfigRepo(bare);
    const wc = await WorkClone.open(bare, path.join(tmp, 'wc'));
    assert.equal((await wc.log())[0]!.sha, first);
    await wc.write('crapdir/deep/new.md', 'new\n');
    await wc.remove('README.md');
    const sha = await wc.commit('rig: change two paths');
    assert.match(sha, SHA);
    assert.notEqual(sha, first);
    await wc.push();
    assert.equal((await gitCli(['rev-parse', 'main'], { cwd: bare })).trim(), sha);
    const changed = (await gitCli(['diff', '--name-only', first, sha], { cwd: bare })).trim().split('\n');
    assert.deepEqual(changed, ['README.md', 'crapdir/deep/new.md']);
    const log = await wc.log();
    assert.equal(log.length, CONFIG_REPO_COMMITS + 1);
    assert.deepEqual(log[0], { sha, subject: 'rig: change two paths' });
    await assert.rejects(wc.commit('nothing changed'), GitError);
    const empty = await wc.commit('empty', { allowEmpty: true });
    await wc.push('canary');
    assert.equal((await gitCli(['rev-parse', 'canary'], { cwd: bare })).trim(), empty);
    await assert.rejects(wc.write('../escape', 'x'), /leaves/);
  });

  test('makeBare commits the given files on the given branch', async () => {
    const bare = path.join(tmp, 'files.git');
    const sha = await makeBare(bare, { 'etc/app.conf': 'a=1\n', 'README.md': '# hi\n' }, 'canary');
    assert.equal((await gitCli(['rev-parse', 'canary'], { cwd: bare })).trim(), sha);
    assert.equal((await gitCli(['symbolic-ref', 'HEAD'], { cwd: bare })).trim(), 'refs/heads/canary');
    assert.equal(await gitCli(['show', 'canary:etc/app.conf'], { cwd: bare }), 'a=1\n');
    assert.equal((await gitCli(['ls-tree', '-r', '--name-only', 'canary'], { cwd: bare })).trim(), 'README.md\netc/app.conf');
  });
});

describe('git smart-HTTP server', () => {
  let tmp: string;
  let bare: string;
  let configHead: string;
  let server: GitServer;
  before(async () => {
    tmp = await tmpDir('rig-git');
    bare = path.join(tmp, 'repos', 'upstream.git');
    configHead = await makeConfigRepo(bare);
    server = await startGitServer({ root: path.join(tmp, 'repos') });
  });
  after(async () => {
    await server.close();
    await removeDirs(tmp);
  });

  test('isomorphic-git clones and fetches; requests are recorded and counted', async () => {
    const dir = path.join(tmp, 'iso');
    assert.match(server.url('upstream.git'), /^http:\/\/127\.0\.0\.1:\d+\/upstream\.git$/);
    const m0 = server.mark();
    await git.clone({ fs, http, dir, url: server.url('upstream.git'), ref: 'main', singleBranch: true });
    assert.equal(await git.resolveRef({ fs, dir, ref: 'HEAD' }), configHead);
    assert.ok(existsSync(path.join(dir, 'gitopper', 'config.toml')));
    const refs = server.requests[m0]!;
    assert.equal(refs.method, 'GET');
    assert.equal(refs.path, '/upstream.git/info/refs');
    assert.equal(refs.query, 'service=git-upload-pack');
    assert.equal(refs.service, 'git-upload-pack');
    assert.equal(refs.status, 200);
    assert.equal(typeof refs.at, 'number');
    assert.equal(server.countSince(m0, { method: 'GET', service: 'git-upload-pack' }), 1);
    assert.equal(server.countSince(m0, { method: 'POST', pathEndsWith: '/git-upload-pack', status: 200 }), 1);

    const wc = await WorkClone.open(bare, path.join(tmp, 'iso-upstream'));
    await wc.write('prometheus/etc/prometheus.yml', 'global: {}\n');
    const next = await wc.commit('rig: new prometheus config');
    await wc.push();
    const m1 = server.mark();
    const res = await git.fetch({ fs, http, dir, ref: 'main', singleBranch: true });
    assert.equal(res.fetchHead, next);
    assert.equal(server.countSince(m1, (r) => r.method === 'GET' && r.path.endsWith('/info/refs')), 1);
    assert.equal(server.countSince(m1), server.requests.length - m1);
  });

  test('git CLI clones and fetches, including a gzip-encoded negotiation', async () => {
    const wc = await WorkClone.open(bare, path.join(tmp, 'cli-upstream'));
    for (let i = 0; i < 40; i++) await wc.git('tag', `rig-release-with-a-fairly-long-tag-name-${i}`);
    await wc.git('push', '--quiet', 'origin', '--tags');
    const dir = path.join(tmp, 'cli');
    const m0 = server.mark();
    await gitCli(['clone', '--quiet', server.url('upstream.git'), dir]);
    assert.equal((await gitCli(['tag'], { cwd: dir })).trim().split('\n').length, 40);
    assert.ok(
      server.countSince(m0, (r) => r.contentEncoding === 'gzip' && r.status === 200) >= 1,
      'git sends negotiations over 1 KiB gzip-compressed; the backend must inflate them',
    );
    const next = await wc.commit('rig: empty change', { allowEmpty: true });
    await wc.push();
    await gitCli(['fetch', '--quiet'], { cwd: dir });
    assert.equal((await gitCli(['rev-parse', 'origin/main'], { cwd: dir })).trim(), next);
  });

  test('down() answers 503 to everything until up()', async () => {
    const dir = path.join(tmp, 'down');
    await git.clone({ fs, http, dir, url: server.url('upstream.git'), ref: 'main', singleBranch: true });
    server.down();
    const m0 = server.mark();
    await assert.rejects(git.fetch({ fs, http, dir, ref: 'main', singleBranch: true }), (err) => httpStatus(err) === 503);
    await assert.rejects(gitCli(['ls-remote', server.url('upstream.git')]), GitError);
    assert.equal(server.countSince(m0, { status: 503 }), 2);
    assert.equal(server.countSince(m0, (r) => r.status !== 503), 0);
    server.up();
    const res = await git.fetch({ fs, http, dir, ref: 'main', singleBranch: true });
    assert.match(res.fetchHead ?? '', SHA);
    assert.ok(server.countSince(m0, { status: 200 }) >= 1);
  });
});

describe('git smart-HTTP server with Basic auth', () => {
  let tmp: string;
  let bare: string;
  let server: GitServer;
  const creds = { user: 'rig', password: 's3cret' };
  const onAuth = () => ({ username: creds.user, password: creds.password });
  before(async () => {
    tmp = await tmpDir('rig-auth');
    bare = path.join(tmp, 'repos', 'upstream.git');
    await makeConfigRepo(bare);
    server = await startGitServer({ root: path.join(tmp, 'repos'), auth: creds });
  });
  after(async () => {
    await server.close();
    await removeDirs(tmp);
  });

  test('requests without or with wrong credentials get 401 with WWW-Authenticate', async () => {
    const url = `${server.url('upstream.git')}/info/refs?service=git-upload-pack`;
    const anon = await fetch(url);
    assert.equal(anon.status, 401);
    assert.match(anon.headers.get('www-authenticate') ?? '', /^Basic realm=/);
    const wrong = await fetch(url, { headers: { authorization: 'Basic ' + Buffer.from('rig:nope').toString('base64') } });
    assert.equal(wrong.status, 401);
    const right = await fetch(url, { headers: { authorization: 'Basic ' + Buffer.from('rig:s3cret').toString('base64') } });
    assert.equal(right.status, 200);
    assert.match(await right.text(), /git-upload-pack/);
    await assert.rejects(
      git.clone({ fs, http, dir: path.join(tmp, 'anon'), url: server.url('upstream.git') }),
      (err) => httpStatus(err) === 401,
    );
    const bad = server.url('upstream.git').replace('http://', 'http://rig:nope@');
    await assert.rejects(gitCli(['clone', '--quiet', bad, path.join(tmp, 'bad')]), /Authentication failed|401/);
  });

  test('isomorphic-git clones and pushes with onAuth', async () => {
    const dir = path.join(tmp, 'iso');
    const m0 = server.mark();
    await git.clone({ fs, http, dir, url: server.url('upstream.git'), ref: 'main', singleBranch: true, onAuth });
    assert.ok(server.countSince(m0, { user: 'rig', status: 200 }) >= 2);
    await fsp.writeFile(path.join(dir, 'crapdir', 'iso.md'), 'pushed by isomorphic-git\n');
    await git.add({ fs, dir, filepath: 'crapdir/iso.md' });
    const sha = await git.commit({ fs, dir, message: 'rig: isomorphic-git push', author });
    const m1 = server.mark();
    const res = await git.push({ fs, http, dir, remote: 'origin', ref: 'main', onAuth });
    assert.equal(res.ok, true);
    assert.equal((await gitCli(['rev-parse', 'main'], { cwd: bare })).trim(), sha);
    assert.equal(server.countSince(m1, { method: 'POST', service: 'git-receive-pack', status: 200 }), 1);
  });

  test('git CLI clones and pushes a chunked (unknown-length) request body', async () => {
    const url = server.url('upstream.git').replace('http://', 'http://rig:s3cret@');
    const dir = path.join(tmp, 'cli');
    await gitCli(['clone', '--quiet', url, dir]);
    await fsp.writeFile(path.join(dir, 'blob.bin'), Buffer.alloc(256 * 1024, 'x').toString() + Math.random());
    await gitCli(['add', 'blob.bin'], { cwd: dir });
    await gitCli(['commit', '--quiet', '-m', 'rig: git CLI push'], { cwd: dir });
    const sha = (await gitCli(['rev-parse', 'HEAD'], { cwd: dir })).trim();
    const m0 = server.mark();
    // a tiny postBuffer makes git stream the pack with Transfer-Encoding: chunked (no Content-Length)
    await gitCli(['-c', 'http.postBuffer=1024', 'push', '--quiet', 'origin', 'main'], { cwd: dir });
    assert.equal((await gitCli(['rev-parse', 'main'], { cwd: bare })).trim(), sha);
    // git first probes with a tiny POST, then streams the pack without Content-Length
    const pushes = server.requests.slice(m0).filter((r) => r.method === 'POST' && r.service === 'git-receive-pack');
    assert.ok(pushes.length >= 1 && pushes.every((r) => r.status === 200));
    assert.ok(pushes.some((r) => r.contentLength === undefined), 'the pack was sent chunked');
  });
});

const sandbox = canRunSandbox();

describe('systemd user manager sandbox', { skip: sandbox.ok ? false : sandbox.why }, () => {
  let tmp: string;
  before(async () => {
    tmp = await tmpDir('rig-systemd');
  });
  after(() => removeDirs(tmp));

  /** Starts a manager in `<tmp>/<name>` that the test stops when it ends. */
  async function manager(t: { after: (fn: () => Promise<void>) => void; diagnostic: (m: string) => void }, name: string) {
    const mgr = await startUserManager(path.join(tmp, name));
    t.after(() => mgr.stop());
    t.diagnostic(`${name} start-up ms: ${JSON.stringify(mgr.timings)}`);
    return mgr;
  }
  const lines = async (file: string) => (existsSync(file) ? (await fsp.readFile(file, 'utf8')).split('\n').filter(Boolean) : []);

  test('starts quickly; reload writes the marker; a failing reload fails', async (t) => {
    const mgr = await manager(t, 'basic');
    assert.ok(mgr.timings.total < 5000, `start-up took ${mgr.timings.total} ms`);
    assert.equal(mgr.busAddress, `unix:path=${path.join(tmp, 'basic', 'rt', 'bus')}`);
    assert.equal(mgr.env.DBUS_SESSION_BUS_ADDRESS, mgr.busAddress);
    assert.ok((await fsp.stat(path.join(tmp, 'basic', 'rt', 'bus'))).isSocket());
    assert.equal(mgr.unitDir, path.join(tmp, 'basic', 'cfg', 'systemd', 'user'));

    const marker = path.join(tmp, 'basic', 'marker');
    await mgr.writeUnit('marker.service', reloadMarkerUnit('marker', marker));
    assert.ok(existsSync(path.join(mgr.unitDir, 'marker.service')));
    await mgr.systemctl('start', 'marker.service');
    assert.equal((await mgr.systemctl('is-active', 'marker.service')).trim(), 'active');
    assert.deepEqual(await lines(marker), []);
    await mgr.systemctl('reload', 'marker.service');
    await mgr.systemctl('reload', 'marker.service');
    assert.deepEqual(await lines(marker), ['reloaded', 'reloaded']);

    const broken = path.join(tmp, 'basic', 'broken-marker');
    await mgr.writeUnit('broken.service', reloadMarkerUnit('broken', broken, { failReload: true }));
    await mgr.systemctl('start', 'broken.service');
    const err = await mgr.systemctl('reload', 'broken.service').then(
      () => assert.fail('reload of a unit whose ExecReload fails must fail'),
      (e: unknown) => e,
    );
    assert.ok(err instanceof SystemctlError);
    assert.notEqual(err.code, 0);
    assert.match(err.stderr, /broken\.service/);
    assert.deepEqual(await lines(broken), []);
    const r = await mgr.trySystemctl('reload', 'broken.service');
    assert.notEqual(r.code, 0);
  });

  test('the bus address serves org.freedesktop.systemd1 to dbus-next (ReloadUnit + JobRemoved)', async (t) => {
    const mgr = await manager(t, 'dbus');
    const marker = path.join(tmp, 'dbus', 'marker');
    await mgr.writeUnit('m.service', reloadMarkerUnit('m', marker));
    await mgr.systemctl('start', 'm.service');
    const bus = dbus.sessionBus({ busAddress: mgr.busAddress });
    bus.on('error', () => undefined);
    t.after(() => bus.disconnect());
    const obj = await bus.getProxyObject('org.freedesktop.systemd1', '/org/freedesktop/systemd1');
    const systemd1 = obj.getInterface('org.freedesktop.systemd1.Manager');
    await systemd1.Subscribe();
    const results = new Map<string, string>();
    let notify: () => void = () => undefined;
    systemd1.on('JobRemoved', (_id: number, job: string, _unit: string, result: string) => {
      results.set(job, result);
      notify();
    });
    const job: string = await systemd1.ReloadUnit('m.service', 'replace');
    const deadline = Date.now() + 5000;
    while (!results.has(job) && Date.now() < deadline) await new Promise<void>((r) => (notify = r));
    assert.equal(results.get(job), 'done');
    assert.deepEqual(await lines(marker), ['reloaded']);
  });

  test('a template unit can be enabled, started and reloaded per instance', async (t) => {
    const mgr = await manager(t, 'template');
    const marker = path.join(tmp, 'template', 'marker');
    const text = reloadMarkerTemplate('docker-compose', marker);
    assert.match(text, /\[Install\]\nWantedBy=default\.target/);
    await mgr.writeUnit('docker-compose@.service', text);
    await mgr.systemctl('enable', '--now', 'docker-compose@caddy.service');
    assert.equal((await mgr.systemctl('is-enabled', 'docker-compose@caddy.service')).trim(), 'enabled');
    assert.equal((await mgr.systemctl('is-active', 'docker-compose@caddy.service')).trim(), 'active');
    await mgr.systemctl('reload', 'docker-compose@caddy.service');
    assert.deepEqual(await lines(marker), ['reloaded caddy']);
  });

  test('managers are isolated from each other; stop() kills a manager and all its units', async (t) => {
    const [a, b] = await Promise.all([startUserManager(path.join(tmp, 'iso-a')), startUserManager(path.join(tmp, 'iso-b'))]);
    t.after(() => Promise.all([a.stop(), b.stop()]).then(() => undefined));
    t.diagnostic(`parallel start-up ms: ${a.timings.total}, ${b.timings.total}`);
    assert.notEqual(a.cgroup, b.cgroup);
    const pids: number[] = [];
    for (const m of [a, b]) {
      await m.writeUnit('same.service', reloadMarkerUnit('same', path.join(m.dir, 'marker')));
      await m.systemctl('start', 'same.service');
      pids.push(Number((await m.systemctl('show', '-P', 'MainPID', 'same.service')).trim()));
    }
    const [pa, pb] = pids as [number, number];
    assert.ok(pa > 0 && pb > 0 && pa !== pb);
    const alive = (pid: number) => {
      try {
        process.kill(pid, 0);
        return true;
      } catch {
        return false;
      }
    };
    await a.stop();
    assert.equal(alive(pa), false, 'the stopped manager left its service running');
    assert.equal(alive(a.pid), false, 'the manager process survived stop()');
    assert.equal(existsSync(a.cgroup), false, 'the cgroup is removed');
    await a.stop(); // idempotent
    assert.equal(alive(pb), true, "stopping one manager killed the other's service");
    assert.equal((await b.systemctl('is-active', 'same.service')).trim(), 'active');
    await b.systemctl('reload', 'same.service');
    assert.deepEqual(await lines(path.join(b.dir, 'marker')), ['reloaded']);
  });
});

describe('optional Debian packages', () => {
  test('missingPackage: false when the programs are there, else a reason that names the package and what is missing', async () => {
    const tmp = await tmpDir('rig-packages');
    try {
      assert.equal(missingPackage('git', 'git'), false, 'git is in PATH');
      assert.equal(missingPackage('coreutils', '/bin/ls', 'cat'), false);
      assert.equal(findProgram('/bin/ls'), '/bin/ls');
      assert.match(findProgram('git') ?? '', /\/git$/);
      const notExecutable = path.join(tmp, 'tool');
      await fsp.writeFile(notExecutable, '#!/bin/sh\n', { mode: 0o644 });
      assert.equal(findProgram(notExecutable), undefined, 'a file without x bits is no program');
      assert.equal(findProgram(tmp), undefined, 'a directory is no program');
      assert.equal(
        missingPackage('some-server', notExecutable, 'git', 'no-such-program-gitopper'),
        `some-server is not installed (${notExecutable} missing, no no-such-program-gitopper in PATH): apt-get install some-server`,
      );
    } finally {
      await removeDirs(tmp);
    }
  });
});
