/**
 * The object-store sweep (src/core/store-sweep.ts): its rules over a fake StoresPort, and the real
 * StoreDirectory (src/adapters/git/stores.ts) over stores that IsoGit fetched from a loopback server.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdir, utimes } from 'node:fs/promises';
import path from 'node:path';
import { IsoGit } from '../src/adapters/git/iso-git.js';
import { StoreDirectory } from '../src/adapters/git/stores.js';
import type { StoreEntry, StoresPort } from '../src/ports/git.js';
import { StoreSweeper, sweepIntervalSeconds, sweepStores } from '../src/core/store-sweep.js';
import { ManualClock } from './fakes/ports.js';
import { startGitServer, type GitServer } from './rig/git-server.js';
import { makeBare, removeDirs, tmpDir } from './rig/repo.js';

const DAY = 24 * 3600;
const NOW = new Date('2026-12-01T12:00:00Z');
const C = (n: number) => String(n).repeat(40).slice(0, 40);

/** Stores in memory: name → (last used, commits held). */
class FakeStores implements StoresPort {
  removed: string[] = [];
  failRemove = new Set<string>();
  constructor(readonly stores: Map<string, { lastUsed: Date; commits: Set<string> }>) {}
  async list(): Promise<StoreEntry[]> {
    return [...this.stores].map(([name, s]) => ({ name, lastUsed: s.lastUsed }));
  }
  nameOf(upstream: string): string {
    return `${upstream}.git`;
  }
  async contains(name: string, commit: string): Promise<boolean> {
    return this.stores.get(name)?.commits.has(commit) ?? false;
  }
  async remove(name: string): Promise<void> {
    if (this.failRemove.has(name)) throw new Error('EBUSY');
    this.stores.delete(name);
    this.removed.push(name);
  }
}

const daysAgo = (d: number) => new Date(NOW.getTime() - d * DAY * 1000);

test('a store no configured service uses is removed once unused for the retention; one in use, used lately, or holding a needed commit stays', async () => {
  const stores = new FakeStores(new Map([
    ['a.git', { lastUsed: daysAgo(30), commits: new Set([C(1)]) }], // in use (config)
    ['old.git', { lastUsed: daysAgo(30), commits: new Set([C(2)]) }], // gone from the config long ago
    ['recent.git', { lastUsed: daysAgo(1), commits: new Set() }], // gone from the config yesterday
    ['history.git', { lastUsed: daysAgo(30), commits: new Set([C(3)]) }], // holds a rollback target only it has
    ['mirror.git', { lastUsed: daysAgo(30), commits: new Set([C(1)]) }], // holds a needed commit that a used store holds too
    ['history-copy.git', { lastUsed: daysAgo(40), commits: new Set([C(3)]) }], // a second, older copy of that rollback target
    ['recent-copy.git', { lastUsed: daysAgo(2), commits: new Set([C(4)]) }], // used lately: covers C(4)
    ['old-copy.git', { lastUsed: daysAgo(50), commits: new Set([C(4)]) }], // so this older copy goes
  ]));
  const r = await sweepStores(stores, { upstreams: ['a'], commits: [C(1), C(3), C(4), ''] }, NOW, 7 * DAY);
  const gone = ['history-copy.git', 'mirror.git', 'old-copy.git', 'old.git'];
  assert.deepEqual(r.removed.map((s) => s.name).sort(), gone);
  assert.deepEqual(stores.removed.sort(), gone);
  assert.deepEqual(Object.fromEntries(r.kept.map((k) => [k.name, k.reason])), {
    'recent.git': `used ${daysAgo(1).toISOString()}`,
    'recent-copy.git': `used ${daysAgo(2).toISOString()}`,
    'history.git': `holds ${C(3).slice(0, 8)}, still needed by a service`,
  });
  assert.deepEqual([...stores.stores.keys()].sort(), ['a.git', 'history.git', 'recent-copy.git', 'recent.git']);
});

test('a removal that fails keeps that store, removes the others, and is reported as an error', async () => {
  const stores = new FakeStores(new Map([
    ['x.git', { lastUsed: daysAgo(30), commits: new Set() }],
    ['y.git', { lastUsed: daysAgo(30), commits: new Set() }],
  ]));
  stores.failRemove.add('x.git');
  await assert.rejects(sweepStores(stores, { upstreams: [], commits: [] }, NOW, DAY), /removing an unused object store: EBUSY/);
  assert.deepEqual(stores.removed, ['y.git']);
  assert.ok(stores.stores.has('x.git'));
});

test('the sweeper sweeps at once and then every min(retention, 1 h), reporting removals; errors never stop it', async () => {
  assert.equal(sweepIntervalSeconds(7 * DAY), 3600);
  assert.equal(sweepIntervalSeconds(30), 30);
  assert.equal(sweepIntervalSeconds(0), 1);
  const clock = new ManualClock();
  const stores = new FakeStores(new Map([['z.git', { lastUsed: new Date(0), commits: new Set() }]]));
  let lists = 0;
  const list = stores.list.bind(stores);
  stores.list = async () => (++lists === 1 ? Promise.reject(new Error('EIO')) : list());
  const swept: string[][] = [];
  const errors: string[] = [];
  const sweeper = new StoreSweeper(stores, () => ({ upstreams: [], commits: [] }), clock, 60, (r) => swept.push(r.removed.map((s) => s.name)), (e) => errors.push((e as Error).message));
  const abort = new AbortController();
  const running = sweeper.run(abort.signal);
  await new Promise((r) => setTimeout(r, 10));
  assert.deepEqual(errors, ['EIO']);
  assert.deepEqual(swept, []);
  clock.tick();
  await new Promise((r) => setTimeout(r, 10));
  assert.deepEqual(swept, [['z.git']]);
  abort.abort();
  await running;
});

let tmp = '';
let server: GitServer;
before(async () => {
  tmp = await tmpDir('store-sweep');
  await mkdir(path.join(tmp, 'git'));
  await makeBare(path.join(tmp, 'git', 'one.git'), { 'etc/a': '1\n' });
  await makeBare(path.join(tmp, 'git', 'two.git'), { 'etc/b': '2\n' });
  server = await startGitServer({ root: path.join(tmp, 'git') });
});
after(async () => {
  await server?.close();
  await removeDirs(tmp);
});

test('StoreDirectory: lists the stores with when a fetch last used them, finds commits, removes a store and its compaction copy', async () => {
  const state = path.join(tmp, 'state');
  const g = new IsoGit(state);
  const dir = new StoreDirectory(state, g);
  assert.deepEqual(await dir.list(), [], 'no upstreams dir yet');
  const one = server.url('one.git');
  const two = server.url('two.git');
  const tipOne = await g.fetch({ upstream: one, branch: 'main', tokenFile: undefined });
  const tipTwo = await g.fetch({ upstream: two, branch: 'main', tokenFile: undefined });
  const old = new Date('2026-01-01T00:00:00Z');
  await utimes(path.join(g.storeOf(one), 'gitopper-used'), old, old);
  const listed = new Map((await dir.list()).map((s) => [s.name, s.lastUsed.getTime()]));
  assert.deepEqual([...listed.keys()].sort(), [dir.nameOf(one), dir.nameOf(two)].sort());
  assert.equal(listed.get(dir.nameOf(one)), old.getTime());
  assert.ok(Date.now() - listed.get(dir.nameOf(two))! < 60_000, 'a fetch marks the store used');
  assert.equal(await dir.contains(dir.nameOf(one), tipOne), true);
  assert.equal(await dir.contains(dir.nameOf(one), tipTwo), false);
  await mkdir(`${g.storeOf(one)}.compact`);
  await dir.remove(dir.nameOf(one));
  assert.equal(existsSync(g.storeOf(one)), false);
  assert.equal(existsSync(`${g.storeOf(one)}.compact`), false);
  assert.deepEqual((await dir.list()).map((s) => s.name), [dir.nameOf(two)]);
  for (const bad of ['..', '../x.git', '.git', 'x']) await assert.rejects(dir.remove(bad), /not a store name/);
  // a fetch after the removal makes the store again
  assert.equal(await g.fetch({ upstream: one, branch: 'main', tokenFile: undefined }), tipOne);
});
