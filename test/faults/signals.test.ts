/**
 * Issue 11, scenario 6: SIGTERM and SIGHUP in the middle of a pass (16 services applying a new
 * commit), and 200 concurrent signed API requests (freezes, unfreezes, pulls, lists) while passes run
 * (`-t 1s`) and commits are pushed, with the state file read in a loop. Real daemon and rig.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import type { Daemon } from '../e2e/daemon.js';
import { waitFor, World, worldPerFile } from '../e2e/world.js';
import { filesUnder, manyServices, mountsAt, readStateFile, serviceNames, sleep, targetsOf, treeAt } from './lib/c-rig.js';

let w: World;
const { skip } = worldPerFile('gitopper-faults-signals', (x) => (w = x));

/** Push a commit changing both links of {@link manyServices}; resolves with its sha. */
async function pushBoth(tag: string): Promise<string> {
  await w.work.write('grafana/etc/grafana.ini', `[server]\n# ${tag}\n`);
  await w.work.write('prometheus/etc/prometheus.yml', `global:\n  # ${tag}\n`);
  const sha = await w.work.commit(`signals: ${tag}`);
  await w.work.push();
  return sha;
}

test('SIGTERM (exit 0) and SIGHUP (exit 2) in the middle of a pass of 16 services: the state file parses after each, and the next start ends OK at the tip with every target mounted once', { skip, timeout: 120_000 }, async (t) => {
  const name = 'sig';
  const names = serviceNames(16);
  const targets = names.flatMap((s) => targetsOf(w, name, s));
  const stateDir = path.join(w.dir, name, 'state');
  let toml: string | undefined = w.config(name, manyServices(w, name, names.length));
  let d: Daemon | undefined;
  for (const [signal, code] of [['SIGTERM', 0], ['SIGHUP', 2]] as const) {
    d = await w.daemon(name, toml);
    toml = undefined;
    const cur = d;
    t.after(() => cur.stop('SIGKILL'));
    await d.waitLog((l) => l.msg === 'ready', 'ready', 60_000);
    const from = d.lines.length;
    const c = await pushBoth(`before ${signal}`);
    await d.waitLog((l) => l.msg === 'pass applied' && l.commit === c, 'the first service applying the new commit', 20_000, from);
    const atSignal = d.lines.slice(from).filter((l) => l.msg === 'pass applied' && l.commit === c).length;
    assert.equal(await d.stop(signal), code, `${signal} → exit ${code}`);
    const atExit = d.lines.slice(from).filter((l) => l.msg === 'pass applied' && l.commit === c).length;
    t.diagnostic(`${signal} sent when ${atSignal} of 16 services had applied ${c.slice(0, 8)}; ${atExit} had when it exited (the pass finishes its step)`);
    const saved = readStateFile(stateDir);
    assert.deepEqual(Object.keys(saved.services).sort(), names, 'the state file parses and has every service');
  }
  const tip = await pushBoth('final');
  d = await w.daemon(name, undefined);
  const last = d;
  t.after(() => last.stop());
  const ready = await d.waitLog((l) => l.msg === 'ready', 'ready after the signals', 60_000);
  assert.deepEqual(
    (ready.services as Array<{ service: string; state: string; commit: string }>).map((s) => [s.service, s.state, s.commit]),
    names.map((s) => [s, 'OK', tip.slice(0, 8)]),
    `state lines: ${JSON.stringify(d.lines.filter((l) => l.msg === 'state').map((l) => [l.service, l.state, l.info]))}`,
  );
  const grafana = await treeAt((...a) => w.work.git(...a), tip, 'grafana/etc');
  const prom = await treeAt((...a) => w.work.git(...a), tip, 'prometheus/etc');
  for (const x of targets) {
    assert.equal(mountsAt(x.target), 1, `${x.target} mounted once`);
    assert.deepEqual(filesUnder(x.target), x.link === 'grafana/etc' ? grafana : prom);
  }
  assert.equal(await d.stop('SIGTERM'), 0);
});

test('200 concurrent signed API requests (freeze, unfreeze, pull, list) during passes and pushes: no 5xx, freezes and unfreezes alternate with none lost (log and final state agree), the state file always parses and ends equal to the API', { skip, timeout: 120_000 }, async (t) => {
  const name = 'api';
  const names = serviceNames(3);
  const d = await w.daemon(name, w.config(name, manyServices(w, name, names.length)));
  t.after(() => d.stop());
  await d.waitLog((l) => l.msg === 'ready', 'ready', 60_000);
  const api = await d.apiUrl();
  const stateFile = path.join(w.dir, name, 'state', 'state.json');
  const from = d.lines.length;
  // the first save may come just after `ready`: the reader below starts once there is a file to read
  await waitFor(() => existsSync(stateFile), 'the first state file', 30_000);

  // the state file read in a loop the whole time
  let reading = true;
  let reads = 0;
  const unparsable: string[] = [];
  const reader = (async () => {
    while (reading) {
      try {
        JSON.parse(readFileSync(stateFile, 'utf8'));
        reads++;
      } catch (err) {
        unparsable.push((err as Error).message);
      }
      await sleep(3);
    }
  })();

  type Result = { svc: string; op: string; reason: string; status: number };
  const results: Result[] = [];
  const send = async (i: number): Promise<void> => {
    const svc = names[i % names.length]!;
    const kind = ['freeze', 'unfreeze', 'freeze', 'unfreeze', 'pull', 'list'][(Math.imul(i + 1, 2654435761) >>> 8) % 6]!; // scrambled: conflicts (409) happen
    const reason = `r${i}`;
    const res =
      kind === 'list'
        ? await w.fetch(`${api}/list/service/${svc}`)
        : await w.fetch(`${api}/do/${kind}/${svc}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(kind === 'freeze' ? { reason } : {}) });
    await res.arrayBuffer();
    results.push({ svc, op: kind, reason, status: res.status });
  };
  for (let wave = 0; wave < 5; wave++) {
    await pushBoth(`api wave ${wave}`);
    await Promise.all(Array.from({ length: 40 }, (_, k) => send(wave * 40 + k)));
  }
  await sleep(300);
  reading = false;
  await reader;

  assert.equal(results.length, 200);
  const byStatus = results.reduce<Record<number, number>>((m, r) => ((m[r.status] = (m[r.status] ?? 0) + 1), m), {});
  t.diagnostic(`statuses: ${JSON.stringify(byStatus)}; state file read ${reads} times`);
  assert.deepEqual(results.filter((r) => r.status >= 500), [], 'no 5xx');
  assert.ok(results.every((r) => [200, 202, 409].includes(r.status)), `only 200/202/409: ${JSON.stringify(byStatus)}`);
  assert.deepEqual(unparsable, [], 'the state file always parsed');

  const listed = (await (await w.fetch(`${api}/list/service`)).json()) as { services: Array<{ service: string; state: string; stateinfo: string }> };
  for (const svc of names) {
    const ok = (op: string) => results.filter((r) => r.svc === svc && r.op === op && r.status === 200);
    const freezes = ok('freeze').length;
    const unfreezes = ok('unfreeze').length;
    assert.ok(freezes - unfreezes === 0 || freezes - unfreezes === 1, `${svc}: successful freezes (${freezes}) and unfreezes (${unfreezes}) alternate`);
    const lines = d.lines.slice(from).filter((l) => l.msg === 'state' && l.service === svc);
    const frozenLines = lines.filter((l) => l.state === 'FREEZE' && /^r\d+$/.test(String(l.info)));
    assert.equal(frozenLines.length, freezes, `${svc}: one FREEZE transition logged per successful freeze`);
    assert.equal(lines.filter((l) => l.from === 'FREEZE' && l.state !== 'FREEZE').length, unfreezes, `${svc}: one transition out of FREEZE logged per successful unfreeze`);
    const s = listed.services.find((x) => x.service === svc)!;
    if (freezes > unfreezes) {
      assert.equal(s.state, 'FREEZE', `${svc} ends frozen`);
      assert.equal(s.stateinfo, String(frozenLines.at(-1)!.info), `${svc}: frozen with the reason of the last successful freeze`);
    } else {
      assert.notEqual(s.state, 'FREEZE', `${svc} ends unfrozen`);
    }
    await waitFor(() => {
      const saved = readStateFile(path.dirname(stateFile)).services[svc];
      return (saved?.frozen?.reason ?? '') === (freezes > unfreezes ? s.stateinfo : '');
    }, `${svc}: the state file agrees with the API`, 10_000);
  }
  assert.equal(await d.stop('SIGTERM'), 0);
});
