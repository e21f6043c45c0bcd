/**
 * Partial fetch (src/adapters/git/partial/) from a local upstream (`git upload-pack` with
 * GIT_PROTOCOL=version=2 through the PipeTransport): the scenarios of test/adapters/partial-scenarios.ts.
 */
import { after, before } from 'node:test';
import { removeDirs, tmpDir } from './rig/repo.js';
import { partialScenarios, pipeRequests } from './adapters/partial-scenarios.js';

let tmp = '';
before(async () => {
  tmp = await tmpDir('git-partial-local');
});
after(async () => {
  if (tmp) await removeDirs(tmp);
});

partialScenarios('local', { tmp: () => tmp, source: (bare) => ({ upstream: bare, branch: 'main', tokenFile: undefined }), requests: pipeRequests }, false);
