/**
 * Packs read by offset through the hooked isomorphic-git cache (src/adapters/git/packs/hook.ts,
 * pack-reader.ts, verify.ts), on repositories made by the git CLI: every object as `git cat-file`
 * gives it (delta chains, a blob over 1 MiB), a pass reading far less than the pack (/proc/self/io),
 * a corrupt pack or index failing instead of returning bytes, and isomorphic-git's own behaviour
 * when its internals are not the expected ones.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import git from 'isomorphic-git';
import { hookedCache } from '../src/adapters/git/packs/hook.js';
import { PackReader, packReads } from '../src/adapters/git/packs/pack-reader.js';
import { PackError } from '../src/adapters/git/packs/errors.js';
import { allObjects, gitSync, makeHistory, packFiles, rchar, verifyPack } from './adapters/pack-repos.js';
import { removeDirs, tmpDir } from './rig/repo.js';

const tmp = await tmpDir('git-packs-read');
after(() => removeDirs(tmp));
let seq = 0;

/** A fresh bare repository with one pack (`git repack -adf`: delta chains), as made by {@link makeHistory}. */
function repacked(o: Parameters<typeof makeHistory>[1] = {}): { gitdir: string; pack: string } {
  const gitdir = path.join(tmp, `r${++seq}.git`);
  makeHistory(gitdir, o);
  gitSync(gitdir, ['repack', '-adfq', '--depth=50', '--window=50']);
  const [pack] = packFiles(gitdir);
  return { gitdir, pack: pack! };
}

/** isomorphic-git's `GitPackIndex` of `cache` for the `.idx` of `pack` (read through the module-private Symbol by its description). */
async function packIndexOf(cache: object, pack: string): Promise<{ pack: unknown }> {
  const sym = Object.getOwnPropertySymbols(cache).find((s) => s.description === 'PackfileCache')!;
  const map = (cache as Record<symbol, Map<string, Promise<{ pack: unknown }>>>)[sym];
  return (await map.get(pack.replace(/\.pack$/, '.idx'))!)!;
}

const read = (gitdir: string, oid: string, cache: object) => git.readObject({ fs, gitdir, oid, cache, format: 'content' });

test('every object of a repacked history (ofs-delta chains, a 1.5 MiB blob) reads as git cat-file gives it', async () => {
  const { gitdir, pack } = repacked({ commits: 40, files: 40, bigBlob: 1.5 * 1024 * 1024 });
  const v = verifyPack(pack);
  assert.ok(v.maxChain >= 5, `delta chains of length ${v.maxChain}`);
  const objects = allObjects(gitdir);
  assert.equal(objects.length, v.offsets.size);
  assert.ok(objects.some((o) => o.content.length > 1024 * 1024));
  const hook = hookedCache();
  for (const o of objects) {
    const got = await read(gitdir, o.oid, hook.cache);
    assert.equal(got.type, o.type, o.oid);
    assert.ok(Buffer.from(got.object as Uint8Array).equals(o.content), `${o.oid} (${o.type}, depth ${v.depth.get(o.oid)})`);
  }
  assert.equal(hook.packsHooked(), 1);
  assert.ok((await (await packIndexOf(hook.cache, pack)).pack) instanceof PackReader, "isomorphic-git's p.pack is the reader");
  hook.close();
});

test('a pass reads the objects it needs, not the pack: /proc/self/io rchar stays far below the pack size', async () => {
  const { gitdir, pack } = repacked({ commits: 10, files: 20, bigBlob: 4 * 1024 * 1024 });
  const size = fs.statSync(pack).size;
  const tip = gitSync(gitdir, ['rev-parse', 'main']).toString().trim();
  const file = gitSync(gitdir, ['rev-parse', 'main:dir0/file0.txt']).toString().trim();
  const first = hookedCache();
  await read(gitdir, file, first.cache); // the first read in this process checks the pack once (streamed)
  first.close();

  const before = rchar();
  const bytesBefore = packReads.bytes;
  const pass = hookedCache();
  const commit = await git.readCommit({ fs, gitdir, oid: tip, cache: pass.cache });
  await git.readTree({ fs, gitdir, oid: commit.commit.tree, cache: pass.cache });
  const blob = await read(gitdir, file, pass.cache);
  assert.equal(Buffer.from(blob.object as Uint8Array).toString(), gitSync(gitdir, ['cat-file', 'blob', file]).toString());
  const readHooked = rchar() - before;
  pass.close();
  assert.ok(readHooked < size / 8, `hooked pass read ${readHooked} bytes of a ${size}-byte pack`);
  assert.ok(packReads.bytes - bytesBefore < 64 * 1024, `${packReads.bytes - bytesBefore} bytes through the reader`);

  const plainBefore = rchar(); // the same reads unhooked: isomorphic-git reads the whole pack
  const plain = {};
  const c2 = await git.readCommit({ fs, gitdir, oid: tip, cache: plain });
  await git.readTree({ fs, gitdir, oid: c2.commit.tree, cache: plain });
  await read(gitdir, file, plain);
  assert.ok(rchar() - plainBefore >= size, `unhooked pass read ${rchar() - plainBefore} bytes of a ${size}-byte pack`);
});

/** Flip one byte of `file` at `at` and move its mtime (a new file as far as the caches can tell). */
function flip(file: string, at: number): void {
  const buf = fs.readFileSync(file);
  buf[at] = buf[at]! ^ 0x40;
  fs.chmodSync(file, 0o644);
  fs.writeFileSync(file, buf);
  const t = new Date(Date.now() + 60_000 + seq * 1000);
  fs.utimesSync(file, t, t);
}

test('a pack with a flipped byte in the middle fails to read, never returns content', async () => {
  const { gitdir, pack } = repacked({ commits: 20, files: 20 });
  const objects = allObjects(gitdir);
  flip(pack, Math.floor(fs.statSync(pack).size / 2));
  const hook = hookedCache();
  for (const o of objects.slice(0, 20)) {
    await assert.rejects(read(gitdir, o.oid, hook.cache), (err) => err instanceof PackError && /content SHA-1/.test(err.message), o.oid);
  }
  hook.close();
});

test('a pack checked by an earlier pass and damaged since is checked again and fails', async () => {
  const { gitdir, pack } = repacked({ commits: 20, files: 20 });
  const [o] = allObjects(gitdir);
  const ok = hookedCache();
  await read(gitdir, o!.oid, ok.cache);
  ok.close();
  flip(pack, Math.floor(fs.statSync(pack).size / 3));
  const hook = hookedCache();
  await assert.rejects(read(gitdir, o!.oid, hook.cache), (err) => err instanceof PackError && /is corrupt/.test(err.message));
  hook.close();
});

test('an .idx with a flipped offset byte fails to read (its checksum), never returns another object', async () => {
  const { gitdir, pack } = repacked({ commits: 20, files: 20 });
  const objects = allObjects(gitdir);
  const idx = pack.replace(/\.pack$/, '.idx');
  const n = objects.length;
  flip(idx, 8 + 1024 + 24 * n + 4 * Math.floor(n / 2) + 3); // low byte of the middle object's offset
  const hook = hookedCache();
  for (const o of objects) {
    await assert.rejects(read(gitdir, o.oid, hook.cache), (err) => err instanceof PackError && /index checksum mismatch/.test(err.message), o.oid);
  }
  hook.close();
});

test('internals other than expected: the hook stays out and the index reads its pack as isomorphic-git does', async () => {
  const hook = hookedCache();
  const sym = Symbol('PackfileCache');
  const c = hook.cache as Record<symbol, Map<string, Promise<object>>>;
  c[sym] = new Map();
  const unknown = { pack: undefined, offsets: new Map(), packfileSha: 'a'.repeat(40), readSlice() { return (this.pack as unknown as Buffer).subarray(0); } };
  const p = Promise.resolve(unknown);
  c[sym].set('/x/pack-1.idx', p);
  await p;
  assert.equal(unknown.pack, undefined);
  assert.equal(hook.packsHooked(), 0);
  hook.close();
});

test('PackReader: Buffer semantics for explicit ranges, one object for slice(start), a closed reader still reads', () => {
  const { gitdir, pack } = repacked({ commits: 5, files: 5 });
  const whole = fs.readFileSync(pack);
  const v = verifyPack(pack);
  const starts = [...v.offsets.values()].sort((a, b) => a - b);
  const r = new PackReader(pack, pack.replace(/\.pack$/, '.idx'));
  assert.equal(r.length, whole.length);
  assert.ok(r.slice(-20).equals(whole.subarray(-20)));
  assert.ok(r.subarray(3, 99).equals(whole.subarray(3, 99)));
  assert.ok(r.slice(starts[1]!).equals(whole.subarray(starts[1]!, starts[2]!)));
  assert.ok(r.slice(starts.at(-1)!).equals(whole.subarray(starts.at(-1)!, whole.length - 20)));
  assert.ok(r.slice(starts[0]! + 1).equals(whole.subarray(starts[0]! + 1)), 'no object starts there: to the end, as Buffer');
  r.close();
  assert.ok(r.slice(starts[2]!).equals(whole.subarray(starts[2]!, starts[3]!)));
  assert.ok(gitdir);
});
