/**
 * An upstream whose `HEAD` names a branch that does not exist (`git init --bare`, HEAD →
 * `master`, only `main` pushed): the configured branch is fetched anyway, over smart HTTP and over
 * the local pipe, in-process and in the fetch child (src/adapters/git/transport/advert.ts). Also the pure
 * rewrite of the ref advertisement. Real parts: git-http-backend on loopback, bare repos made by git.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { adoptHead } from '../src/adapters/git/transport/advert.js';
import { IsoGit } from '../src/adapters/git/iso-git.js';
import type { SourceRef } from '../src/ports/git.js';
import { startGitServer, type GitServer } from './rig/git-server.js';
import { git, removeDirs, tmpDir } from './rig/repo.js';

let tmp = '';
let server: GitServer;
let tip = '';
before(async () => {
  tmp = await tmpDir('dangling-head');
  const bare = path.join(tmp, 'git', 'up.git');
  await git(['init', '--quiet', '--bare', '--initial-branch=master', bare]);
  const work = path.join(tmp, 'work');
  await git(['init', '--quiet', '--initial-branch=main', work]);
  await mkdir(path.join(work, 'etc'));
  await writeFile(path.join(work, 'etc', 'a.conf'), 'a = 1\n');
  await git(['add', '-A'], { cwd: work });
  await git(['commit', '--quiet', '-m', 'first'], { cwd: work });
  await git(['push', '--quiet', bare, 'main'], { cwd: work });
  tip = (await git(['rev-parse', 'HEAD'], { cwd: work })).trim();
  assert.equal((await git(['symbolic-ref', 'HEAD'], { cwd: bare })).trim(), 'refs/heads/master', 'the fixture: HEAD names a branch that does not exist');
  server = await startGitServer({ root: path.join(tmp, 'git') });
});
after(async () => {
  await server?.close();
  await removeDirs(tmp);
});

for (const kind of ['http', 'local'] as const) {
  for (const inChild of [false, true]) {
    test(`${kind}${inChild ? ', first fetch in a child' : ''}: the configured branch is fetched although the upstream's HEAD names a missing branch`, async () => {
      const upstream = kind === 'http' ? server.url('up.git') : path.join(tmp, 'git', 'up.git');
      const g = new IsoGit(path.join(tmp, `state-${kind}-${inChild}`), () => {}, { fetchInChild: inChild });
      const src: SourceRef = { upstream, branch: 'main', tokenFile: undefined };
      try {
        assert.equal(await g.fetch(src), tip);
        // and a second fetch (the store has the branch now) agrees
        assert.equal(await g.fetch(src), tip);
        const co = { ...src, dir: path.join(tmp, `co-${kind}-${inChild}`), links: ['etc'] };
        await g.prepare(co, undefined);
        await g.checkout(co, await g.deployed(co), tip, undefined);
        assert.equal(await g.deployed(co), tip);
      } finally {
        await g.close();
      }
    });
  }
}

test('a branch that really is missing is still named as missing', async () => {
  const g = new IsoGit(path.join(tmp, 'state-missing'));
  await assert.rejects(g.fetch({ upstream: server.url('up.git'), branch: 'nope', tokenFile: undefined }), /branch "nope" not found upstream/);
});

/** pkt-line framing of `s`. */
const pkt = (s: string) => `${(Buffer.byteLength(s, 'latin1') + 4).toString(16).padStart(4, '0')}${s}`;
const OID = 'a'.repeat(40);
const OID2 = 'b'.repeat(40);

test('adoptHead adds symref=HEAD:<branch> to the first ref line only when no HEAD is advertised', () => {
  const preamble = `${pkt('# service=git-upload-pack\n')}0000`;
  const noHead = `${preamble}${pkt(`${OID} refs/heads/main\0multi_ack ofs-delta\n`)}${pkt(`${OID2} refs/heads/other\n`)}0000`;
  const out = adoptHead(Buffer.from(noHead, 'latin1'), 'refs/heads/main').toString('latin1');
  assert.equal(out, `${preamble}${pkt(`${OID} refs/heads/main\0multi_ack ofs-delta symref=HEAD:refs/heads/main\n`)}${pkt(`${OID2} refs/heads/other\n`)}0000`);

  const withHead = `${preamble}${pkt(`${OID} HEAD\0multi_ack symref=HEAD:refs/heads/main\n`)}${pkt(`${OID} refs/heads/main\n`)}0000`;
  assert.equal(adoptHead(Buffer.from(withHead, 'latin1'), 'refs/heads/main').toString('latin1'), withHead);
  const headLineOnly = `${pkt(`${OID} HEAD\0multi_ack\n`)}${pkt(`${OID} refs/heads/main\n`)}0000`;
  assert.equal(adoptHead(Buffer.from(headLineOnly, 'latin1'), 'refs/heads/main').toString('latin1'), headLineOnly);
  // an empty repository (capabilities^{}) and garbage pass untouched
  const empty = `${preamble}${pkt(`${'0'.repeat(40)} capabilities^{}\0multi_ack\n`)}0000`;
  assert.equal(adoptHead(Buffer.from(empty, 'latin1'), 'refs/heads/main').toString('latin1'), empty);
  for (const junk of ['<html>oops</html>', '00', 'ffff0000']) assert.equal(adoptHead(Buffer.from(junk, 'latin1'), 'refs/heads/main').toString('latin1'), junk);
});
