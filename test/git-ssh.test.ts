/**
 * SSH upstreams through isomorphic-git's `http` plugin over `ssh … git-upload-pack` (src/adapters/git/transport/pipe.ts),
 * against a REAL OpenSSH server started here on 127.0.0.1 (test/rig/sshd.ts: own host key, own sshd_config,
 * a generated deploy key), with the gitopper-config history in a bare repository. Runs as root in the test
 * run's private mount namespace (sshd needs root); skips with the sandbox reason elsewhere.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { chmod, copyFile, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { IsoGit } from '../src/adapters/git/iso-git.js';
import { GitTransportError, TRANSPORT_CHANNEL, type TransportEvent } from '../src/adapters/git/transport/pipe.js';
import type { CheckoutRef, SourceRef } from '../src/ports/git.js';
import { git, removeDirs, tmpDir, WorkClone } from './rig/repo.js';
import { CONFIG_REPO_COMMITS, makeConfigRepo } from './rig/config-repo.js';
import { noSshd, startSshd, type Sshd } from './rig/sshd.js';
import { canRunSandbox } from './rig/systemd.js';
import { filesContaining, filesOf } from './adapters/tree.js';
import { commitsOf, lsTree, packs } from './adapters/git-helpers.js';

const sandbox = canRunSandbox();
const skip = !sandbox.ok ? sandbox.why : noSshd();
const LINKS = ['grafana/etc', 'grafana/dashboards'];

let tmp = '';
let sshd: Sshd;
let seq = 0;

before(async () => {
  if (skip) return;
  tmp = await tmpDir('adapter-git-ssh');
  sshd = await startSshd(path.join(tmp, 'sshd'));
});
after(async () => {
  await sshd?.close();
  if (tmp) await removeDirs(tmp);
});

/** A fresh bare upstream served over ssh://, a clone to change it, an IsoGit with its own state dir. */
async function fixture(repoName?: string) {
  const name = `up${++seq}`;
  const bare = path.join(tmp, repoName ?? `${name}.git`);
  const head = await makeConfigRepo(bare);
  const work = await WorkClone.open(bare, path.join(tmp, `${name}-work`));
  const g = new IsoGit(path.join(tmp, `${name}-state`), undefined, { partialClone: false }); // the whole-history path
  const src: SourceRef = { upstream: sshd.url(bare), branch: 'main', tokenFile: undefined, sshKey: sshd.deployKey, knownHosts: sshd.knownHosts };
  const co = (dir: string): CheckoutRef => ({ ...src, dir: path.join(tmp, `${name}-${dir}`), links: LINKS });
  return { name, bare, head, work, g, src, co };
}

/** Transport events and sshd connections while `fn` runs. */
async function recording<T>(fn: () => Promise<T>): Promise<{ value: T; spawns: number; requests: string[]; connections: number; logins: number; ms: number }> {
  const seen: TransportEvent[] = [];
  const on = (m: unknown) => seen.push(m as TransportEvent);
  const c0 = sshd.connections();
  const a0 = sshd.accepted();
  const t0 = performance.now();
  subscribe(TRANSPORT_CHANNEL, on);
  try {
    const value = await fn();
    const ms = performance.now() - t0;
    return {
      value,
      ms,
      spawns: seen.filter((e) => e.event === 'spawn').length,
      requests: seen.flatMap((e) => (e.event === 'request' ? [`${e.method} ${e.service}`] : [])),
      connections: sshd.connections() - c0,
      logins: sshd.accepted() - a0,
    };
  } finally {
    unsubscribe(TRANSPORT_CHANNEL, on);
  }
}

/** Pack files, loose objects and refs of a store: what an idle fetch must not change. */
async function storeState(store: string): Promise<string> {
  const objects = (await git(['--git-dir', store, 'count-objects', '-v'])).replace(/^size.*$/gm, '');
  return `${objects}\n${readdirSync(path.join(store, 'objects', 'pack')).sort().join(' ')}\n${await git(['--git-dir', store, 'for-each-ref'])}`;
}

/** Child processes of this test process still there (zombies included). */
function children(): string[] {
  const out: string[] = [];
  for (const pid of readdirSync('/proc').filter((n) => /^\d+$/.test(n))) {
    try {
      const m = /^\d+ \((.*)\) (\S) (\d+)/.exec(readFileSync(`/proc/${pid}/stat`, 'utf8'));
      if (m && Number(m[3]) === process.pid && m[1] !== 'sshd') out.push(`${pid} ${m[1]} ${m[2]}`);
    } catch {
      /* gone */
    }
  }
  return out;
}

test('ssh:// with ssh_key + known_hosts: full history, sparse checkout; one connection per fetch; an idle fetch moves nothing', { skip, timeout: 60_000 }, async (t) => {
  const { bare, head, work, g, src, co } = await fixture();
  const store = g.storeOf(src.upstream);
  assert.match(path.basename(store), new RegExp(`^127\\.0\\.0\\.1_${sshd.port}_tmp_.*up\\d+-[0-9a-f]{12}\\.git$`));
  const first = await recording(() => g.fetch(src));
  assert.equal(first.value, head);
  assert.deepEqual(await commitsOf(store, head), await commitsOf(bare, 'main'), 'full history, not shallow');
  assert.equal((await commitsOf(store, head)).length, CONFIG_REPO_COMMITS);
  await git(['--git-dir', store, 'fsck', '--no-dangling']);
  assert.deepEqual([first.spawns, first.connections, first.logins], [1, 1, 1], 'one ssh process, one connection, one login');
  assert.deepEqual(first.requests, ['GET info/refs', 'POST git-upload-pack']);
  t.diagnostic(`first fetch over ssh: ${first.ms.toFixed(0)} ms`);

  const c = co('co');
  await g.prepare(c, undefined);
  await g.checkout(c, await g.deployed(c), head, undefined);
  assert.deepEqual(await filesOf(c.dir), await lsTree(bare, head, LINKS));

  const before = await storeState(store);
  const idle = await recording(() => g.fetch(src));
  assert.equal(idle.value, head);
  assert.equal(await storeState(store), before, 'an idle fetch adds no pack, no object, moves no ref');
  t.diagnostic(`idle fetch over ssh: ${idle.requests.length} requests (${idle.requests.join(', ')}), ${idle.spawns} ssh process, ${idle.connections} connection, ${idle.ms.toFixed(0)} ms`);
  assert.deepEqual([idle.spawns, idle.connections, idle.requests.length], [1, 1, 2]);
  assert.deepEqual(children(), [], 'ssh has exited');

  await work.write('grafana/etc/grafana.ini', 'over ssh\n');
  await work.write('crapdir/x', 'outside\n');
  const c1 = await work.commit('c1');
  await work.push();
  assert.equal(await g.fetch(src), c1);
  assert.equal(await packs(store), 2);
  assert.deepEqual(await g.changedPaths(c, head, c1), ['grafana/etc/grafana.ini']);
  await g.checkout(c, await g.deployed(c), c1, undefined);
  assert.equal(await readFile(path.join(c.dir, 'grafana/etc/grafana.ini'), 'utf8'), 'over ssh\n');

  const key = await readFile(sshd.deployKey, 'utf8');
  const secret = key.split('\n').filter((l) => l && !l.startsWith('-----'))[1]!;
  assert.deepEqual(await filesContaining(store, [secret]), [], 'no key material in the store');
  assert.deepEqual(await filesContaining(c.dir, [secret]), [], 'no key material in the checkout');
  const config = await readFile(path.join(store, 'config'), 'utf8');
  assert.ok(config.includes(`url = ${src.upstream}`) && !config.includes(sshd.deployKey), '.git/config holds the plain upstream only');
});

test('an unknown host key fails clearly, never logs in, fetches nothing; a changed one too', { skip, timeout: 60_000 }, async () => {
  const { g, src } = await fixture();
  const empty = path.join(tmp, 'known_hosts.empty');
  await writeFile(empty, '');
  const r = await recording(() => assert.rejects(g.fetch({ ...src, knownHosts: empty }), (err: unknown) =>
    err instanceof GitTransportError &&
    /host key verification failed: the host key of 127\.0\.0\.1 port \d+ is not in known_hosts .*known_hosts\.empty/.test(err.message) &&
    /strict host key checking is always on/.test(err.message)));
  assert.equal(r.logins, 0, 'never authenticated');
  assert.equal(await packs(g.storeOf(src.upstream)), 0, 'nothing fetched');
  assert.equal(readFileSync(empty, 'utf8'), '', 'known_hosts is never written');

  const changed = path.join(tmp, 'known_hosts.changed');
  const other = (await readFile(`${sshd.otherKey}.pub`, 'utf8')).trim().split(' ').slice(0, 2).join(' ');
  await writeFile(changed, `[127.0.0.1]:${sshd.port} ${other}\n`);
  await assert.rejects(g.fetch({ ...src, knownHosts: changed }), /host key of 127\.0\.0\.1 CHANGED/);
  assert.equal(await packs(g.storeOf(src.upstream)), 0);
  assert.deepEqual(children(), []);
});

test('a key the server does not accept fails clearly; a missing or unreadable key file is named', { skip, timeout: 60_000 }, async () => {
  const { g, src } = await fixture();
  await assert.rejects(g.fetch({ ...src, sshKey: sshd.otherKey }), (err: unknown) =>
    err instanceof GitTransportError && /the server refused the key \(.*Permission denied \(publickey\)/.test(err.message) && err.message.includes(sshd.otherKey));
  assert.equal(await packs(g.storeOf(src.upstream)), 0, 'nothing fetched');
  await assert.rejects(g.fetch({ ...src, sshKey: path.join(tmp, 'no-such-key') }), /ssh_key .*no-such-key cannot be read \(ENOENT\)/);
  const open = path.join(tmp, 'key-0644');
  await copyFile(sshd.deployKey, open);
  await chmod(open, 0o644);
  await assert.rejects(g.fetch({ ...src, sshKey: open }), /readable by others \(chmod 600 it\)/);
  await assert.rejects(g.fetch({ ...src, upstream: sshd.url(path.join(tmp, 'nothere.git')) }), /no git repository at .*nothere\.git/);
  assert.deepEqual(children(), []);
});

test('no shell on our side, git quoting on theirs: a path with quotes, !, $ and spaces is fetched, an injection is inert', { skip, timeout: 60_000 }, async () => {
  const { head, g, src } = await fixture(`it's a "repo" $HOME !x.git`);
  assert.equal(await g.fetch(src), head);
  const marker = path.join(tmp, 'pwned');
  const evil = `${tmp}/x'; touch ${marker}; echo '`;
  await assert.rejects(g.fetch({ ...src, upstream: sshd.url(evil) }), /no git repository/);
  assert.equal(existsSync(marker), false, 'the path never reached a shell unquoted');
});
