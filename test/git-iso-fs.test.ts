/**
 * The `fs` given to isomorphic-git (src/adapters/git/iso-fs.ts): its probe costs nothing, real calls
 * are node:fs/promises, and isomorphic-git works through it.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import git from 'isomorphic-git';
import { isoFs } from '../src/adapters/git/iso-fs.js';

test("isomorphic-git's probe (readFile with no arguments): node's fs rejects with a stack trace, isoFs answers with a resolved promise", async () => {
  await assert.rejects((fs.promises.readFile as unknown as () => Promise<unknown>)(), { code: 'ERR_INVALID_ARG_TYPE' });
  assert.equal(await (isoFs.promises.readFile as unknown as () => Promise<unknown>)(), undefined);
});

test('isoFs reads, writes and fails as node:fs/promises does, and isomorphic-git commits and reads back through it', async (t) => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'gitopper-isofs-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  await writeFile(path.join(dir, 'a.txt'), 'hello\n');
  assert.equal(await isoFs.promises.readFile(path.join(dir, 'a.txt'), 'utf8'), 'hello\n');
  await assert.rejects(isoFs.promises.readFile(path.join(dir, 'missing')), { code: 'ENOENT' });
  await git.init({ fs: isoFs, dir, defaultBranch: 'main' });
  await git.add({ fs: isoFs, dir, filepath: 'a.txt' });
  const oid = await git.commit({ fs: isoFs, dir, message: 'one', author: { name: 't', email: 't@example.org', timestamp: 0, timezoneOffset: 0 } });
  assert.equal(await git.resolveRef({ fs: isoFs, dir, ref: 'HEAD' }), oid);
  const { blob } = await git.readBlob({ fs: isoFs, dir, oid, filepath: 'a.txt' });
  assert.equal(Buffer.from(blob).toString(), 'hello\n');
});
