/**
 * Partial fetch (src/adapters/git/partial/) over SSH: a REAL OpenSSH server (test/rig/sshd.ts, with
 * `AcceptEnv GIT_PROTOCOL` as real git servers have) running `git-upload-pack`; the scenarios of
 * test/adapters/partial-scenarios.ts; and a server that does not accept GIT_PROTOCOL answers
 * protocol v0, which gives undefined (the fallback). Runs as root in the test run's mount namespace.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fetchFiltered, fetchObjects } from '../src/adapters/git/partial/index.js';
import { git, removeDirs, tmpDir } from './rig/repo.js';
import { noSshd, startSshd, type Sshd } from './rig/sshd.js';
import { canRunSandbox } from './rig/systemd.js';
import { opts, partialScenarios, pipeRequests, upstream } from './adapters/partial-scenarios.js';

const sandbox = canRunSandbox();
const skip = !sandbox.ok ? sandbox.why : noSshd();
let tmp = '';
let sshd: Sshd;
let v0sshd: Sshd;

before(async () => {
  if (skip) return;
  tmp = await tmpDir('git-partial-ssh');
  sshd = await startSshd(path.join(tmp, 'sshd'));
  v0sshd = await startSshd(path.join(tmp, 'sshd-v0'), { acceptGitProtocol: false });
});
after(async () => {
  await sshd?.close();
  await v0sshd?.close();
  if (tmp) await removeDirs(tmp);
});

const source = (server: () => Sshd) => (bare: string) => ({ upstream: server().url(bare), branch: 'main', tokenFile: undefined, sshKey: server().deployKey, knownHosts: server().knownHosts });
const rig = { tmp: () => tmp, source: source(() => sshd), requests: pipeRequests };
partialScenarios('ssh', rig, skip);

test('ssh: one connection for a fetch (advertisement, ls-refs and fetch on one upload-pack) and for nothing new', { skip }, async () => {
  const up = await upstream(rig, 'conns');
  const store = path.join(tmp, 'conns-store');
  const c0 = sshd.connections();
  await fetchFiltered(store, rig.source(up.bare), opts());
  assert.equal(sshd.connections() - c0, 1);
  const r = await pipeRequests(() => fetchFiltered(store, rig.source(up.bare), opts()));
  assert.deepEqual([r.spawns, r.gets, r.posts], [1, 1, 1]);
  assert.equal(sshd.connections() - c0, 2);
  const blob = (await git(['--git-dir', up.bare, 'rev-parse', 'main:a/x.txt'])).trim();
  const lazy = await pipeRequests(() => fetchObjects(store, rig.source(up.bare), [blob], opts()));
  assert.deepEqual([lazy.spawns, lazy.gets, lazy.posts], [1, 1, 1]);
});

test('ssh: a server that does not accept GIT_PROTOCOL answers v0: undefined (fallback), nothing written', { skip }, async () => {
  const up = await upstream(rig, 'v0');
  const store = path.join(tmp, 'v0-store');
  const notices: string[] = [];
  assert.equal(await fetchFiltered(store, source(() => v0sshd)(up.bare), opts(notices)), undefined);
  assert.equal(existsSync(store), false);
  assert.match(notices.join('\n'), /upstream cannot filter.*does not speak git protocol v2/);
});
