import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { FileStateStore } from '../src/adapters/store.js';
import type { PersistedState } from '../src/ports.js';

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
