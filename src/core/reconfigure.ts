/**
 * A live config change applied to a host's services in place (`Agent.reconfigure`): the specs are
 * compared with those tracked, new services start, removed ones stop being tracked and their mounts
 * go, changed ones keep their state and history and are reconciled at once. No I/O imports.
 */
import type { ServiceSpec } from '../config/config.js';
import type { MountPort } from '../ports/host.js';
import { checkoutOf } from './reconcile.js';
import { sourceKey, sourceOf, type Tracked, type TrackerSet } from './tracker-set.js';

/** What {@link reconfigure} did, by service name. */
export interface ReconfigureResult {
  readonly added: string[];
  readonly removed: string[];
  readonly changed: string[];
  readonly unchanged: string[];
}

/** The ports a live config change needs: the mounts it removes, and who hears of each. */
export interface ReconfigureDeps {
  readonly mounts: MountPort;
  /** Told about each mount removed (`result` is the port's answer or the error). Must not throw. */
  readonly onUnmount?: (service: string, target: string, result: unknown) => void;
}

/**
 * Bring `set` to `services` (this host's services in the new config): new services start, removed
 * ones stop being tracked and their mounts are removed, changed ones (upstream, branch, dirs, user,
 * action, …; any difference of the spec) keep their state and history and are pulled at once
 * (re-checkout, re-mount, unmount stale targets); unchanged ones are not touched. Trackers left
 * without services stop. A failed unmount is reported, never thrown.
 */
export async function reconfigure(set: TrackerSet, services: readonly ServiceSpec[], deps: ReconfigureDeps): Promise<ReconfigureResult> {
  const result: ReconfigureResult = { added: [], removed: [], changed: [], unchanged: [] };
  const next = new Map(services.map((s) => [s.service, s]));
  for (const [name, { record }] of set.services()) {
    if (next.has(name)) continue;
    await set.untrack(name);
    await unmount(record.spec, [], deps);
    result.removed.push(name);
  }
  for (const spec of services) {
    const cur = set.get(spec.service);
    if (!cur) {
      set.track(spec);
      result.added.push(spec.service);
    } else if (JSON.stringify(cur.record.spec) === JSON.stringify(spec)) {
      result.unchanged.push(spec.service);
      continue;
    } else {
      await replace(set, cur, spec, deps);
      result.changed.push(spec.service);
    }
    set.find(spec.service).tracker.pull(spec.service);
  }
  await set.dropIdle();
  return result;
}

/** A changed service: unmount what its new dirs no longer mount, then carry its state over. */
async function replace(set: TrackerSet, cur: Tracked, spec: ServiceSpec, deps: ReconfigureDeps): Promise<void> {
  const { tracker, record } = cur;
  const forced = { pendingAction: true, forceCheckout: true };
  const keep = spec.dirs.map((d) => ({ local: d.local, source: `${checkoutOf(spec).dir}/${d.link}` }));
  if (sourceKey(tracker.source) === sourceKey(sourceOf(spec))) {
    await record.exclusive(async () => {
      await unmount(record.spec, keep, deps);
      record.spec = spec;
      record.runtime = forced;
    });
    return;
  }
  await tracker.remove(spec.service);
  await unmount(record.spec, keep, deps);
  set.track(spec, record.snapshot(), forced);
}

/** Remove `old`'s mounts except those that stay the same (same target, same source). */
async function unmount(old: ServiceSpec, keep: { local: string; source: string }[], deps: ReconfigureDeps): Promise<void> {
  const dir = checkoutOf(old).dir;
  for (const d of old.dirs) {
    const source = `${dir}/${d.link}`;
    if (keep.some((k) => k.local === d.local && k.source === source)) continue;
    const r = await deps.mounts.remove(source, d.local).catch((err: unknown) => err);
    deps.onUnmount?.(old.service, d.local, r);
  }
}
