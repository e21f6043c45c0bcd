/**
 * The protocol-v2 client (src/adapters/git/transport/v2/) against scripted answers (a fake
 * `HttpClient`: pure parsing logic; the real servers are in test/git-partial-*.test.ts), and the
 * pack writer (src/adapters/git/partial/pack-writer.ts) on a real directory.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync } from 'node:fs';
import path from 'node:path';
import type { GitHttpRequest, GitHttpResponse, HttpClient } from 'isomorphic-git';
import { V2Client } from '../src/adapters/git/transport/v2/client.js';
import { GitProtocolError } from '../src/adapters/git/transport/v2/errors.js';
import { FLUSH_PKT, DELIM_PKT, pkt } from '../src/adapters/git/transport/v2/pkt.js';
import { PackWriter } from '../src/adapters/git/partial/pack-writer.js';
import { removeDirs, tmpDir } from './rig/repo.js';

const V2_ADVERT = Buffer.concat([pkt('version 2\n'), pkt('agent=git/2.39\n'), pkt('ls-refs=unborn\n'), pkt('fetch=shallow wait-for-done filter\n'), pkt('object-format=sha1\n'), FLUSH_PKT]);
const OID = 'a'.repeat(40);

/** A fake plugin answering GETs with `advert` and POSTs with `answers` in turn (chunks split at `split` bytes), recording requests. */
function fake(advert: Buffer, answers: Buffer[] = [], split = 7): HttpClient & { seen: { req: GitHttpRequest; body: Buffer }[] } {
  const seen: { req: GitHttpRequest; body: Buffer }[] = [];
  return {
    seen,
    request: async (req: GitHttpRequest): Promise<GitHttpResponse> => {
      const chunks: Buffer[] = [];
      for await (const c of (req.body ?? []) as Iterable<Uint8Array>) chunks.push(Buffer.from(c));
      seen.push({ req, body: Buffer.concat(chunks) });
      const all = req.method === 'POST' ? answers.shift()! : advert;
      async function* body() {
        for (let i = 0; i < all.length; i += split) yield all.subarray(i, i + split);
      }
      return { url: req.url, method: req.method ?? 'GET', statusCode: 200, statusMessage: 'OK', headers: {}, body: body() };
    },
  };
}

const client = (http: HttpClient) => new V2Client({ http, url: 'http://h.invalid/r.git', upstream: 'https://u:pw@h.invalid/r.git' });
const band = (n: number, data: Buffer | string) => pkt(Buffer.concat([Buffer.from([n]), Buffer.from(data)]));

test('capabilities: a v2 advertisement (with or without the # service preamble) is parsed; a v0/v1 one is "not v2"', async () => {
  const caps = await client(fake(V2_ADVERT)).capabilities();
  assert.equal(caps?.caps.get('fetch'), 'shallow wait-for-done filter');
  const preamble = Buffer.concat([pkt('# service=git-upload-pack\n'), FLUSH_PKT, V2_ADVERT]);
  assert.equal((await client(fake(preamble)).capabilities())?.caps.has('ls-refs'), true);
  const v0 = Buffer.concat([pkt('# service=git-upload-pack\n'), FLUSH_PKT, pkt(`${OID} refs/heads/main\0multi_ack side-band-64k\n`), FLUSH_PKT]);
  assert.equal(await client(fake(v0)).capabilities(), undefined);
  const seen = fake(V2_ADVERT);
  await client(seen).capabilities();
  assert.equal(seen.seen[0]!.req.headers!['Git-Protocol'], 'version=2');
  assert.equal(seen.seen[0]!.req.url, 'http://h.invalid/r.git/info/refs?service=git-upload-pack');
});

test('an answer that is not pkt-lines (a proxy\'s page) is a GitProtocolError naming the masked upstream', async () => {
  const err = await client(fake(Buffer.from('<html>Bad gateway</html>'))).capabilities().then(() => undefined, (e: unknown) => e);
  assert.ok(err instanceof GitProtocolError);
  assert.match(err.message, /^https:\/\/\*\*\*@h\.invalid\/r\.git: not a git answer: not a pkt-line/);
});

test('fetch: the request is command=fetch, capabilities, delim, ofs-delta, no-progress, filter, wants, haves, done, flush; sections are skipped, band 1 goes to the sink, band 2 is ignored', async () => {
  const answer = Buffer.concat([pkt('shallow-info\n'), pkt(`unshallow ${OID}\n`), DELIM_PKT, pkt('packfile\n'), band(2, 'Counting objects\n'), band(1, 'PACK'), band(1, 'rest'), FLUSH_PKT]);
  const http = fake(V2_ADVERT, [answer]);
  const c = client(http);
  await c.capabilities();
  const got: Buffer[] = [];
  const bytes = await c.fetch({ wants: [OID], haves: ['b'.repeat(40)], filter: 'blob:none' }, async (b) => void got.push(Buffer.from(b)));
  assert.equal(bytes, 8);
  assert.equal(Buffer.concat(got).toString(), 'PACKrest');
  const post = http.seen[1]!;
  assert.equal(post.req.method, 'POST');
  assert.equal(post.req.url, 'http://h.invalid/r.git/git-upload-pack');
  assert.equal(post.req.headers!['Content-Type'], 'application/x-git-upload-pack-request');
  assert.equal(post.req.headers!['Git-Protocol'], 'version=2');
  const expected = Buffer.concat(['command=fetch\n', 'object-format=sha1\n'].map((l) => pkt(l)).concat([DELIM_PKT], ['ofs-delta\n', 'no-progress\n', 'filter blob:none\n', `want ${OID}\n`, `have ${'b'.repeat(40)}\n`, 'done\n'].map((l) => pkt(l)), [FLUSH_PKT]));
  assert.equal(post.body.toString(), expected.toString());
});

test('fetch: a side-band error (band 3), an ERR line, or an answer cut inside the pack throw clear errors', async () => {
  const run = async (answer: Buffer) => {
    const c = client(fake(V2_ADVERT, [answer]));
    await c.capabilities();
    return c.fetch({ wants: [OID] }, async () => {}).then(() => undefined, (e: unknown) => e as Error);
  };
  const e3 = await run(Buffer.concat([pkt('packfile\n'), band(1, 'PACK'), band(3, 'upload-pack: not our ref aaaa\n'), FLUSH_PKT]));
  assert.ok(e3 instanceof GitProtocolError);
  assert.match(e3.message, /the server failed: upload-pack: not our ref aaaa \(POST git-upload-pack \(fetch\)\)$/);
  const err = await run(pkt('ERR upload-pack: not our ref ' + OID + '\n'));
  assert.match(String(err?.message), /the server refused: upload-pack: not our ref a{40}/);
  const cut = await run(Buffer.concat([pkt('packfile\n'), band(1, 'PACK')]));
  assert.match(String(cut?.message), /the answer ended inside the pack/);
  const noPack = await run(Buffer.concat([pkt('acknowledgments\n'), pkt('NAK\n'), FLUSH_PKT]));
  assert.match(String(noPack?.message), /without a pack/);
});

test('fetch with a filter the server did not advertise is refused before any request', async () => {
  const http = fake(Buffer.concat([pkt('version 2\n'), pkt('fetch=shallow\n'), FLUSH_PKT]));
  const c = client(http);
  await c.capabilities();
  await assert.rejects(c.fetch({ wants: [OID], filter: 'blob:none' }, async () => {}), /cannot filter/);
  assert.equal(http.seen.length, 1);
});

let tmp = '';
before(async () => {
  tmp = await tmpDir('git-partial-pack');
});
after(async () => {
  if (tmp) await removeDirs(tmp);
});

/** A pack of `count` objects (header only + trailer when 0). */
function pack(body: Buffer, count: number): Buffer {
  const head = Buffer.alloc(12);
  head.write('PACK', 0, 'latin1');
  head.writeUInt32BE(2, 4);
  head.writeUInt32BE(count, 8);
  const all = Buffer.concat([head, body]);
  return Buffer.concat([all, createHash('sha1').update(all).digest()]);
}

test('pack writer: an empty pack is checked and dropped; a corrupt or truncated one is refused; nothing is left behind', async () => {
  const gitdir = path.join(tmp, 'store');
  const w = await PackWriter.open(gitdir);
  const empty = pack(Buffer.alloc(0), 0);
  for (let i = 0; i < empty.length; i += 5) await w.write(empty.subarray(i, i + 5));
  assert.deepEqual(await w.finish(''), { name: undefined, oids: [], bytes: 32 });
  const bad = Buffer.from(empty);
  bad[bad.length - 1]! ^= 1;
  const w2 = await PackWriter.open(gitdir);
  await w2.write(bad);
  await assert.rejects(w2.finish(''), /corrupt pack/);
  const w3 = await PackWriter.open(gitdir);
  await w3.write(empty.subarray(0, 20));
  await assert.rejects(w3.finish(''), /corrupt pack|no valid pack/);
  const w4 = await PackWriter.open(gitdir);
  await w4.write(Buffer.from('<html>'));
  await assert.rejects(w4.finish(''), /no valid pack/);
  assert.deepEqual(readdirSync(path.join(gitdir, 'objects', 'pack')), []);
  assert.equal(existsSync(path.join(gitdir, 'HEAD')), false);
});

test('pack writer: the temporary directory of a process that died is removed; a live one\'s is kept', async () => {
  const gitdir = path.join(tmp, 'stale');
  const packDir = path.join(gitdir, 'objects', 'pack');
  const dead = spawnSync(process.execPath, ['-e', '0']).pid!; // exited: its pid runs no more (unless reused at once)
  mkdirSync(path.join(packDir, `.incoming-${dead}-1`), { recursive: true });
  mkdirSync(path.join(packDir, `.incoming-${process.ppid}-1`), { recursive: true });
  const w = await PackWriter.open(gitdir);
  const left = readdirSync(packDir).sort();
  await w.abort();
  assert.ok(!left.includes(`.incoming-${dead}-1`), left.join(' '));
  assert.ok(left.includes(`.incoming-${process.ppid}-1`), 'a running process keeps its directory');
});
