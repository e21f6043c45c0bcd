/**
 * Secrets in the repository, end to end on the real daemon (docs/trust-and-rollout.md "Secrets in the
 * repository"): files encrypted with the real `age-encryption` library to an identity made for the test,
 * pushed to the rig's git server, decrypted by the daemon into the bind-mounted directory; a file
 * that does not decrypt is BROKEN with the deployed files unchanged; a local edit of a decrypted file
 * is drift; the plaintext is never in the log, /metrics or the API's answers.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, statSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { Encrypter, armor, generateX25519Identity, identityToRecipient } from 'age-encryption';
import { reloadMarkerUnit } from './rig/systemd.js';
import { isPass, isState, World, worldPerFile } from './e2e/world.js';

let w: World;
const { skip } = worldPerFile('gitopper-e2e-secrets', (x) => (w = x));

/** `text` encrypted to `recipient`, binary or ASCII-armored. */
async function encrypt(text: string, recipient: string, armored = false): Promise<Uint8Array> {
  const e = new Encrypter();
  e.addRecipient(recipient);
  const ct = await e.encrypt(text);
  return armored ? new TextEncoder().encode(armor.encode(ct)) : ct;
}

test('db.ini.age is deployed as db.ini (0600, the service user\'s); a bad file is BROKEN and changes nothing; an edit is drift; the plaintext never shows', { skip, timeout: 180_000 }, async (t) => {
  const identity = await generateX25519Identity();
  const recipient = await identityToRecipient(identity);
  const idFile = path.join(w.dir, 'keys', 'age.key');
  await writeFile(idFile, `# public key: ${recipient}\n${identity}\n`, { mode: 0o600 });
  const secrets = ['password=first-secret-4711', 'password=rotated-secret-0815'];
  await writeFile(path.join(w.work.dir, 'grafana/etc/db.ini.age'), await encrypt(`${secrets[0]}\n`, recipient));
  const first = await w.work.commit('grafana: db.ini encrypted');
  await w.work.push();

  await w.um.writeUnit('secret-app.service', reloadMarkerUnit('secret-app', path.join(w.dir, 'secret.reloads')));
  const d = await w.daemon('sec', w.config('sec', w.etcService('sec', 'secret-app', 'reload', `user = "nobody"\nage_identity = "${idFile}"`)));
  t.after(() => d.stop());
  const listening = await d.waitLog((l) => l.msg === 'listening' && l.what === 'metrics', 'the metrics listener');
  const metricsUrl = `http://127.0.0.1:${(listening.addr as AddressInfo).port}/metrics`;
  await d.waitLog((l) => l.msg === 'ready', 'ready');
  await d.waitLog(isPass('secret-app', first), 'the first pass', 30_000);
  const api = await d.apiUrl();
  const etc = path.join(w.dir, 'sec', 'etc');
  const db = path.join(etc, 'db.ini');

  // decrypted into the mounted directory, the service user's, 0600; no drift
  assert.equal(readFileSync(db, 'utf8'), `${secrets[0]}\n`);
  const st = statSync(db);
  assert.equal(st.mode & 0o777, 0o600);
  assert.equal(st.uid, 65534, 'owned by nobody');
  const listed = async () => (await (await w.fetch(`${api}/list/service/secret-app`)).json()) as { services: { state: string; info: string; drift: string[]; commit?: string }[] };
  const svc = (await listed()).services[0]!;
  assert.equal(svc.state, 'OK', svc.info);
  assert.deepEqual(svc.drift, [], 'the decrypted file is deployed, not a local edit');

  // a file encrypted to another identity, and one corrupted, pushed with a change to a tracked file: BROKEN, nothing changes
  const ini = path.join(etc, 'grafana.ini');
  const iniBefore = readFileSync(ini, 'utf8');
  const other = await identityToRecipient(await generateX25519Identity());
  const bad: [string, () => Promise<Uint8Array>, RegExp][] = [
    ['wrong identity', () => encrypt(`${secrets[1]}\n`, other), /db\.ini\.age at [0-9a-f]{8} is not encrypted to this host's age identity/],
    ['corrupt', async () => { const c = await encrypt(`${secrets[1]}\n`, recipient); c[c.length - 3]! ^= 0x55; return c; }, /db\.ini\.age at [0-9a-f]{8} cannot be decrypted .*corrupt/],
  ];
  for (const [what, content, message] of bad) {
    await writeFile(path.join(w.work.dir, 'grafana/etc/db.ini.age'), await content());
    await w.work.write('grafana/etc/grafana.ini', `[server]\n; ${what}\n`);
    const tip = await w.work.commit(`grafana: ${what}`);
    await w.work.push();
    const broken = await d.waitLog((l) => isState('secret-app', 'BROKEN')(l) && String(l.info).includes(tip.slice(0, 8)), `BROKEN for ${what}`, 30_000);
    assert.match(String(broken.info), message, what);
    assert.equal(readFileSync(db, 'utf8'), `${secrets[0]}\n`, `${what}: the deployed secret is unchanged`);
    assert.equal(readFileSync(ini, 'utf8'), iniBefore, `${what}: the tracked files are unchanged`);
    assert.equal((await listed()).services[0]!.commit, first, `${what}: still at the deployed commit`);
  }

  // a good file again: applied, re-decrypted
  await writeFile(path.join(w.work.dir, 'grafana/etc/db.ini.age'), await encrypt(`${secrets[1]}\n`, recipient, true));
  const good = await w.work.commit('grafana: db.ini rotated (armored)');
  await w.work.push();
  await d.waitLog(isPass('secret-app', good), 'a pass at the rotated secret', 30_000);
  assert.equal(readFileSync(db, 'utf8'), `${secrets[1]}\n`, 'the rotated secret deployed');
  assert.equal((await listed()).services[0]!.state, 'OK');
  assert.equal(statSync(db).mode & 0o777, 0o600);

  // a local edit of the decrypted file is drift
  await writeFile(db, 'password=typed-by-hand\n');
  const drift = await d.waitLog((l) => l.msg === 'state' && l.service === 'secret-app' && /^drift: 1 file/.test(String(l.info)), 'drift reported', 30_000);
  assert.match(String(drift.info), /grafana\/etc\/db\.ini\b/);
  assert.deepEqual((await listed()).services[0]!.drift, ['grafana/etc/db.ini']);

  // the plaintexts are nowhere an operator or a scraper reads
  const outputs = [
    JSON.stringify(d.lines),
    d.stderr(),
    await (await fetch(metricsUrl)).text(),
    await (await w.fetch(`${api}/list/service`)).text(),
    await (await w.fetch(`${api}/list/history/secret-app`)).text(),
  ];
  assert.ok(outputs[2]!.includes('gitopper_'), 'metrics were read');
  for (const s of secrets) for (const [i, out] of outputs.entries()) assert.ok(!out.includes(s), `plaintext ${s} absent from output ${i}`);
  assert.ok(!outputs.some((o) => o.includes(identity)), 'the identity is nowhere either');
});
