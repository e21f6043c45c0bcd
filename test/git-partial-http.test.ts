/**
 * Partial fetch (src/adapters/git/partial/) over https-style smart HTTP with `token_file`: the rig's
 * git-http-backend server demanding Basic auth (protocol v2 through the `Git-Protocol` header). The
 * scenarios of test/adapters/partial-scenarios.ts, and a refused token.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, writeFile } from 'node:fs/promises';
import { createServer, type Socket } from 'node:net';
import path from 'node:path';
import { fetchFiltered, fetchObjects, ObjectFetchError } from '../src/adapters/git/partial/index.js';
import { GitProtocolError } from '../src/adapters/git/transport/v2/errors.js';
import { FetchTimeoutError } from '../src/adapters/git/transport/http.js';
import { startGitServer, type GitServer } from './rig/git-server.js';
import { removeDirs, tmpDir } from './rig/repo.js';
import { opts, partialScenarios, upstream } from './adapters/partial-scenarios.js';

const USER = 'deploy';
const PASSWORD = 's3cret-token';
let tmp = '';
let server: GitServer;
let tokenFile = '';

before(async () => {
  tmp = await tmpDir('git-partial-http');
  await mkdir(path.join(tmp, 'git'));
  server = await startGitServer({ root: path.join(tmp, 'git'), auth: { user: USER, password: PASSWORD } });
  tokenFile = path.join(tmp, 'token');
  await writeFile(tokenFile, `${USER}:${PASSWORD}\n`, { mode: 0o600 });
});
after(async () => {
  await server?.close();
  if (tmp) await removeDirs(tmp);
});

const rig = {
  tmp: () => path.join(tmp, 'git'),
  source: (bare: string) => ({ upstream: server.url(path.basename(bare)), branch: 'main', tokenFile }),
  requests: async <T>(fn: () => Promise<T>) => {
    const m = server.mark();
    const value = await fn();
    return { value, gets: server.countSince(m, { method: 'GET', status: 200, user: USER }), posts: server.countSince(m, { method: 'POST', status: 200, user: USER }) };
  },
};
partialScenarios('https', rig, false);

test('https: a refused token gives a clear error naming the upstream and token_file (never the secret)', async () => {
  const up = await upstream(rig, 'refused');
  const bad = path.join(tmp, 'bad-token');
  await writeFile(bad, `${USER}:wrong\n`);
  const src = { ...rig.source(up.bare), tokenFile: bad };
  const err = await fetchFiltered(path.join(tmp, 'refused-store'), src, opts()).then(() => undefined, (e: unknown) => e);
  assert.ok(err instanceof GitProtocolError, String(err));
  assert.match(err.message, /^http:\/\/127\.0\.0\.1:\d+\/refused\.git: the server refused the credentials of token_file .*bad-token \(HTTP 401\)/);
  assert.equal(err.data.status, 401);
  const lazy = await fetchObjects(path.join(tmp, 'refused-store'), src, [up.head], opts()).then(() => undefined, (e: unknown) => e);
  assert.ok(lazy instanceof ObjectFetchError, String(lazy));
  assert.match(lazy.message, /cannot fetch 1 missing object from http:\/\/127\.0\.0\.1:\d+\/refused\.git: .*HTTP 401/);
  assert.doesNotMatch(`${err.message} ${lazy.message}`, /wrong|s3cret/);
});

test('https: without token_file the server wants credentials, and the error says to set token_file', async () => {
  const up = await upstream(rig, 'anonymous');
  const err = await fetchFiltered(path.join(tmp, 'anon-store'), { ...rig.source(up.bare), tokenFile: undefined }, opts()).then(() => undefined, (e: unknown) => e);
  assert.ok(err instanceof GitProtocolError, String(err));
  assert.match(err.message, /HTTP 401\): set token_file/);
});

test('https: an upstream that accepts the connection and says nothing fails with FetchTimeoutError (the idle timeout)', async () => {
  const sockets: Socket[] = [];
  const silent = createServer((s) => void sockets.push(s));
  await new Promise<void>((r) => silent.listen(0, '127.0.0.1', () => r()));
  try {
    const port = (silent.address() as { port: number }).port;
    const src = { upstream: `http://127.0.0.1:${port}/r.git`, branch: 'main', tokenFile };
    const err = await fetchFiltered(path.join(tmp, 'silent-store'), src, { idleTimeoutMs: 200 }).then(() => undefined, (e: unknown) => e);
    assert.ok(err instanceof FetchTimeoutError, String(err));
    assert.match(err.message, /no answer for 0\.2 s \(GET \/r\.git\/info\/refs/);
  } finally {
    for (const s of sockets) s.destroy();
    await new Promise((r) => silent.close(r));
  }
});
