/**
 * Repository content is input too: symbolic links in a real repository (served by the rig's git
 * server, checked out by IsoGit, mounted by BindMounter) never lead the agent, which runs as root,
 * out of the checkout. A link that is a symlink → BROKEN with the reason, nothing mounted; a file
 * that is a symlink is left to the service as committed, and never written through or chowned; a
 * symlink planted in the work tree is removed before a checkout or a revert writes there.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { lstat, mkdir, readFile, readlink, rm, stat, symlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { IsoGit } from '../src/adapters/git/iso-git.js';
import { BindMounter, SymlinkSourceError } from '../src/adapters/mount/bind.js';
import type { CheckoutRef, SourceRef } from '../src/ports/git.js';
import type { Owner } from '../src/ports/host.js';
import { reconcile } from '../src/core/reconcile.js';
import { startGitServer, type GitServer } from './rig/git-server.js';
import { makeBare, removeDirs, tmpDir, WorkClone } from './rig/repo.js';
import { FakeUnits, FakeUsers, ManualClock } from './fakes/ports.js';
import { spec } from './fakes/spec.js';

const NOBODY: Owner = { user: 'nobody', uid: 65534, gid: 65534 };
let tmp = '';
let server: GitServer;
let secret = '';
const SECRET = 'root-only secret\n';

before(async () => {
  tmp = await tmpDir('hostile');
  await mkdir(path.join(tmp, 'git'));
  server = await startGitServer({ root: path.join(tmp, 'git') });
  secret = path.join(tmp, 'outside', 'shadow');
  await mkdir(path.dirname(secret));
  await writeFile(secret, SECRET, { mode: 0o600 });
});
after(async () => {
  await server?.close();
  await removeDirs(tmp);
});

/** A repository with `conf/app.ini`, `conf/escape -> <secret>`, and `linked -> <outside dir>`; pushed with symlinks by the git CLI. */
async function hostileRepo(name: string) {
  const bare = path.join(tmp, 'git', `${name}.git`);
  await makeBare(bare, { 'conf/app.ini': 'port = 1\n', 'README.md': 'x\n' });
  const work = await WorkClone.open(bare, path.join(tmp, `${name}-work`));
  await symlink(secret, path.join(work.dir, 'conf', 'escape'));
  await symlink(path.dirname(secret), path.join(work.dir, 'linked'));
  await work.git('add', '-A');
  const head = await work.commit('symlinks');
  await work.push();
  const src: SourceRef = { upstream: server.url(`${name}.git`), branch: 'main', tokenFile: undefined };
  return { work, head, src };
}

const untouched = async () => {
  const st = await stat(secret);
  assert.deepEqual([st.uid, st.mode & 0o777, await readFile(secret, 'utf8')], [0, 0o600, SECRET], 'the file outside the checkout is unchanged, still root\'s');
};

test('a link that is a symlink in the repository: refused (SymlinkSourceError), and the pass is BROKEN saying why', async () => {
  const { head, src } = await hostileRepo('link');
  const g = new IsoGit(path.join(tmp, 'link-state'));
  const mount = path.join(tmp, 'link-mount');
  const s = spec({ upstream: src.upstream, mount, user: '', dirs: [{ local: path.join(tmp, 'link-target'), link: 'linked', file: false }] });
  const mounts = new BindMounter();
  await g.fetch(src);
  const out = await reconcile(s, head, { pendingAction: false }, { git: g, mounts, units: new FakeUnits(), users: new FakeUsers(), clock: new ManualClock() });
  assert.equal(out.state, 'BROKEN');
  assert.match(out.info, /linked is a symbolic link in the repository \(-> .*outside\): gitopper does not follow links out of the checkout/);
  assert.equal(out.mounted, 0);
  await assert.rejects(mounts.ensure(path.join(mount, 'grafana-server', 'linked'), path.join(tmp, 'x'), { file: false, owner: undefined }), SymlinkSourceError);
  // a source below a symlinked directory is refused too (the symlink is found among its parents)
  await assert.rejects(mounts.ensure(path.join(mount, 'grafana-server', 'linked', 'shadow'), path.join(tmp, 'y'), { file: true, owner: undefined }), (e: unknown) => e instanceof SymlinkSourceError && e.data.symlink.endsWith('/linked'));
  await untouched();
});

test('a file that is a symlink pointing out: checked out as a symlink for the service, never chowned or written through', async () => {
  const { src, work } = await hostileRepo('file');
  const g = new IsoGit(path.join(tmp, 'file-state'));
  const co: CheckoutRef = { ...src, dir: path.join(tmp, 'file-co'), links: ['conf'] };
  const tip = await g.fetch(src);
  await g.prepare(co, NOBODY);
  await g.checkout(co, await g.deployed(co), tip, NOBODY);
  const escape = path.join(co.dir, 'conf', 'escape');
  assert.ok((await lstat(escape)).isSymbolicLink(), 'the service sees the symlink as committed');
  assert.equal(await readlink(escape), secret);
  assert.equal((await lstat(escape)).uid, NOBODY.uid, 'the link itself is the service user\'s (lchown)');
  await untouched();

  // the service user plants a symlink where a tracked file was; the next commit changes that file
  const ini = path.join(co.dir, 'conf', 'app.ini');
  await rm(ini);
  await symlink(secret, ini);
  assert.deepEqual(await g.drift(co, (await g.deployed(co))!), ['conf/app.ini'], 'reported as drift');
  await g.restore(co, (await g.deployed(co))!, ['conf/app.ini'], NOBODY);
  assert.equal(await readFile(ini, 'utf8'), 'port = 1\n', 'the revert wrote a file, not through the link');
  await untouched();
  await rm(ini);
  await symlink(secret, ini);
  await work.write('conf/app.ini', 'port = 2\n');
  const next = await work.commit('port 2');
  await work.push();
  await g.fetch(src);
  await g.checkout(co, await g.deployed(co), next, NOBODY);
  assert.equal((await lstat(ini)).isSymbolicLink(), false);
  assert.equal(await readFile(ini, 'utf8'), 'port = 2\n');
  await untouched();

  // a planted directory symlink on the way to files of the commit
  await rm(path.join(co.dir, 'conf'), { recursive: true });
  await symlink(path.dirname(secret), path.join(co.dir, 'conf'));
  await work.write('conf/app.ini', 'port = 3\n');
  const third = await work.commit('port 3');
  await work.push();
  await g.fetch(src);
  await g.checkout(co, await g.deployed(co), third, NOBODY);
  assert.equal((await lstat(path.join(co.dir, 'conf'))).isDirectory(), true);
  assert.equal(await readFile(ini, 'utf8'), 'port = 3\n');
  await untouched();
});
