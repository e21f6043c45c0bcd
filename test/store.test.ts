import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { FileStateStore } from '../src/adapters/state/state-file.js';
import type { PersistedState } from '../src/ports/state-store.js';

const sample: PersistedState = {
  version: 1,
  services: { grafana: { state: 'FREEZE', info: 'maintenance', since: '2024-01-01T00:00:00.000Z', commit: 'a'.repeat(40), frozen: { by: 'local', at: '2024-01-01T00:00:00.000Z', reason: 'maintenance' }, history: [] } },
};

test('save then load round-trips, atomically, mode 0600, no temp file left', async () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'store-'));
  const store = new FileStateStore(path.join(dir, 'state.json'));
  assert.equal(await store.load(), undefined, 'no file yet');
  await store.save(sample);
  assert.deepEqual(await store.load(), sample);
  assert.deepEqual(readdirSync(dir), ['state.json']);
  const { statSync } = await import('node:fs');
  assert.equal(statSync(path.join(dir, 'state.json')).mode & 0o777, 0o600);
});

test('a corrupt file is kept aside and reported, never overwritten in place', async () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'store-'));
  const file = path.join(dir, 'state.json');
  writeFileSync(file, '{"version":1, "services": {trunc');
  const notices: string[] = [];
  const store = new FileStateStore(file, (msg) => notices.push(msg));
  assert.equal(await store.load(), undefined);
  assert.equal(notices.length, 1);
  const aside = readdirSync(dir).filter((f) => f.startsWith('state.json.corrupt-'));
  assert.equal(aside.length, 1);
  assert.equal(readFileSync(path.join(dir, aside[0]!), 'utf8'), '{"version":1, "services": {trunc');
});

test('a file that parses but has fields of the wrong shape is corrupt too: kept aside, named in the notice', async () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'store-'));
  const file = path.join(dir, 'state.json');
  const bad = JSON.stringify({ version: 1, services: { grafana: { ...sample.services.grafana, frozen: { by: 'x', at: 'not a date', reason: '' } } } });
  writeFileSync(file, bad);
  const notices: object[] = [];
  const store = new FileStateStore(file, (_msg, data) => notices.push(data));
  assert.equal(await store.load(), undefined);
  assert.match((notices[0] as { err: string }).err, /services\["grafana"\]\.frozen\.at is not a date/);
  assert.deepEqual(readdirSync(dir).filter((f) => f.startsWith('state.json.corrupt-')).length, 1);
});

test('a failed save throws, and the last state is written by itself once the directory is there again', async () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'store-'));
  const file = path.join(dir, 'later', 'state.json');
  const notices: string[] = [];
  const store = new FileStateStore(file, (msg) => notices.push(msg), { retryMs: 20 });
  await assert.rejects(store.save(sample), /ENOENT/);
  const { mkdirSync } = await import('node:fs');
  mkdirSync(path.dirname(file));
  for (let i = 0; i < 200 && notices.length === 0; i++) await new Promise((r) => setTimeout(r, 10));
  assert.deepEqual(notices, ['state file saved again']);
  assert.deepEqual(await store.load(), sample);
});
