import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { expectedBindRoot, mountAt, mountContaining, parseMountinfo, unescapeMountPath } from '../src/adapters/mount/mountinfo.js';

const SAMPLE = [
  '22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw',
  '30 22 0:25 / /tmp rw,nosuid shared:5 - tmpfs tmpfs rw',
  '41 30 0:25 /x/grafana-server/grafana/etc /etc/grafana rw,nosuid shared:5 - tmpfs tmpfs rw',
  '42 22 8:1 /srv/a\\040b /mnt/with\\040space rw - ext4 /dev/sda1 rw',
  '43 22 0:25 /x/dc.yml//deleted /tmp/dc.yml rw - tmpfs tmpfs rw',
  'garbage line',
].join('\n');

test('parses fields, unescapes octal, skips malformed lines', () => {
  const e = parseMountinfo(SAMPLE);
  assert.equal(e.length, 5);
  assert.deepEqual(e[2], { id: 41, parent: 30, device: '0:25', root: '/x/grafana-server/grafana/etc', mountPoint: '/etc/grafana', fsType: 'tmpfs', source: 'tmpfs' });
  assert.equal(e[3]!.mountPoint, '/mnt/with space');
  assert.equal(unescapeMountPath('a\\011b\\134c'), 'a\tb\\c');
});

test('finds the mount at and containing a path, and the root a bind of a source shows', () => {
  const e = parseMountinfo(SAMPLE);
  assert.equal(mountAt(e, '/etc/grafana')?.id, 41);
  assert.equal(mountAt(e, '/etc'), undefined);
  assert.equal(mountContaining(e, '/tmp/x/y')?.id, 30);
  assert.equal(mountContaining(e, '/tmpfoo')?.id, 22);
  assert.deepEqual(expectedBindRoot(e, '/tmp/x/grafana-server/grafana/etc'), { device: '0:25', root: '/x/grafana-server/grafana/etc' });
  assert.deepEqual(expectedBindRoot(e, '/srv/data'), { device: '8:1', root: '/srv/data' });
});

test('parses this machine\'s real /proc/self/mountinfo', () => {
  const e = parseMountinfo(readFileSync('/proc/self/mountinfo', 'utf8'));
  assert.ok(e.length > 0);
  assert.ok(mountContaining(e, '/') !== undefined, 'some mount contains /');
});
