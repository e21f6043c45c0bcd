/**
 * The git adapter's per-store object caches (src/adapters/git/object-cache.ts) with the pack hook: a
 * pass holds one descriptor per pack it read, and they are closed when the cache is dropped (idle,
 * `dropAll`) or replaced by a fresh one and its last operation ends. Counted in /proc/self/fd, on a
 * repository with three packs made by the git CLI. Checkouts reach the store's packs through their
 * own `.git/objects` symlink: one pass parses and opens each pack once, whatever the path.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import git from 'isomorphic-git';
import { ObjectCaches, type Pass } from '../src/adapters/git/object-cache.js';
import { gitSync, makeHistory, openFds, packFiles } from './adapters/pack-repos.js';
import { removeDirs, tmpDir } from './rig/repo.js';

const tmp = await tmpDir('git-packs-cache');
after(() => removeDirs(tmp));

/** A repository with three packs, and one blob of each of them. */
function threePacks(): { gitdir: string; blobs: string[] } {
  const gitdir = path.join(tmp, 'r.git');
  makeHistory(gitdir, { commits: 5, files: 5 });
  const blobs = [gitSync(gitdir, ['rev-parse', 'main:dir0/file0.txt']).toString().trim()];
  for (const n of [1, 2]) {
    const oid = gitSync(gitdir, ['hash-object', '-w', '--stdin'], `pack ${n}\n`).toString().trim();
    gitSync(gitdir, ['pack-objects', '-q', 'objects/pack/pack'], `${oid}\n`);
    blobs.push(oid);
  }
  gitSync(gitdir, ['prune-packed']);
  assert.equal(packFiles(gitdir).length, 3);
  return { gitdir, blobs };
}

const { gitdir, blobs } = threePacks();
const readAll = async (pass: Pass) => {
  for (const oid of blobs) await git.readBlob({ fs, gitdir, oid, cache: pass.cache });
};

/** Wait (bounded) until `cond` holds; false when it never did. */
async function eventually(cond: () => boolean, ms = 10_000): Promise<boolean> {
  for (const end = Date.now() + ms; Date.now() < end; await sleep(10)) if (cond()) return true;
  return cond();
}

test('a pass keeps one descriptor per pack it read; dropAll closes them', async () => {
  const caches = new ObjectCaches(60_000);
  const before = openFds();
  await caches.with(gitdir, async (pass) => {
    await readAll(pass);
    assert.equal(openFds(), before + 3);
    await readAll(pass); // the same descriptors again
    assert.equal(openFds(), before + 3);
  });
  assert.equal(openFds(), before + 3, 'an idle cache keeps its packs open until dropped');
  await caches.with(gitdir, readAll); // reused: no new descriptors
  assert.equal(openFds(), before + 3);
  caches.dropAll();
  assert.equal(openFds(), before);
});

test('checkouts whose .git/objects link to the store share one index and descriptor per pack', async () => {
  // as iso-git.ts wires a service's checkout: a git dir of its own whose objects are the store's
  const checkouts = ['a', 'b', 'c'].map((n) => {
    const dir = path.join(tmp, `co-${n}`, '.git');
    fs.mkdirSync(dir, { recursive: true });
    fs.symlinkSync(path.join(gitdir, 'objects'), path.join(dir, 'objects'));
    return dir;
  });
  const caches = new ObjectCaches(60_000);
  const before = openFds();
  await caches.with(gitdir, async (pass) => {
    for (const co of checkouts) {
      for (const oid of blobs) {
        const { blob } = await git.readBlob({ fs, gitdir: co, oid, cache: pass.cache });
        assert.deepEqual(Buffer.from(blob), gitSync(gitdir, ['cat-file', 'blob', oid]), `${oid} through ${co}`);
      }
    }
    await readAll(pass); // and through the store's own path
    assert.equal(openFds(), before + 3, 'one descriptor per pack, not one per pack and path');
  });
  caches.dropAll();
  assert.equal(openFds(), before);
});

test('an idle cache is dropped after its delay and closes its packs', async () => {
  const caches = new ObjectCaches(20);
  const before = openFds();
  await caches.with(gitdir, readAll);
  assert.equal(openFds(), before + 3);
  assert.ok(await eventually(() => openFds() === before), `fds ${openFds()} → ${before}`);
});

test('a fresh cache replaces one in use: the old closes its packs when its last operation ends', async () => {
  const caches = new ObjectCaches(60_000);
  const before = openFds();
  let release!: () => void;
  const held = new Promise<void>((r) => (release = r));
  let oldPass: Pass | undefined;
  const running = caches.with(gitdir, async (pass) => {
    oldPass = pass;
    await readAll(pass);
    await held;
  });
  await eventually(() => openFds() === before + 3);
  await caches.with(gitdir, async (pass) => {
    assert.notEqual(pass, oldPass);
    await readAll(pass);
  }, true);
  assert.equal(openFds(), before + 6, 'both generations open while the old one is in use');
  release();
  await running;
  assert.equal(openFds(), before + 3, 'the replaced cache closed its packs');
  caches.dropAll();
  assert.equal(openFds(), before);
});

test('dropAll while in use: closed when the operation ends; reads after the drop still work', async () => {
  const caches = new ObjectCaches(60_000);
  const before = openFds();
  await caches.with(gitdir, async (pass) => {
    await readAll(pass);
    caches.dropAll();
    assert.equal(openFds(), before + 3);
    await readAll(pass);
  });
  assert.equal(openFds(), before);
});
