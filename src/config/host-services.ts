/**
 * Picking this host's services out of a validated config, with the rules that only hold per host.
 * Pure.
 */
import { At, ConfigProblems, dirEntry, serviceEntry } from './error.js';
import type { ConfigSpec, ServiceSpec } from './spec.js';

/**
 * The services whose `machine` equals one of `hosts` (exact string compare, gitopper), in file order.
 * Ours, checked per host because another host's entries never meet here: a service name may appear once
 * (it is the systemd unit and the directory `<mount>/<service>`), and a `local` path may be a mount target once.
 * @throws ConfigError naming both entries.
 */
export function servicesForHost(config: ConfigSpec, hosts: readonly string[]): ServiceSpec[] {
  return hostServices(config, hosts, new ConfigProblems());
}

/** {@link servicesForHost}, each clash going to `problems` (kept there with `problems.all`, in the order met). */
export function hostServices(config: ConfigSpec, hosts: readonly string[], problems: ConfigProblems): ServiceSpec[] {
  const mine = config.services.filter((s) => hosts.includes(s.machine));
  const names = new Map<string, ServiceSpec>();
  const locals = new Map<string, string>();
  for (const s of mine) {
    const entry = serviceEntry(s.index, s.service);
    const first = names.get(s.service);
    if (first !== undefined) {
      problems.attempt(() => new At(config.file, entry).fail('service', `service "${s.service}" is also defined by ${serviceEntry(first.index, first.service)} for this host (machine "${first.machine}")`,
        'keep one entry per service and host; put all its dirs in that entry'), undefined);
    }
    if (first === undefined) names.set(s.service, s);
    s.dirs.forEach((d, j) => {
      const here = dirEntry(s.index, j, s.service);
      const other = locals.get(d.local);
      if (other !== undefined) {
        problems.attempt(() => new At(config.file, here).fail('local', `"${d.local}" is also the mount target of ${other} on this host`, 'mount each local path once: remove one of the entries or change its local'), undefined);
      } else {
        locals.set(d.local, here);
      }
    });
  }
  return mine;
}
