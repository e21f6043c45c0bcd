/**
 * Per-test pieces for the fault scenarios on the e2e world (`test/e2e/world.ts`): an upstream of
 * its own (a bare copy of the gitopper-config history, served by the world's git server through a
 * {@link FaultProxy}), a work clone to push to it, and the grafana-server config pointing at it.
 */
import path from 'node:path';
import { WorkClone } from '../../rig/repo.js';
import { makeConfigRepo } from '../../rig/config-repo.js';
import type { World } from '../../e2e/world.js';
import { startFaultProxy, type FaultProxy } from './fault-proxy.js';

/** An upstream of one test; see {@link ownUpstream}. */
export interface OwnUpstream {
  /** The proxy every fetch of the daemon goes through (starts in `pass` mode). */
  readonly proxy: FaultProxy;
  /** A clone that pushes straight to the bare repository (not through the proxy). */
  readonly work: WorkClone;
  /** The upstream URL the daemon is given: `http://127.0.0.1:<proxy port>/<name>.git`. */
  readonly url: string;
  /** The world's config text for `name` with grafana-server's service, its upstream set to {@link url}. */
  config(extra?: string): string;
}

/**
 * Make `<world>/git/<name>.git` from the generated gitopper-config history (test/rig/config-repo.ts), a work clone of it at
 * `<world>/work-<name>`, and a fault proxy in front of the world's git server. The proxy is
 * closed by the caller (`t.after(() => u.proxy.close())`).
 */
export async function ownUpstream(w: World, name: string): Promise<OwnUpstream> {
  const bare = path.join(w.dir, 'git', `${name}.git`);
  await makeConfigRepo(bare);
  const work = await WorkClone.open(bare, path.join(w.dir, `work-${name}`));
  const proxy = await startFaultProxy(new URL(w.server.url(`${name}.git`)).origin);
  const url = proxy.url(`${name}.git`);
  const direct = w.server.url('gitopper-config.git');
  return {
    proxy,
    work,
    url,
    config: (extra = '') => w.config(name, w.grafana(name) + extra).replace(`upstream = "${direct}"`, `upstream = "${url}"`),
  };
}

/** `<world>/<name>/etc/grafana` and `…/var/lib/grafana/dashboards`: grafana-server's mount targets in {@link World.grafana}. */
export function grafanaTargets(w: World, name: string): { etc: string; dashboards: string } {
  return { etc: path.join(w.dir, name, 'etc', 'grafana'), dashboards: path.join(w.dir, name, 'var', 'lib', 'grafana', 'dashboards') };
}
