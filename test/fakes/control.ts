/**
 * An in-memory `Control` for tests of the REST API and gitopperctl. Keeps services, history and
 * pulls in memory, follows the interface's rules (freeze/unfreeze/rollback conflicts, hash syntax),
 * and throws the real error classes of `src/core/errors.ts`. Set `boom` to make the next call throw it.
 */
import type { Actor, Control, HistoryEntry, ServiceInfo } from '../../src/core/control.js';
import { BadRequestError, ConflictError, UnknownServiceError } from '../../src/core/errors.js';

/** The time every fake service changed state: `Fri, 18 Nov 2022 09:14:52 UTC`. */
export const CHANGED = new Date('2022-11-18T09:14:52Z');
/** The branch history, newest first (40-hex ids). */
export const COMMITS = ['606eb5760a8e5e7b4c0dc8b1b71dbc4b0b5a0a11', '8df1b3db679253ba501d594de285cc3e9ed308ed', '1d2c3b4a5f6e7d8c9b0a1f2e3d4c5b6a7f8e9d0c'];

function service(name: string, machine: string): ServiceInfo {
  return { service: name, machine, state: 'OK', info: '', since: CHANGED, commit: COMMITS[0]!, upstream: 'https://example.org/cfg', branch: 'main' };
}

/** The fake. Every call is recorded in `calls` (`op name by`), every pull in `pulls`. */
export class FakeControl implements Control {
  readonly svc = new Map<string, ServiceInfo>([
    ['grafana-server', service('grafana-server', 'grafana.example.org')],
    ['prometheus', service('prometheus', 'prom.example.org')],
    ['node-exporter@eth0', service('node-exporter@eth0', 'prom.example.org')],
  ]);
  readonly calls: string[] = [];
  readonly pulls: { name: string | undefined; by: string }[] = [];
  /** When set, the next call throws it (and clears it). */
  boom: Error | undefined;
  now = new Date('2022-11-18T11:17:52Z');

  private enter(op: string, name?: string, actor?: Actor): void {
    this.calls.push([op, name, actor?.by].filter((v) => v !== undefined).join(' '));
    const boom = this.boom;
    this.boom = undefined;
    if (boom) throw boom;
  }

  private get(name: string): ServiceInfo {
    const s = this.svc.get(name);
    if (!s) throw new UnknownServiceError(name);
    return s;
  }

  private set(name: string, change: Partial<ServiceInfo>): ServiceInfo {
    const next = { ...this.get(name), ...change, since: this.now };
    this.svc.set(name, next);
    return next;
  }

  hostname(): string {
    this.enter('hostname');
    return 'limos';
  }
  machines(): string[] {
    this.enter('machines');
    return [...new Set([...this.svc.values()].map((s) => s.machine))];
  }
  services(): ServiceInfo[] {
    this.enter('services');
    return [...this.svc.values()];
  }
  service(name: string): ServiceInfo {
    this.enter('service', name);
    return this.get(name);
  }
  async freeze(name: string, actor: Actor, reason?: string): Promise<ServiceInfo> {
    this.enter('freeze', name, actor);
    const s = this.get(name);
    if (s.state === 'FREEZE' || s.state === 'ROLLBACK') throw new ConflictError(`service "${name}" is already frozen`, { service: name });
    return this.set(name, { state: 'FREEZE', info: reason ?? '', by: actor.by });
  }
  async unfreeze(name: string, actor: Actor): Promise<ServiceInfo> {
    this.enter('unfreeze', name, actor);
    const s = this.get(name);
    if (s.state !== 'FREEZE' && s.state !== 'ROLLBACK') throw new ConflictError(`service "${name}" is not frozen`, { service: name });
    return this.set(name, { state: 'OK', info: '', commit: COMMITS[0]!, by: undefined });
  }
  async rollback(name: string, hash: string, actor: Actor): Promise<ServiceInfo> {
    this.enter('rollback', name, actor);
    this.get(name);
    if (!/^[0-9a-f]{4,40}$/i.test(hash)) throw new BadRequestError(`bad hash ${hash}`, { hash });
    const commit = COMMITS.find((c) => c.startsWith(hash.toLowerCase()));
    if (commit === undefined) throw new ConflictError(`commit ${hash} is not in the history of main`, { hash });
    return this.set(name, { state: 'FREEZE', info: `ROLLBACK: ${hash}`, commit, by: actor.by });
  }
  pull(name: string | undefined, actor: Actor): void {
    this.enter('pull', name, actor);
    if (name !== undefined) this.get(name);
    this.pulls.push({ name, by: actor.by });
  }
  history(name: string): HistoryEntry[] {
    this.enter('history', name);
    this.get(name);
    return [
      { commit: COMMITS[0]!, time: new Date('2022-11-18T09:14:52.250Z'), trigger: 'pull', state: 'OK', info: '', seconds: 1.25, by: 'local' },
      { commit: COMMITS[1]!, time: new Date('2022-11-17T08:00:00Z'), trigger: 'poll', state: 'BROKEN', info: 'reload failed', seconds: 0.5 },
    ];
  }
}
