/**
 * The key ring over the key list the daemon pushes (`KeyList`): a new list is taken at the next
 * check (at most once a second), and a key file's change is seen without a push.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { KeyList, KeyRing } from '../src/http/keyring.js';
import { keyDir, keyFile, makeKey } from './fakes/keys.js';

const dir = keyDir('gitopper-keyring-');
const a = makeKey(dir, 'a', 'ed25519');
const b = makeKey(dir, 'b', 'ed25519');

test('a pushed key list is taken at the next check; until then the last one holds', async () => {
  let now = 0;
  const list = new KeyList([{ path: keyFile(dir, 'a.pub', [a]), ro: false }]);
  const notices: string[] = [];
  const ring = new KeyRing(list, (msg) => notices.push(msg), () => now);
  assert.deepEqual((await ring.all()).map((p) => p.fingerprint), [a.fingerprint]);
  list.set([{ path: keyFile(dir, 'b.pub', [b]), ro: true }]);
  now = 500;
  assert.equal((await ring.lookup(b.fingerprint)), undefined, 'checked at most once a second');
  now = 1500;
  assert.equal((await ring.lookup(b.fingerprint))?.ro, true);
  assert.equal(await ring.lookup(a.fingerprint), undefined, 'a key no longer listed is out');
  assert.deepEqual(notices, ['keys loaded', 'keys loaded']);
});

test('a key file changed on disk is read again without a push', async () => {
  let now = 0;
  const file = keyFile(dir, 'c.pub', [a]);
  const ring = new KeyRing(new KeyList([{ path: file, ro: false }]), () => {}, () => now);
  assert.ok(await ring.lookup(a.fingerprint));
  keyFile(dir, 'c.pub', [a, b]);
  now = 2000;
  assert.ok(await ring.lookup(b.fingerprint));
});
