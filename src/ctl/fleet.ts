/**
 * `gitopperctl status @HOST...`: the fleet overview (docs/gitopperctl.md "Fleet status"). Every
 * host is asked for its services at once; the answers make one table, problems first: services
 * that are not OK, then the hosts that did not answer (one row each, with the error), then the OK
 * services. Exit 0 only when every service of every host is OK.
 *
 * BEHIND: `yes` when the agent's last fetched tip (WireService `tip`) is not the deployed commit,
 * `no` when it is. An agent that does not send `tip` (older versions) gets what the rest of the
 * wire says:
 * - `no` for an OK service: while not frozen the agent deploys every tip it fetches, and OK means
 *   its last pass got there;
 * - `yes` for a service that is not OK when its newest history row (`/list/history`) aimed at a
 *   commit other than the deployed one (a pass that tried the tip and failed before it was
 *   deployed), rollback rows aside;
 * - `?` otherwise (a held service, a failed fetch, no history): the wire does not tell.
 */
import { ClientError, type Client } from './client.js';
import { describeError } from './commands.js';
import type { HostCommand } from './args.js';
import { age, table } from './tables.js';
import { parseChange, type WireService } from '../api/wire.js';

/** Whether a service runs behind the upstream tip its agent knows: yes, no, or `undefined` (cannot tell). */
export type Behind = boolean | undefined;

/** One service of one host, with {@link Behind}. */
export interface FleetService {
  readonly host: string;
  readonly service: WireService;
  readonly behind: Behind;
}

/** A host that gave no list of services: connection failure or a refusal. */
export interface FleetFailure {
  readonly host: string;
  readonly error: ClientError;
}

/** The overview in print order: not-OK services, failed hosts, OK services (each in host order, then the agent's order). */
export interface Fleet {
  readonly problems: readonly FleetService[];
  readonly failures: readonly FleetFailure[];
  readonly ok: readonly FleetService[];
}

/**
 * {@link Behind} of a service: from its `tip` when the agent sends one (tip ≠ deployed commit);
 * else from its newest history row (undefined: none, or the history could not be read): OK →
 * false; otherwise true when that row is not a rollback and aimed at a commit other than the
 * deployed one; else undefined.
 */
export function behindOf(service: WireService, newest: { readonly commit: string; readonly trigger: string } | undefined): Behind {
  if (typeof service.tip === 'string' && service.tip !== '') return service.tip !== (service.commit ?? '');
  if (service.state === 'OK') return false;
  const deployed = service.commit ?? '';
  if (newest === undefined || deployed === '' || newest.trigger === 'rollback' || newest.commit === '') return undefined;
  return newest.commit !== deployed ? true : undefined;
}

/** One host's services with {@link Behind}; the history is asked only for services that are not OK (a failure there is `?`). Throws ClientError for the list. */
async function hostServices(host: string, client: Client): Promise<FleetService[]> {
  const { services } = await client.listServices();
  return Promise.all(
    services.map(async (service) => {
      let newest;
      if (service.state !== 'OK' && !service.tip) newest = await client.history(service.service).then((h) => h.history[0], () => undefined);
      return { host, service, behind: behindOf(service, newest) };
    }),
  );
}

/**
 * Asks every host of `cmd` at once (`clientFor` makes the client of a base URL) and sorts the
 * answers into a {@link Fleet}. Only ClientErrors count as a host's failure; anything else (a bug)
 * is thrown.
 */
export async function gatherFleet(cmd: HostCommand, clientFor: (base: string) => Client): Promise<Fleet> {
  const settled = await Promise.allSettled(cmd.targets.map((t) => hostServices(t.host, clientFor(t.base))));
  const all: FleetService[] = [];
  const failures: FleetFailure[] = [];
  settled.forEach((s, i) => {
    const host = cmd.targets[i]!.host;
    if (s.status === 'fulfilled') all.push(...s.value);
    else if (s.reason instanceof ClientError) failures.push({ host, error: s.reason });
    else throw s.reason;
  });
  return { problems: all.filter((s) => s.service.state !== 'OK'), failures, ok: all.filter((s) => s.service.state === 'OK') };
}

/** Exit code of `status`: 0 when no service is not OK and every host answered, else 1. */
export function fleetExit(fleet: Fleet): number {
  return fleet.problems.length === 0 && fleet.failures.length === 0 ? 0 : 1;
}

const behindCell = (b: Behind): string => (b === undefined ? '?' : b ? 'yes' : 'no');

/**
 * The overview as a table: `HOST SERVICE STATE COMMIT AGE BEHIND INFO`. COMMIT is the short hash,
 * AGE the time since the last state change at `now` (`2h3m`; the raw `change` when unparseable),
 * INFO the state info. A failed host is one row: SERVICE `-`, STATE `UNREACHABLE` (no answer) or
 * `ERROR` (the agent refused), INFO the error.
 */
export function fleetTable(fleet: Fleet, now: Date): string {
  const row = (s: FleetService) => {
    const t = parseChange(s.service.change);
    const since = t === undefined ? s.service.change : age(now.getTime() - t.getTime());
    return [s.host, s.service.service, s.service.state, s.service.hash, since, behindCell(s.behind), s.service.stateinfo];
  };
  const failed = fleet.failures.map((f) => [f.host, '-', f.error.status === 0 ? 'UNREACHABLE' : 'ERROR', '', '', '?', describeError(f.error)]);
  return table(['HOST', 'SERVICE', 'STATE', 'COMMIT', 'AGE', 'BEHIND', 'INFO'], [...fleet.problems.map(row), ...failed, ...fleet.ok.map(row)]);
}

/**
 * The overview as one JSON line (`-m`): an array in the table's order; a service is
 * `{"host","service","state","stateinfo","hash","commit","change","behind"}` (`behind` true, false
 * or null), a failed host `{"host","error":{"status","code","message"}}`.
 */
export function fleetJson(fleet: Fleet): string {
  const svc = (s: FleetService) => ({
    host: s.host, service: s.service.service, state: s.service.state, stateinfo: s.service.stateinfo,
    hash: s.service.hash, commit: s.service.commit ?? '', change: s.service.change, behind: s.behind ?? null,
  });
  const failed = fleet.failures.map((f) => ({ host: f.host, error: { status: f.error.status, code: f.error.code, message: f.error.message } }));
  return `${JSON.stringify([...fleet.problems.map(svc), ...failed, ...fleet.ok.map(svc)])}\n`;
}
