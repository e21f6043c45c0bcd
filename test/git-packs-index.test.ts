/**
 * Pack indexes and object presence (src/adapters/git/packs/pack-index.ts, object-presence.ts) against
 * what the git CLI says: offsets as `git verify-pack -v` prints them (32-bit and 64-bit tables, the
 * latter made with `git index-pack --index-version=2,<offset>`), and `missingObjects` as
 * `git cat-file --batch-check` answers for packed, loose and absent objects.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { PackIndex } from '../src/adapters/git/packs/pack-index.js';
import { PackError } from '../src/adapters/git/packs/errors.js';
import { missingObjects } from '../src/adapters/git/packs/object-presence.js';
import { allObjects, gitSync, makeHistory, packFiles, verifyPack } from './adapters/pack-repos.js';
import { removeDirs, tmpDir } from './rig/repo.js';

const tmp = await tmpDir('git-packs-index');
after(() => removeDirs(tmp));
let seq = 0;

function repo(o: Parameters<typeof makeHistory>[1] = {}): string {
  const gitdir = path.join(tmp, `r${++seq}.git`);
  makeHistory(gitdir, o);
  gitSync(gitdir, ['repack', '-adfq']);
  return gitdir;
}

/** Check every object's offset and end against `git verify-pack -v`. */
function checkAgainstGit(index: PackIndex, pack: string): void {
  const { offsets } = verifyPack(pack);
  const size = fs.statSync(pack).size;
  assert.equal(index.count, offsets.size);
  const sorted = [...offsets.values()].sort((a, b) => a - b);
  for (const [oid, off] of offsets) {
    assert.ok(index.has(oid) && index.has(oid.toUpperCase()), oid);
    assert.equal(index.offsetOf(oid), off, oid);
    const i = sorted.indexOf(off);
    assert.equal(index.endOf(off, size), i + 1 < sorted.length ? sorted[i + 1] : size - 20);
  }
  assert.equal(index.endOf(sorted[0]! + 1, size), undefined);
  assert.equal(index.packChecksum, path.basename(pack).slice(5, 45));
}

test('PackIndex: has, offsetOf and endOf agree with git verify-pack; absent and malformed oids are absent', async () => {
  const gitdir = repo({ commits: 30, files: 30 });
  const [pack] = packFiles(gitdir);
  const index = await PackIndex.read(pack!.replace(/\.pack$/, '.idx'));
  checkAgainstGit(index, pack!);
  for (const oid of ['0'.repeat(40), 'f'.repeat(40), 'zz'.repeat(20), 'abc', '']) {
    assert.equal(index.has(oid), false, oid);
    assert.equal(index.offsetOf(oid), undefined, oid);
  }
  const known = verifyPack(pack!).offsets;
  for (const oid of [...known.keys()].slice(0, 50)) {
    const near = oid.slice(0, 39) + (oid[39] === '0' ? '1' : '0');
    if (!known.has(near)) assert.equal(index.has(near), false, near);
  }
});

test('PackIndex: offsets in the 64-bit table (git index-pack --index-version=2,<offset>) read right', async () => {
  const gitdir = repo({ commits: 10, files: 10 });
  const [pack] = packFiles(gitdir);
  const idx = path.join(tmp, `large-${seq}.idx`);
  gitSync(gitdir, ['index-pack', '--index-version=2,100', '-o', idx, pack!]);
  const buf = fs.readFileSync(idx);
  const n = buf.readUInt32BE(8 + 1020);
  assert.ok(buf.length > 8 + 1024 + 28 * n + 40 + 8 * 10, 'git wrote a 64-bit offset table');
  checkAgainstGit(PackIndex.parse(buf, idx), pack!);
});

test('PackIndex: a damaged index is refused with a PackError naming the file', () => {
  const gitdir = repo({ commits: 3, files: 3 });
  const idx = packFiles(gitdir)[0]!.replace(/\.pack$/, '.idx');
  const good = fs.readFileSync(idx);
  const cases: Array<[string, Buffer]> = [
    ['too short', good.subarray(0, 100)],
    ['magic', Buffer.concat([Buffer.from([0, 0, 0, 0]), good.subarray(4)])],
    ['truncated table', good.subarray(0, good.length - 4)],
    ['checksum', Buffer.from(good.map((b, i) => (i === 8 + 1024 + 5 ? b ^ 1 : b)))],
  ];
  for (const [why, buf] of cases) {
    assert.throws(() => PackIndex.parse(buf, idx), (e) => e instanceof PackError && e.data.file === idx && e.message.includes(idx), why);
  }
});

test('missingObjects answers as git cat-file --batch-check: packs (two), loose objects, absent, malformed, 10k oids', async () => {
  const gitdir = repo({ commits: 20, files: 20 });
  // a second pack and some loose objects
  const second: string[] = [];
  for (let i = 0; i < 30; i++) second.push(gitSync(gitdir, ['hash-object', '-w', '--stdin'], `second pack ${i}\n`).toString().trim());
  gitSync(gitdir, ['pack-objects', '-q', 'objects/pack/pack'], second.join('\n') + '\n'); // a second pack of these
  gitSync(gitdir, ['prune-packed']);
  const loose: string[] = [];
  for (let i = 0; i < 30; i++) loose.push(gitSync(gitdir, ['hash-object', '-w', '--stdin'], `loose ${i}\n`).toString().trim());
  assert.equal(packFiles(gitdir).length, 2);
  const isLoose = (oid: string) => fs.existsSync(path.join(gitdir, 'objects', oid.slice(0, 2), oid.slice(2)));
  assert.ok(loose.every(isLoose) && !second.some(isLoose));
  const present = allObjects(gitdir).map((o) => o.oid);
  assert.ok(second.every((o) => present.includes(o)) && loose.every((o) => present.includes(o)));
  const absent = Array.from({ length: 10_000 }, () => randomBytes(20).toString('hex'));
  const asked = [...present, ...absent, ...loose.map((o) => o.toUpperCase()), present[0]!, 'not-an-oid', 'abc'];
  const got = await missingObjects(gitdir, asked);
  const check = gitSync(gitdir, ['cat-file', '--batch-check'], [...present, ...absent].join('\n') + '\n').toString().trim().split('\n');
  const gitMissing = check.filter((l) => l.endsWith(' missing')).map((l) => l.split(' ')[0]);
  assert.deepEqual(got, [...gitMissing, 'not-an-oid', 'abc']);
  assert.equal(gitMissing.length, absent.length);
  assert.deepEqual(await missingObjects(path.join(tmp, 'nowhere.git'), [present[0]!]), [present[0]]);
});

test('missingObjects ignores an .idx whose .pack is gone (as git does)', async () => {
  const gitdir = repo({ commits: 3, files: 3 });
  const [pack] = packFiles(gitdir);
  const oid = gitSync(gitdir, ['rev-parse', 'main']).toString().trim();
  assert.deepEqual(await missingObjects(gitdir, [oid]), []);
  fs.renameSync(pack!, `${pack}.aside`);
  assert.deepEqual(await missingObjects(gitdir, [oid]), [oid]);
  assert.throws(() => gitSync(gitdir, ['cat-file', '-e', oid], undefined));
});
