/**
 * Local upstreams (an absolute path, `file:///path`) through isomorphic-git's `http` plugin over
 * `git upload-pack` (src/adapters/git/transport/pipe.ts), on real parts: bare repositories in temp dirs made
 * by test/rig/config-repo.ts (the generated gitopper-config history), checked with the git CLI. Also the
 * transport's pure parts: upstream parsing, store names, remote quoting and the ssh command line. Needs neither root nor a namespace.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { mkdir, readFile, readlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { IsoGit } from '../src/adapters/git/iso-git.js';
import {
  GitTransportError, PipeTransport, TRANSPORT_CHANNEL, openPipe, sqQuote, uploadPackCommand,
  type TransportEvent,
} from '../src/adapters/git/transport/pipe.js';
import { UpstreamError, normalizeUpstream, parseUpstream, storeName } from '../src/upstream/upstream.js';
import { checkUpstream } from '../src/config/validate.js';
import type { CheckoutRef, SourceRef } from '../src/ports/git.js';
import { git, removeDirs, tmpDir, WorkClone } from './rig/repo.js';
import { CONFIG_REPO_COMMITS, makeConfigRepo } from './rig/config-repo.js';
import { filesOf } from './adapters/tree.js';
import { commitsOf, lsTree, packs } from './adapters/git-helpers.js';

const LINKS = ['grafana/etc', 'grafana/dashboards'];

let tmp = '';
let seq = 0;
before(async () => {
  tmp = await tmpDir('adapter-git-local');
});
after(async () => {
  await removeDirs(tmp);
});

/** A fresh bare upstream (the gitopper-config history), a clone to change it, an IsoGit with its own state dir. */
async function fixture() {
  const name = `up${++seq}`;
  const bare = path.join(tmp, `${name}.git`);
  const head = await makeConfigRepo(bare);
  const work = await WorkClone.open(bare, path.join(tmp, `${name}-work`));
  const g = new IsoGit(path.join(tmp, `${name}-state`), undefined, { partialClone: false }); // the whole-history path
  const src: SourceRef = { upstream: bare, branch: 'main', tokenFile: undefined };
  const co = (dir: string, s: SourceRef = src): CheckoutRef => ({ ...s, dir: path.join(tmp, `${name}-${dir}`), links: LINKS });
  return { name, bare, head, work, g, src, co };
}

/** Transport events published while `fn` runs. */
async function recording<T>(fn: () => Promise<T>): Promise<{ value: T; spawns: number; requests: string[] }> {
  const seen: TransportEvent[] = [];
  const on = (m: unknown) => seen.push(m as TransportEvent);
  subscribe(TRANSPORT_CHANNEL, on);
  try {
    const value = await fn();
    return { value, spawns: seen.filter((e) => e.event === 'spawn').length, requests: seen.flatMap((e) => (e.event === 'request' ? [`${e.method} ${e.service}`] : [])) };
  } finally {
    unsubscribe(TRANSPORT_CHANNEL, on);
  }
}

/** Child processes of this test process that are still there (zombies included): `pid comm state`. */
function children(): string[] {
  const out: string[] = [];
  for (const pid of readdirSync('/proc').filter((n) => /^\d+$/.test(n))) {
    let stat: string;
    try {
      stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    } catch {
      continue;
    }
    const m = /^\d+ \((.*)\) (\S) (\d+)/.exec(stat);
    if (m && Number(m[3]) === process.pid) out.push(`${pid} ${m[1]} ${m[2]}`);
  }
  return out;
}

/** What an idle fetch must not change: pack and loose object files, refs. */
async function storeState(store: string): Promise<string> {
  const objects = (await git(['--git-dir', store, 'count-objects', '-v'])).replace(/^size.*$/gm, '');
  const files = readdirSync(path.join(store, 'objects', 'pack')).sort().join(' ');
  return `${objects}\n${files}\n${await git(['--git-dir', store, 'for-each-ref'])}`;
}

test('local path and file:// upstreams: full history into one shared store, one process and two requests per fetch, an idle fetch moves nothing', async (t) => {
  const { bare, head, work, g, src } = await fixture();
  const viaUrl: SourceRef = { ...src, upstream: `file://${bare}/` };
  assert.equal(g.storeOf(src.upstream), g.storeOf(viaUrl.upstream), 'the path and the file:// URL share one store');
  const store = g.storeOf(src.upstream);
  assert.match(path.basename(store), /^local_tmp_.*up\d+-[0-9a-f]{12}\.git$/, 'a readable slug');

  const first = await recording(() => g.fetch(src));
  assert.equal(first.value, head);
  assert.deepEqual(await commitsOf(store, head), await commitsOf(bare, 'main'), 'full history, not shallow');
  assert.equal((await commitsOf(store, head)).length, CONFIG_REPO_COMMITS);
  await git(['--git-dir', store, 'fsck', '--no-dangling']);
  assert.equal(first.spawns, 1, 'one git upload-pack per fetch');
  assert.deepEqual(first.requests, ['GET info/refs', 'POST git-upload-pack']);

  for (const s of [src, viaUrl]) {
    const before = await storeState(store);
    const t0 = performance.now();
    const idle = await recording(() => g.fetch(s));
    const ms = performance.now() - t0;
    assert.equal(idle.value, head);
    assert.equal(await storeState(store), before, `an idle fetch of ${s.upstream} adds no pack, no object, moves no ref`);
    t.diagnostic(`idle fetch of ${s.upstream.startsWith('file:') ? 'file://' : 'a path'}: ${idle.requests.length} requests (${idle.requests.join(', ')}), ${idle.spawns} process, ${ms.toFixed(0)} ms`);
    assert.equal(idle.spawns, 1);
    assert.equal(idle.requests.length, 2);
  }
  assert.deepEqual(children(), [], 'no process left behind');

  await work.write('grafana/etc/grafana.ini', 'changed\n');
  const c1 = await work.commit('change');
  await work.push();
  assert.equal(await g.fetch(viaUrl), c1);
  assert.equal(await packs(store), 2, 'the change came as one more pack');
  assert.equal((await commitsOf(store, c1)).length, 25);
  assert.ok(readFileSync(path.join(store, 'config'), 'utf8').includes(`url = ${bare}`), 'the plain upstream in the store config');
});

test('local upstream: sparse checkout of the links, changedPaths agrees with the git CLI', async () => {
  const { bare, head, work, g, src, co } = await fixture();
  const c = co('co');
  const tip = await g.fetch(src);
  await g.prepare(c, undefined);
  assert.equal(await readlink(path.join(c.dir, '.git', 'objects')), path.join(g.storeOf(src.upstream), 'objects'));
  await g.checkout(c, await g.deployed(c), tip, undefined);
  assert.equal(await g.deployed(c), head);
  assert.deepEqual(await filesOf(c.dir), await lsTree(bare, head, LINKS));
  assert.deepEqual(await filesOf(c.dir), ['grafana/dashboards/dash.json', 'grafana/etc/grafana.ini']);

  await work.write('grafana/etc/grafana.ini', '[server]\nhttp_port = 3001\n');
  await work.write('grafana/dashboards/new.json', '{}\n');
  await work.remove('grafana/dashboards/dash.json');
  await work.write('crapdir/crap.md', 'outside the links\n');
  const c1 = await work.commit('c1');
  await work.push();
  assert.equal(await g.fetch(src), c1);
  const cli = (await git(['diff', '--name-only', head, c1, '--', ...LINKS], { cwd: bare })).split('\n').filter(Boolean).sort();
  assert.deepEqual((await g.changedPaths(c, head, c1)).sort(), cli);
  assert.deepEqual(cli, ['grafana/dashboards/dash.json', 'grafana/dashboards/new.json', 'grafana/etc/grafana.ini']);
  await g.checkout(c, await g.deployed(c), c1, undefined);
  assert.deepEqual(await filesOf(c.dir), await lsTree(bare, c1, LINKS));
  assert.equal(await readFile(path.join(c.dir, 'grafana/etc/grafana.ini'), 'utf8'), '[server]\nhttp_port = 3001\n');
  assert.equal(existsSync(path.join(c.dir, 'crapdir')), false);
  assert.equal(await g.findInHistory(src, c1, head.slice(0, 8)), head, 'rollback targets are found in the local store');
});

test('local upstream failures: clear messages, nothing fetched, no process left behind', async () => {
  const { g, src } = await fixture();
  const missing = path.join(tmp, 'nothere.git');
  await assert.rejects(g.fetch({ ...src, upstream: missing }), (err: unknown) => err instanceof GitTransportError && /local repository .*nothere\.git: .*cannot be read \(ENOENT\)/.test(err.message));
  const notRepo = path.join(tmp, 'not-a-repo');
  await mkdir(notRepo);
  await writeFile(path.join(notRepo, 'x'), 'x');
  await assert.rejects(g.fetch({ ...src, upstream: notRepo }), /no git repository at .*not-a-repo/);
  await assert.rejects(g.fetch({ ...src, branch: 'nope' }), /nope/);
  const empty = path.join(tmp, 'empty.git');
  await git(['init', '--quiet', '--bare', empty]);
  const r = await recording(() => assert.rejects(g.fetch({ ...src, upstream: empty }), /branch "main" not found upstream/));
  assert.deepEqual(r.requests, ['GET info/refs'], 'an empty repository: the session ends after the advertisement');
  assert.equal(await packs(g.storeOf(empty)), 0);
  await assert.rejects(g.fetch({ ...src, tokenFile: '/etc/token' }), (err: unknown) => err instanceof UpstreamError && /token_file applies to https upstreams only/.test(err.message));
  assert.deepEqual(children(), [], 'every upload-pack has exited');
});

test('a repository owned by another user: the refusal of git is passed on with what to do', { skip: process.getuid?.() === 0 ? false : 'needs root to chown the repository' }, async () => {
  const { bare, g, src } = await fixture();
  await new Promise<void>((resolve, reject) => execFile('chown', ['-R', 'nobody', bare], (err) => (err ? reject(err) : resolve())));
  await assert.rejects(g.fetch(src), /git refuses .* because another user owns it \("dubious ownership"\): fix its owner, or mark it safe for the agent's user with git config --global --add safe\.directory /);
  assert.deepEqual(children(), []);
});

test('PipeTransport.close hangs up a session that got no POST, and refuses pushes', async () => {
  const { bare } = await fixture();
  const pipe = openPipe({ upstream: bare })!;
  assert.ok(pipe instanceof PipeTransport);
  const res = await pipe.request({ url: `${pipe.url}/info/refs?service=git-upload-pack`, method: 'GET' });
  assert.equal(res.statusCode, 200);
  assert.equal(res.headers['content-type'], 'application/x-git-upload-pack-advertisement');
  const chunks: Buffer[] = [];
  for await (const c of res.body) chunks.push(Buffer.from(c));
  const text = Buffer.concat(chunks).toString('latin1');
  assert.ok(text.startsWith('001e# service=git-upload-pack\n0000'), 'the smart-HTTP service header and flush');
  assert.ok(text.endsWith('0000'), 'the advertisement ends with its flush');
  assert.match(text, /refs\/heads\/main/);
  assert.equal(children().length, 1, 'the session waits for the POST');
  await pipe.close();
  assert.deepEqual(children(), [], 'closed');
  await assert.rejects(pipe.request({ url: `${pipe.url}/info/refs?service=git-receive-pack`, method: 'GET' }), /git-receive-pack is not supported: this agent only fetches/);
  assert.equal(openPipe({ upstream: 'https://example.org/r.git' }), undefined, 'https stays with isomorphic-git\'s own client');
});

test('parseUpstream: every form, normalised; hostile and unsupported forms refused', () => {
  assert.deepEqual(parseUpstream('ssh://git@example.org:2222/ops/config.git'), { kind: 'ssh', user: 'git', host: 'example.org', port: 2222, path: '/ops/config.git' });
  assert.deepEqual(parseUpstream('git@example.org:ops/config.git'), { kind: 'ssh', user: 'git', host: 'example.org', port: undefined, path: 'ops/config.git' });
  assert.deepEqual(parseUpstream('example.org:/srv/r.git'), { kind: 'ssh', user: undefined, host: 'example.org', port: undefined, path: '/srv/r.git' });
  assert.deepEqual(parseUpstream('ssh://example.org/~git/r.git'), { kind: 'ssh', user: undefined, host: 'example.org', port: undefined, path: '~git/r.git' });
  assert.deepEqual(parseUpstream('git+ssh://[::1]:22/r.git'), { kind: 'ssh', user: undefined, host: '::1', port: 22, path: '/r.git' });
  assert.deepEqual(parseUpstream('ssh://h/with%20space.git'), { kind: 'ssh', user: undefined, host: 'h', port: undefined, path: '/with space.git' });
  assert.deepEqual(parseUpstream('/srv/git//config.git/'), { kind: 'local', path: '/srv/git/config.git' });
  assert.deepEqual(parseUpstream('file:///srv/git/config.git'), { kind: 'local', path: '/srv/git/config.git' });
  assert.deepEqual(parseUpstream('file://localhost/srv/x'), { kind: 'local', path: '/srv/x' });
  assert.deepEqual(parseUpstream('https://github.com/miekg/gitopper-config'), { kind: 'http', url: 'https://github.com/miekg/gitopper-config' });
  for (const [bad, why] of [
    ['git://example.org/r.git', /scheme git:\/\//],
    ['./repo', /relative path/],
    ['repo.git', /relative path/],
    ['file://otherhost/srv/x', /must be on this host/],
    ['ssh://user:secret@h/r.git', /password/],
    ['ssh://-oProxyCommand=touch%20x/r', /SSH host/],
    ['-oProxyCommand=x:repo', /SSH host/],
    ['-l@host:r', /SSH user/],
    ['host:', /no repository path/],
    ['/srv/a\nb', /control character/],
    ['/', /root directory/],
  ] as const) {
    assert.throws(() => parseUpstream(bad), (err: unknown) => err instanceof UpstreamError && why.test(err.message) && !err.message.includes('secret'), bad);
  }
  assert.equal(normalizeUpstream(parseUpstream('ssh://git@h/~/r.git')), normalizeUpstream(parseUpstream('ssh://git@h:22/~/r.git')));
});

test('every upstream config validation accepts is one the transport can parse, of the same kind', () => {
  const accepted = [
    'https://github.com/miekg/gitopper-config', 'http://127.0.0.1:8080/r.git', 'ssh://git@example.org/ops/config.git', 'ssh://git@example.org:2222/ops/config.git',
    'git@github.com:miekg/gitopper-config.git', 'github.com:miekg/gitopper-config', 'ssh://example.org/~git/r.git', 'git+ssh://[::1]:22/r.git',
    '/srv/git/config.git', 'file:///srv/git/config.git', 'file://localhost/srv/x', 'ssh://h/it%27s.git',
  ];
  for (const u of accepted) {
    assert.equal(checkUpstream(u), u, u);
    assert.doesNotThrow(() => parseUpstream(u), u);
  }
  for (const u of ['git://h/r', './r', 'r.git', 'ssh://-oProxyCommand=x/r', 'file://other/x', 'ssh://u:p@h/r', 'ftp://h/r', 'host:', '/']) {
    assert.notEqual(checkUpstream(u), u, `config refuses ${u}`);
    assert.throws(() => parseUpstream(u), UpstreamError, `transport refuses ${u}`);
  }
});

test('store names: readable slugs, unchanged for https, equal for equivalent forms, distinct otherwise', () => {
  // the https store name is what earlier releases computed (existing state dirs stay valid)
  const gh = 'https://github.com/miekg/gitopper-config';
  assert.equal(storeName(gh), `github.com_miekg_gitopper-config-${createHash('sha256').update(gh).digest('hex').slice(0, 12)}.git`);
  assert.match(storeName('git@git.example.org:ops/config.git'), /^git.example.org_ops_config-[0-9a-f]{12}\.git$/);
  assert.match(storeName('ssh://git@git.example.org:2222/ops/config.git'), /^git.example.org_2222_ops_config-[0-9a-f]{12}\.git$/);
  assert.match(storeName('/srv/git/config.git'), /^local_srv_git_config-[0-9a-f]{12}\.git$/);
  assert.equal(storeName('/srv/git/config.git'), storeName('file:///srv/git/config.git/'));
  assert.equal(storeName('ssh://git@h/srv/r.git'), storeName('git@h:/srv/r.git'), 'ssh:// and scp-like forms of one repository');
  assert.equal(storeName('ssh://git@h/srv/r.git'), storeName('ssh://git@h:22/srv/r.git'), 'default port');
  const distinct = ['git@h:r.git', 'git@h:/r.git', 'other@h:r.git', 'ssh://git@h:2222/r.git', '/r.git', 'https://h/r.git'].map(storeName);
  assert.equal(new Set(distinct).size, distinct.length);
});

test('sqQuote: a POSIX shell reads back exactly the path (quotes, !, $, spaces, backticks)', async () => {
  for (const s of ["/srv/it's a \"repo\"!.git", '/x/$(touch /tmp/pwned)`id`;&|<>*?', "'", '!', '/a b/c']) {
    const out = await new Promise<string>((resolve, reject) => execFile('/bin/sh', ['-c', `printf %s ${sqQuote(s)}`], (err, stdout) => (err ? reject(err) : resolve(stdout))));
    assert.equal(out, s);
  }
});

test('the ssh command line: strict host key checking always, options before "--", no shell, unsafe key paths refused', () => {
  const u = parseUpstream("ssh://git@example.org:2222/srv/it's.git");
  assert.equal(u.kind, 'ssh');
  if (u.kind !== 'ssh') return;
  const plain = uploadPackCommand(u, { upstream: 'x' });
  const keyed = uploadPackCommand(u, { upstream: 'x', sshKey: '/etc/gitopper/deploy', knownHosts: '/etc/gitopper/known_hosts' });
  for (const argv of [plain, keyed]) {
    assert.equal(argv[0], 'ssh');
    const opts = argv.slice(0, argv.indexOf('--'));
    assert.ok(opts.includes('StrictHostKeyChecking=yes') && opts.includes('BatchMode=yes') && opts.includes('IdentitiesOnly=yes'));
    assert.ok(!argv.some((a) => /StrictHostKeyChecking=(no|accept-new|off|ask)/i.test(a)), 'never relaxed');
    assert.deepEqual(argv.slice(argv.indexOf('--')), ['--', 'example.org', "git-upload-pack '/srv/it'\\''s.git'"]);
    assert.deepEqual(argv.slice(argv.indexOf('-p'), argv.indexOf('-p') + 2), ['-p', '2222']);
    assert.deepEqual(argv.slice(argv.indexOf('-l'), argv.indexOf('-l') + 2), ['-l', 'git']);
  }
  assert.ok(!plain.some((a) => a.startsWith('UserKnownHostsFile') || a === '-i'), 'without known_hosts/ssh_key: ssh defaults');
  assert.deepEqual(keyed.slice(keyed.indexOf('-i'), keyed.indexOf('-i') + 2), ['-i', '/etc/gitopper/deploy']);
  assert.ok(keyed.includes('UserKnownHostsFile=/etc/gitopper/known_hosts') && keyed.includes('GlobalKnownHostsFile=/dev/null'));
  for (const bad of ['/etc/my keys/id', '/etc/%d/id', 'relative/id', "/etc/'id"]) {
    assert.throws(() => uploadPackCommand(u, { upstream: 'x', sshKey: bad }), /ssh_key .* must be an absolute path/);
    assert.throws(() => uploadPackCommand(u, { upstream: 'x', knownHosts: bad }), /known_hosts .* must be an absolute path/);
  }
  const l = parseUpstream('/srv/-weird.git');
  assert.ok(l.kind === 'local');
  if (l.kind === 'local') assert.deepEqual(uploadPackCommand(l, { upstream: 'x' }), ['git', 'upload-pack', '--', '/srv/-weird.git']);
});
