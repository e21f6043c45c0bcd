/**
 * Fault suite (docs/reliability.md, "Secrets"): the age identity file (`age_identity`) missing, then
 * readable by others, while a commit with a new secret arrives, on the real rig (git smart-HTTP on
 * loopback, a systemd user manager, bind mounts in the test run's private mount namespace, the real
 * daemon). Each time: BROKEN naming the file and the fix, the deployed files unchanged, the daemon
 * answering; once the file is back (or 0600 again) the next pass applies the commit.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { chmod, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { Encrypter, generateX25519Identity, identityToRecipient } from 'age-encryption';
import { reloadMarkerUnit } from '../rig/systemd.js';
import { isPass, isState, World, worldPerFile } from '../e2e/world.js';

let w: World;
const { skip } = worldPerFile('gitopper-fault-secrets', (x) => (w = x));

test('age identity missing, then group/world-readable: BROKEN with the reason, files unchanged, the daemon runs on, and recovers when the file is right again', { skip, timeout: 180_000 }, async (t) => {
  const identity = await generateX25519Identity();
  const recipient = await identityToRecipient(identity);
  const idFile = path.join(w.dir, 'keys', 'age.key');
  const keyText = `# public key: ${recipient}\n${identity}\n`;
  await writeFile(idFile, keyText, { mode: 0o600 });
  const encrypted = async (text: string) => {
    const e = new Encrypter();
    e.addRecipient(recipient);
    return e.encrypt(text);
  };
  let n = 0;
  const push = async (what: string) => {
    await writeFile(path.join(w.work.dir, 'grafana/etc/db.ini.age'), await encrypted(`password=${what}-${++n}\n`));
    await w.work.write('grafana/etc/grafana.ini', `[server]\n; ${what}\n`);
    const tip = await w.work.commit(`grafana: ${what}`);
    await w.work.push();
    return tip;
  };
  const first = await push('start');
  await w.um.writeUnit('secret-app.service', reloadMarkerUnit('secret-app', path.join(w.dir, 'secret.reloads')));
  const d = await w.daemon('fault', w.config('fault', w.etcService('fault', 'secret-app', 'reload', `age_identity = "${idFile}"`)));
  t.after(() => d.stop('SIGKILL'));
  await d.waitLog(isPass('secret-app', first), 'the first pass', 30_000);
  const api = await d.apiUrl();
  const etc = path.join(w.dir, 'fault', 'etc');
  const deployed = () => [readFileSync(path.join(etc, 'db.ini'), 'utf8'), readFileSync(path.join(etc, 'grafana.ini'), 'utf8')];
  assert.deepEqual(deployed(), ['password=start-1\n', '[server]\n; start\n']);

  const faults: [string, () => Promise<void>, RegExp, () => Promise<void>][] = [
    ['missing', () => rm(idFile), /age identity .*age\.key does not exist: create it \(age-keygen -o/, () => writeFile(idFile, keyText, { mode: 0o600 })],
    ['world-readable', () => chmod(idFile, 0o644), /age identity .*age\.key is readable or writable by group or others \(mode 0644\); refusing to use it: chmod 600/, () => chmod(idFile, 0o600)],
  ];
  for (const [what, breakIt, reason, fixIt] of faults) {
    const before = deployed();
    await breakIt();
    const tip = await push(what);
    const from = d.lines.length;
    const broken = await d.waitLog((l) => isState('secret-app', 'BROKEN')(l) && String(l.info).includes(tip.slice(0, 8)), `BROKEN with the identity ${what}`, 30_000, from);
    assert.match(String(broken.info), reason, what);
    await d.waitLog(isPass('secret-app'), 'another pass while it is broken: the daemon runs on', 30_000, d.lines.indexOf(broken) + 1);
    assert.deepEqual(deployed(), before, `${what}: nothing deployed changed`);
    const list = (await (await w.fetch(`${api}/list/service/secret-app`)).json()) as { services: { state: string }[] };
    assert.equal(list.services[0]!.state, 'BROKEN', `${what}: the API answers and says BROKEN`);
    await fixIt();
    await d.waitLog((l) => isState('secret-app', 'OK')(l) && l.commit === tip, `OK at ${what}'s commit once the file is right`, 30_000, from);
    assert.deepEqual(deployed(), [`password=${what}-${n}\n`, `[server]\n; ${what}\n`], `${what}: the commit applied after the recovery`);
  }
});
