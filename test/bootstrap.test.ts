/**
 * The self-bootstrap (src/core/bootstrap.ts) over the fakes: a failed first fetch is a
 * BootstrapError that names the branch and the upstream, with the upstream's credentials redacted
 * (a `-U https://user:token@…` URL never reaches a log or stderr whole).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { bootstrap, BootstrapError } from '../src/core/bootstrap.js';
import { FakeGit, FakeMounts, FakeUnits, FakeUsers, ManualClock } from './fakes/ports.js';

test('a failed bootstrap fetch says which branch of which upstream, without its credentials', async () => {
  const git = new FakeGit();
  git.failFetch = new Error('HTTP 401');
  const deps = { git, mounts: new FakeMounts(), units: new FakeUnits(), users: new FakeUsers(), clock: new ManualClock() };
  const o = { upstream: 'https://deploy:s3cret-token@git.example.org/ops/config.git', branch: 'main', mount: '/var/lib/gitopper/self', directory: 'gitopper', machine: 'web1' };
  const err = await bootstrap(o, false, deps).then(() => undefined, (e: unknown) => e);
  assert.ok(err instanceof BootstrapError, String(err));
  assert.match(err.message, /^fetching main from https:\/\/.*git\.example\.org\/ops\/config\.git: HTTP 401$/);
  assert.doesNotMatch(err.message, /s3cret-token/);
});
