import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import express from 'express';
import type { AddressInfo } from 'node:net';
import { verifyPush, WebhookError } from '../src/http/webhook/push.js';
import { webhookKey as repoKey } from '../src/upstream/upstream.js';
import { webhookRouter } from '../src/http/webhook/app.js';

const SECRET = 's3cret';
const body = Buffer.from(JSON.stringify({ ref: 'refs/heads/main', repository: { clone_url: 'https://git.example.org/ops/config.git', ssh_url: 'git@git.example.org:ops/config.git' } }));
const sig = (b: Buffer, secret = SECRET) => createHmac('sha256', secret).update(b).digest('hex');

test('GitHub, Gitea/Forgejo and GitLab pushes verify; the push names repository URLs and branch', () => {
  const gh = verifyPush({ 'x-hub-signature-256': `sha256=${sig(body)}`, 'x-github-event': 'push' }, body, SECRET);
  assert.deepEqual(gh, { forge: 'github', urls: ['https://git.example.org/ops/config.git', 'git@git.example.org:ops/config.git'], branch: 'main' });
  assert.equal(verifyPush({ 'x-gitea-signature': sig(body), 'x-gitea-event': 'push' }, body, SECRET).forge, 'gitea');
  assert.equal(verifyPush({ 'x-forgejo-signature': sig(body) }, body, SECRET).forge, 'gitea');
  const gl = Buffer.from(JSON.stringify({ ref: 'refs/heads/canary', project: { git_http_url: 'https://gitlab.example.org/a/b.git' } }));
  assert.deepEqual(verifyPush({ 'x-gitlab-token': SECRET, 'x-gitlab-event': 'Push Hook' }, gl, SECRET), { forge: 'gitlab', urls: ['https://gitlab.example.org/a/b.git'], branch: 'canary' });
});

test('refusals: unsigned, wrong signature, wrong token, no secret configured (401); not a push or a tag (ignored); not JSON (400)', () => {
  const kind = (f: () => unknown) => {
    try {
      f();
    } catch (e) {
      return { UNAUTHORIZED: 'unauthorized', BAD_REQUEST: 'bad-request', WEBHOOK_IGNORED: 'ignored' }[(e as WebhookError).code];
    }
    return 'accepted';
  };
  assert.equal(kind(() => verifyPush({}, body, SECRET)), 'unauthorized');
  assert.equal(kind(() => verifyPush({ 'x-hub-signature-256': `sha256=${sig(body, 'other')}` }, body, SECRET)), 'unauthorized');
  assert.equal(kind(() => verifyPush({ 'x-hub-signature-256': `sha256=${sig(body)}` }, Buffer.concat([body, Buffer.from(' ')]), SECRET)), 'unauthorized', 'a changed body');
  assert.equal(kind(() => verifyPush({ 'x-gitlab-token': 'nope' }, body, SECRET)), 'unauthorized');
  assert.equal(kind(() => verifyPush({ 'x-hub-signature-256': `sha256=${sig(body, '')}` }, body, '')), 'unauthorized');
  assert.equal(kind(() => verifyPush({ 'x-hub-signature-256': `sha256=${sig(body)}`, 'x-github-event': 'issues' }, body, SECRET)), 'ignored');
  const tag = Buffer.from(JSON.stringify({ ref: 'refs/tags/v1', repository: { clone_url: 'https://x/y' } }));
  assert.equal(kind(() => verifyPush({ 'x-hub-signature-256': `sha256=${sig(tag)}` }, tag, SECRET)), 'ignored');
  const junk = Buffer.from('ref=main');
  assert.equal(kind(() => verifyPush({ 'x-hub-signature-256': `sha256=${sig(junk)}` }, junk, SECRET)), 'bad-request');
});

test('repoKey: the same repository however it is written', () => {
  const k = repoKey('https://git.example.org/ops/config');
  for (const u of ['https://git.example.org/ops/config.git', 'http://Git.Example.org/ops/config/', 'ssh://git@git.example.org/ops/config.git', 'git@git.example.org:ops/config.git', 'https://user:pw@git.example.org:443/ops/config.git']) assert.equal(repoKey(u), k, u);
  assert.notEqual(repoKey('https://git.example.org/ops/other'), k);
});

test('POST /hook over real HTTP: 401 for a bad signature (logged), 202 with the services pulled', async () => {
  const logs: unknown[] = [];
  const pulled: [readonly string[], string][] = [];
  const app = express().use(webhookRouter({ pullPushed: (urls, branch) => (pulled.push([urls, branch]), ['grafana-server']), secret: async () => SECRET, log: (e) => logs.push(e) }));
  const server = app.listen(0, '127.0.0.1');
  await new Promise((r) => server.once('listening', r));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`;
  try {
    const bad = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', 'x-hub-signature-256': 'sha256=00' }, body });
    assert.equal(bad.status, 401);
    assert.equal(((await bad.json()) as { error: { code: string } }).error.code, 'UNAUTHORIZED');
    assert.equal(pulled.length, 0);
    const ok = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', 'x-hub-signature-256': `sha256=${sig(body)}`, 'x-github-event': 'push' }, body });
    assert.equal(ok.status, 202);
    assert.deepEqual(await ok.json(), { accepted: true, services: ['grafana-server'] });
    assert.equal(pulled[0]![1], 'main');
    assert.deepEqual(logs.map((l) => (l as { status: number }).status), [401, 202]);
  } finally {
    server.close();
  }
});
