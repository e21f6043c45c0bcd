/**
 * MountTable (src/adapters/mount/mount-table.ts): when the mount table is read afresh and when a
 * reading is shared, over a real file rewritten between reads (as the kernel's table changes), and
 * the snapshot's index against the linear lookups of mountinfo.ts.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { MAX_AGE_MS, MountSnapshot, MountTable } from '../src/adapters/mount/mount-table.js';
import { expectedBindRoot, mountAt, parseMountinfo } from '../src/adapters/mount/mountinfo.js';

const ROOT = '22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw';
const line = (id: number, point: string) => `${id} 22 8:1 /srv/src${id} ${point} rw - ext4 /dev/sda1 rw`;

function tableFile(t: { after: (fn: () => void) => void }): { file: string; write: (...lines: string[]) => void } {
  const dir = mkdtempSync(path.join(tmpdir(), 'gitopper-mount-table-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const file = path.join(dir, 'mountinfo');
  const write = (...lines: string[]) => writeFileSync(file, [ROOT, ...lines].join('\n'));
  write();
  return { file, write };
}

test('outside a scope every read is fresh', async (t) => {
  const { file, write } = tableFile(t);
  const table = new MountTable(file);
  assert.equal((await table.read()).at('/a'), undefined);
  write(line(30, '/a'));
  assert.equal((await table.read()).at('/a')?.id, 30);
});

test('inside a scope reads are shared; a new scope, our own change, and age read afresh', async (t) => {
  const { file, write } = tableFile(t);
  let now = 0;
  const table = new MountTable(file, () => now);
  await table.shared(async () => {
    assert.equal((await table.read()).at('/a'), undefined);
    write(line(30, '/a'));
    assert.equal((await table.read()).at('/a'), undefined, 'shared: a change by someone else is seen by the next scope');
    table.changed();
    assert.equal((await table.read()).at('/a')?.id, 30, 'our own change: read again');
    write(line(30, '/a'), line(31, '/b'));
    now += MAX_AGE_MS - 1;
    assert.equal((await table.read()).at('/b'), undefined, 'still young');
    now += 1;
    assert.equal((await table.read()).at('/b')?.id, 31, 'too old: read again');
  });
  write();
  await table.shared(async () => {
    assert.equal((await table.read()).at('/a'), undefined, 'a new scope reads afresh');
  });
});

test('a scope opened while another runs reads afresh, and the snapshot ends with the last scope', async (t) => {
  const { file, write } = tableFile(t);
  const table = new MountTable(file, () => 0);
  let release!: () => void;
  let readDone!: () => void;
  const firstRead = new Promise<void>((r) => (readDone = r));
  const outer = table.shared(async () => {
    const first = await table.read();
    readDone();
    await new Promise<void>((r) => (release = r));
    assert.equal(first.at('/a'), undefined);
  });
  await firstRead;
  write(line(30, '/a'));
  await table.shared(async () => {
    assert.equal((await table.read()).at('/a')?.id, 30);
  });
  write();
  assert.equal((await table.read()).at('/a')?.id, 30, 'the outer scope (still open) shares the newer reading');
  release();
  await outer;
  assert.equal((await table.read()).at('/a'), undefined, 'no scope open: read afresh');
});

test('a failed reading is not kept', async (t) => {
  const { file, write } = tableFile(t);
  const table = new MountTable(file, () => 0);
  await table.shared(async () => {
    rmSync(file);
    await assert.rejects(table.read(), { code: 'ENOENT' });
    write(line(30, '/a'));
    assert.equal((await table.read()).at('/a')?.id, 30);
  });
});

test('the snapshot finds what mountAt and expectedBindRoot find, on this machine\'s table and a stacked one', () => {
  const stacked = [ROOT, '30 22 0:25 / /tmp rw - tmpfs tmpfs rw', '31 22 0:26 / /tmp rw - tmpfs tmpfs rw', '41 31 0:26 /x/etc /etc/grafana rw - tmpfs tmpfs rw', '42 22 8:1 /srv/a\\040b /mnt/with\\040space rw - ext4 /dev/sda1 rw'].join('\n');
  for (const text of [stacked, readFileSync('/proc/self/mountinfo', 'utf8')]) {
    const entries = parseMountinfo(text);
    const snap = new MountSnapshot(entries);
    const probes = [...entries.map((e) => e.mountPoint), '/', '/tmp/x/etc', '/tmpfoo', '/mnt/with space/sub', '/etc/grafana/a/b', '/no/such/dir'];
    for (const p of probes) {
      assert.deepEqual(snap.at(p), mountAt(entries, p), `at ${p}`);
      assert.deepEqual(snap.bindRootOf(p), expectedBindRoot(entries, p), `bindRootOf ${p}`);
    }
  }
});
