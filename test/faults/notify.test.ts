/**
 * Notification receivers that fail (docs/reliability.md, "Notifications"), on the real daemon: one
 * target whose receiver is down (connection refused) and one whose receiver accepts the request and
 * never answers (with a long timeout and a queue of 2). Pushed commits are applied pass after pass as
 * if there were no targets; the refused deliveries are counted as failures, the hanging target's
 * queue stays at its bound (the oldest events dropped, counted), and SIGTERM still exits 0 at once:
 * the drain at shutdown is bounded, the hanging request is abandoned (dropped as `shutdown`).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { isPass, World, worldPerFile } from '../e2e/world.js';
import { Receiver } from '../rig/receiver.js';

let w: World;
const { skip } = worldPerFile('gitopper-faults-notify', (x) => (w = x));
const SVC = 'fault-notify';

/** The counter `name{target="<target>"}` on the daemon's /metrics (0 when absent). */
async function counter(metricsUrl: string, name: string, target: string): Promise<number> {
  const line = (await (await fetch(metricsUrl)).text()).split('\n').find((l) => l.startsWith(`${name}{target="${target}"}`));
  return line === undefined ? 0 : Number(line.split(' ').at(-1));
}

test('receivers down and hanging: every pass applies its commit, failures and drops are counted, the queue stays bounded, SIGTERM exits 0', { skip, timeout: 120_000 }, async () => {
  const down = await Receiver.start('s');
  await down.down(); // its port now refuses connections
  const hang = await Receiver.start('s');
  hang.mode = 'hang';
  await writeFile(path.join(w.dir, 'fault-notify.secret'), 's\n');
  const toml = `${w.config('fn', w.etcService('fn', SVC, ''))}
[[notify]]
name = "down"
url = "${down.url()}"
secret_file = "fault-notify.secret"
retries = 0

[[notify]]
name = "hang"
url = "${hang.url()}"
secret_file = "fault-notify.secret"
timeout = "10m"
queue = 2
`;
  const d = await w.daemon('fn', toml);
  try {
    await d.waitLog((l) => l.msg === 'ready', 'ready');
    const listening = await d.waitLog((l) => l.msg === 'listening' && l.what === 'metrics', 'the metrics listener');
    const metrics = `http://127.0.0.1:${(listening.addr as AddressInfo).port}/metrics`;
    // the startup's `applied` is in flight to the hanging receiver from here on
    await hang.until('the first request', () => hang.received.length === 1);

    const commits: string[] = [];
    for (let i = 1; i <= 4; i++) {
      const from = d.lines.length;
      await w.work.write('grafana/etc/fault-notify.ini', `; ${i}\n`);
      commits.push(await w.work.commit(`fault notify ${i}`));
      await w.work.push();
      const pass = await d.waitLog(isPass(SVC, commits.at(-1)), `the pass at commit ${i}`, 20_000, from);
      assert.equal(pass.msg, 'pass applied', `commit ${i} applied while both receivers fail`);
    }
    // down: every event failed after its one attempt; hang: 4 events behind one in flight, 2 kept, 2 dropped
    const failures = async () => counter(metrics, 'gitopper_notification_failures_total', 'down');
    for (let t = Date.now(); (await failures()) < 5 && Date.now() - t < 20_000;) await new Promise((r) => setTimeout(r, 100));
    assert.equal(await failures(), 5, 'the startup applied and 4 more, each counted once');
    assert.equal(await counter(metrics, 'gitopper_notifications_dropped_total', 'hang'), 2, 'the queue of 2 dropped the two oldest');
    assert.equal(await counter(metrics, 'gitopper_notifications_sent_total', 'hang'), 0);
    assert.equal(hang.received.length, 1, 'one request at a time: the rest wait in the queue');
    const drops = d.lines.filter((l) => l.msg === 'notification dropped' && l.target === 'hang');
    assert.deepEqual(drops.map((l) => l.why), ['full', 'full']);
  } finally {
    const from = d.lines.length;
    assert.equal(await d.stop('SIGTERM'), 0, 'exit 0 although a notification hangs');
    const atStop = d.lines.slice(from).filter((l) => l.msg === 'notification dropped' && l.target === 'hang').map((l) => l.why);
    assert.deepEqual(atStop, ['shutdown', 'shutdown', 'shutdown'], 'the hanging request and the 2 queued events dropped at shutdown');
    await hang.close();
    await down.close();
  }
});
