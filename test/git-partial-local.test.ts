/**
 * Partial fetch (src/adapters/git/partial/) from a local upstream (`git upload-pack` with
 * GIT_PROTOCOL=version=2 through the PipeTransport): the scenarios of test/adapters/partial-scenarios.ts.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { fetchBranch } from '../src/adapters/git/fetch.js';
import { fetchFiltered, isPartialStore } from '../src/adapters/git/partial/index.js';
import { git, removeDirs, tmpDir } from './rig/repo.js';
import { missing, opts, partialScenarios, pipeRequests, upstream } from './adapters/partial-scenarios.js';

let tmp = '';
before(async () => {
  tmp = await tmpDir('git-partial-local');
});
after(async () => {
  if (tmp) await removeDirs(tmp);
});

partialScenarios('local', { tmp: () => tmp, source: (bare) => ({ upstream: bare, branch: 'main', tokenFile: undefined }), requests: pipeRequests }, false);

test('local: a store fetched in full (isomorphic-git), then filtered, then in full again (the upstream stopped filtering) stays fsck-clean', async () => {
  const rig = { tmp: () => tmp, source: (bare: string) => ({ upstream: bare, branch: 'main', tokenFile: undefined }) };
  const up = await upstream(rig, 'mixed');
  const store = path.join(tmp, 'mixed-store');
  const src = rig.source(up.bare);
  assert.equal(await fetchBranch(store, src, { cache: {}, idleTimeoutMs: 30_000, filter: false }), up.head);
  assert.equal(await isPartialStore(store), false);
  await up.work.write('a/x.txt', 'x three\n');
  const filtered = await up.work.commit('third');
  await up.work.push();
  assert.equal(await fetchFiltered(store, src, opts()), filtered);
  assert.equal(await isPartialStore(store), true);
  assert.equal((await missing(store, 'main')).size, 1, 'the one new blob is promised');
  await up.work.write('a/y.txt', 'y four\n');
  const full = await up.work.commit('fourth');
  await up.work.push();
  await git(['config', 'uploadpack.allowFilter', 'false'], { cwd: up.bare });
  assert.equal(await fetchFiltered(store, src, opts()), undefined);
  assert.equal(await fetchBranch(store, src, { cache: {}, idleTimeoutMs: 30_000 }), full);
  await git(['--git-dir', store, 'fsck', '--no-progress']);
  assert.equal(await git(['--git-dir', store, 'show', `${full}:a/y.txt`]), 'y four\n');
});
