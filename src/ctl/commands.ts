/**
 * gitopperctl's parsing, requests and printing, without argv or exit codes (those stay in
 * `cmd/gitopperctl.ts`). Syntax and tables are gitopper's (docs/gitopperctl.md, "Differences from
 * gitopper's gitopperctl"); `list history` (and its top-level alias `history`), `do pull` without a
 * service and several `@HOST`s in one call are this project's additions.
 * The command line is parsed in `args.ts`, the tables are drawn in `tables.ts`.
 */
import { Client, ClientError } from './client.js';
import type { ForgetCommand, HostCommand } from './args.js';
import type { Pin, TlsPins } from './tls-pins.js';
import { hostPort } from './transport.js';
import { historySheet, machineSheet, pullSheet, serviceSheet, table, type Sheet } from './tables.js';
import type { ListHistory, ListMachines, ListServices, PullAccepted } from '../api/wire.js';

// this module's public names from before it was split into the files above
export { DEFAULT_PORT, USAGE, UsageError, parseCommand, parseTarget, type Command, type ForgetCommand, type HostCommand, type Target } from './args.js';
export {
  age, historySheet, historyTable, machineSheet, machineTable, pullSheet, serviceSheet, serviceTable, table, type Sheet,
} from './tables.js';

/** One host's answer, as the server sent it. */
export type Answer = ListMachines | ListServices | ListHistory | PullAccepted;

/** What {@link execute} made of a command: the text for stdout, the hosts that failed, the services left unhealthy. */
export interface Outcome {
  /** Tables or JSON of the hosts that answered; "" when none did. */
  readonly stdout: string;
  /** The failing hosts, in the order written, with why. */
  readonly failures: { readonly host: string; readonly error: ClientError }[];
  /** After `do freeze|unfreeze|rollback`: services the answer shows BROKEN or DIFF ({@link unhealthy}). */
  readonly unhealthy: readonly Unhealthy[];
}

/** A service that a write left BROKEN or DIFF, as the host answered it. */
export interface Unhealthy {
  readonly host: string;
  readonly service: string;
  readonly state: string;
  readonly stateinfo: string;
}

/** The states that mean a write did not leave the service deployed (docs/gitopperctl.md "Exit codes"). */
const UNHEALTHY: ReadonlySet<string> = new Set(['BROKEN', 'DIFF']);

/**
 * The services of a write's answer that are BROKEN (mount or systemd failed) or DIFF (cannot
 * reconcile with upstream; docs/daemon.md "States"). The write routes answer 200 with the service
 * as it ended (`src/http/routes.ts`), so a rollback whose deploy failed is a success on the wire;
 * gitopperctl turns it into exit 1. Reads and `do pull` (which answers before it runs) have none.
 */
export function unhealthy(cmd: HostCommand, host: string, answer: Answer): Unhealthy[] {
  if (cmd.kind !== 'freeze' && cmd.kind !== 'unfreeze' && cmd.kind !== 'rollback') return [];
  const services = (answer as Partial<ListServices>).services ?? [];
  return services.filter((s) => UNHEALTHY.has(s.state)).map((s) => ({ host, service: s.service, state: s.state, stateinfo: s.stateinfo }));
}

/** Sends `cmd`'s request to one host. Throws ClientError. */
export function request(cmd: HostCommand, client: Client): Promise<Answer> {
  const service = cmd.service ?? '';
  switch (cmd.kind) {
    case 'machines':
      return client.listMachines();
    case 'services':
    case 'status': // cmd/ runs status through fleet.ts; the same first request
      return client.listServices(cmd.service);
    case 'history':
      return client.history(service);
    case 'freeze':
      return client.freeze(service, cmd.reason);
    case 'unfreeze':
      return client.unfreeze(service);
    case 'rollback':
      return client.rollback(service, cmd.hash ?? '');
    case 'pull':
      return client.pull(cmd.service);
  }
}

/** The table of one answer to `cmd` (the server's shape is the one `cmd.kind` asks for). */
export function sheet(cmd: HostCommand, answer: Answer, now: Date): Sheet {
  switch (cmd.kind) {
    case 'machines':
      return machineSheet(answer as ListMachines);
    case 'history':
      return historySheet(answer as ListHistory, now);
    case 'pull':
      return pullSheet(answer as PullAccepted, cmd.service);
    default:
      return serviceSheet(answer as ListServices, now);
  }
}

/**
 * What to print for the answers of the hosts that answered, in the order written. One host: its
 * table (`do pull`: `pull accepted: SERVICE`), or with `-m` the server's JSON as is. Several: one
 * table with a HOST column first (rows keep each host's numbering), or with `-m` one JSON object
 * keyed by host. Nothing when no host answered.
 */
export function render(cmd: HostCommand, answers: readonly { readonly host: string; readonly answer: Answer }[], now: Date): string {
  if (answers.length === 0) return '';
  if (cmd.targets.length === 1) {
    const { answer } = answers[0]!;
    if (cmd.json) return `${JSON.stringify(answer)}\n`;
    if (cmd.kind === 'pull') return `pull accepted: ${cmd.service ?? 'all services'}\n`;
    const { header, rows } = sheet(cmd, answer, now);
    return table(header, rows);
  }
  if (cmd.json) return `${JSON.stringify(Object.fromEntries(answers.map((a) => [a.host, a.answer])))}\n`;
  const sheets = answers.map((a) => ({ host: a.host, ...sheet(cmd, a.answer, now) }));
  const header = ['HOST', ...sheets[0]!.header];
  return table(header, sheets.flatMap((s) => s.rows.map((r) => [s.host, ...r])));
}

/**
 * Runs `cmd` against every host at once (`clientFor` makes the client of a base URL) and returns
 * what to print, which hosts failed and which services a write left unhealthy. Only ClientErrors count as a host's failure; anything
 * else (a bug) is thrown.
 */
export async function execute(cmd: HostCommand, clientFor: (base: string) => Client, now: Date): Promise<Outcome> {
  const settled = await Promise.allSettled(cmd.targets.map((t) => request(cmd, clientFor(t.base))));
  const answers: { host: string; answer: Answer }[] = [];
  const failures: { host: string; error: ClientError }[] = [];
  settled.forEach((s, i) => {
    const host = cmd.targets[i]!.host;
    if (s.status === 'fulfilled') answers.push({ host, answer: s.value });
    else if (s.reason instanceof ClientError) failures.push({ host, error: s.reason });
    else throw s.reason;
  });
  return { stdout: render(cmd, answers, now), failures, unhealthy: answers.flatMap((a) => unhealthy(cmd, a.host, a.answer)) };
}

/**
 * The stderr line of a failed request, without the `gitopperctl: ` prefix or host: the message and
 * `(HTTP <status> <code>)`; when several keys were refused, the message alone (it names each
 * key's status and code).
 */
export function describeError(err: ClientError): string {
  return `${err.message}${err.status === 0 || err.refusals !== undefined ? '' : ` (HTTP ${err.status} ${err.code})`}`;
}

/** What {@link forget} did for one `@HOST`: its key in the pin file (`web1:2222`) and the pins removed ([] = none was there). */
export interface Forgotten {
  /** As written, without the `@`. */
  readonly host: string;
  /** The host's key in the pin file: `host:port`, port always written ({@link hostPort}). */
  readonly hostPort: string;
  readonly removed: readonly Pin[];
}

/**
 * `forget @HOST...`: removes each host's certificate pin from the pin file `pins` (docs/gitopperctl.md
 * "Certificates") in one rewrite, so the next connection pins the certificate the agent shows
 * then; line numbers are those of the file before. Sends nothing; touches no other line. Throws what {@link TlsPins.remove} throws.
 */
export function forget(cmd: ForgetCommand, pins: TlsPins): Forgotten[] {
  const keys = cmd.targets.map((t) => hostPort(new URL(t.base)));
  const removed = pins.remove(keys);
  return cmd.targets.map((t, i) => ({ host: t.host, hostPort: keys[i]!, removed: removed.filter((r) => r.hostPort === keys[i]) }));
}
