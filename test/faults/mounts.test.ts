/**
 * Fault scenario 7 of issue 11 (mount tampering), on the real rig. Someone on the host, by hand:
 * unmounts a bind mount (`umount target`); replaces a mount target by a file of their own; deletes
 * the target. What a seasoned operator expects of the agent, asserted here:
 * - an unmounted target is mounted again by itself at the next full pass (at most `--verify-every`
 *   polls, default 10), the unit is told (the service saw its files vanish), the state stays OK;
 * - a target replaced by a file is never touched: the file stays with its bytes, the service is
 *   BROKEN with a reason naming the target and what is wrong; once the operator removes the file,
 *   the target is made again and mounted, OK;
 * - a deleted target is made again and mounted at the next full pass, OK.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFileSync, rmSync, rmdirSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { parseMountinfo, mountAt } from '../../src/adapters/mount/mountinfo.js';
import { reloadMarkerUnit } from '../rig/systemd.js';
import { isState, lines, waitFor, World, worldPerFile } from '../e2e/world.js';
import type { Daemon } from '../e2e/daemon.js';
import { grafanaTargets, ownUpstream, type OwnUpstream } from './lib/rig.js';
import { differing, filesAt, filesUnder } from './lib/trees.js';

const run = promisify(execFile);
let w: World;
const { skip } = worldPerFile('gitopper-faults-mounts', (x) => (w = x));
const SVC = 'grafana-server';
/** Bound for "at the next full pass": 10 polls of 1–1.5 s (`-t 1s`, default `--verify-every 10`) and slack for a busy machine. */
const FULL_PASS_MS = 40_000;

/** True when `target` is a mount point in this namespace. */
const mounted = (target: string) => mountAt(parseMountinfo(readFileSync('/proc/self/mountinfo', 'utf8')), target) !== undefined;

/** Start a daemon on an upstream of its own (the unit's reloads go to `<world>/mounts.reloads`); resolves once grafana-server is OK, with the etc target and the checkout's etc. */
async function setup(t: { after: (fn: () => unknown) => void }, name: string): Promise<{ d: Daemon; u: OwnUpstream; etc: string; source: string }> {
  const u = await ownUpstream(w, name);
  await w.um.writeUnit(`${SVC}.service`, reloadMarkerUnit(SVC, path.join(w.dir, 'mounts.reloads')));
  const d = await w.daemon(name, u.config());
  t.after(async () => {
    await d.stop();
    await u.proxy.close();
  });
  await d.waitLog(isState(SVC, 'OK'), 'first OK');
  const { etc } = grafanaTargets(w, name);
  const source = path.join(w.dir, name, 'grafana1', SVC, 'grafana', 'etc');
  assert.ok(mounted(etc), 'mounted after the first pass');
  return { d, u, etc, source };
}

/** The target shows the checkout (same inode) and exactly the tip's files. */
async function assertServed(u: OwnUpstream, etc: string, source: string): Promise<void> {
  assert.ok(mounted(etc), `${etc} is a mount point`);
  assert.equal(statSync(etc).ino, statSync(source).ino, 'the target shows the checkout');
  assert.deepEqual(differing(filesUnder(etc), await filesAt(u.work, await u.work.head(), 'grafana/etc')), []);
}

describe('mount tampering', { concurrency: 3 }, () => {
  it('a bind mount unmounted by hand is mounted again at the next full pass, the unit is told, the state stays OK', { skip, timeout: 90_000 }, async (t) => {
    const { d, u, etc, source } = await setup(t, 'umounted');
    const from = d.lines.length;
    await run('umount', [etc]);
    assert.equal(mounted(etc), false);
    const waited = await waitFor(() => mounted(etc), 'the target mounted again', FULL_PASS_MS);
    t.diagnostic(`re-mounted after ${waited.toFixed(1)} s`);
    const applied = await d.waitLog((l) => l.msg === 'pass applied' && l.service === SVC && l.mounted === 1, 'the pass that mounted it', 10_000, from);
    assert.ok(Array.isArray(applied.actions) && (applied.actions as string[]).includes('reload'), `the unit was reloaded: ${JSON.stringify(applied.actions)}`);
    await assertServed(u, etc, source);
    assert.deepEqual(d.lines.slice(from).filter((l) => l.msg === 'state' && l.service === SVC).map((l) => l.state), [], 'no state transition: OK throughout');
  });

  it('a mount target replaced by a file: the file is never touched, BROKEN names the target; once the file is gone, mounted again and OK', { skip, timeout: 90_000 }, async (t) => {
    const { d, u, etc, source } = await setup(t, 'replaced');
    const from = d.lines.length;
    await run('umount', [etc]);
    rmSync(etc, { recursive: true });
    writeFileSync(etc, 'an operator wrote this\n');
    const broken = await d.waitLog(isState(SVC, 'BROKEN'), 'BROKEN', FULL_PASS_MS, from);
    assert.equal(String(broken.info), `bind-mounting ${source} on ${etc}: ${etc} exists and is a file, but "file" is false`);
    assert.equal(readFileSync(etc, 'utf8'), 'an operator wrote this\n', 'the operator\'s file is untouched');
    await new Promise((r) => setTimeout(r, 3_000));
    assert.equal(readFileSync(etc, 'utf8'), 'an operator wrote this\n', 'still untouched after more passes');
    assert.ok(statSync(etc).isFile());

    const back = d.lines.length;
    rmSync(etc);
    await d.waitLog(isState(SVC, 'OK'), 'OK once the file is gone', FULL_PASS_MS, back);
    await assertServed(u, etc, source);
  });

  it('a mount target deleted by hand is made again and mounted at the next full pass, OK', { skip, timeout: 90_000 }, async (t) => {
    const { d, u, etc, source } = await setup(t, 'deleted');
    const from = d.lines.length;
    await run('umount', [etc]);
    rmdirSync(etc);
    await waitFor(() => mounted(etc), 'the target made and mounted again', FULL_PASS_MS);
    await assertServed(u, etc, source);
    const states = d.lines.slice(from).filter((l) => l.msg === 'state' && l.service === SVC);
    assert.ok(states.every((l) => l.state === 'OK'), `no failure on the way: ${JSON.stringify(states)}`);
    assert.ok(lines(path.join(w.dir, 'mounts.reloads')) >= 1, 'the unit was reloaded');
  });
});
