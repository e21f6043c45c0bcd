/**
 * gitopperctl's parsing, requests and printing, without argv or exit codes (those stay in
 * `cmd/gitopperctl.ts`, DESIGN.md §3). Syntax and tables are gitopper's (DESIGN.md §2
 * "gitopperctl syntax"); `list history` and `do pull` without a service are this project's additions.
 */
import { parseArgs } from 'node:util';
import { Client } from './client.js';
import { parseChange, type ListHistory, type ListMachines, type ListServices } from './wire.js';

/** The default port of `@host` (gitopper's remote interface, `-s :2222`). */
export const DEFAULT_PORT = 2222;

/** The usage text printed with usage errors and `--help`. */
export const USAGE = `usage: gitopperctl [-i KEY] [-m] COMMAND @HOST [ARGS]

commands:
  list|ls|l machines|m  @HOST               machines this host acts as
  list|ls|l service|s   @HOST [SERVICE]     services and their state
  list|ls|l history|h   @HOST SERVICE       the service's last deployments
  do|d freeze|f         @HOST SERVICE [--reason TEXT]
  do|d unfreeze|u       @HOST SERVICE
  do|d rollback|r       @HOST SERVICE HASH
  do|d pull|p           @HOST [SERVICE]     pull now (all services without SERVICE)

@HOST is host, host:port (default port ${DEFAULT_PORT}), or an http(s):// URL.

options:
  -i, --identity KEY  SSH private key (accepted; request signing is not implemented yet)
  -m, --json          print the server's JSON instead of a table
      --reason TEXT   why, for freeze (shown as the state info)
  -h, --help          this text`;

/** A command line that does not parse; `cmd/` prints it with {@link USAGE} and exits 2. */
export class UsageError extends Error {}

/** What to do, as parsed from the command line. `base` is the API's base URL. */
export type Command =
  | { readonly kind: 'help' }
  | {
      readonly kind: 'machines' | 'services' | 'history' | 'freeze' | 'unfreeze' | 'rollback' | 'pull';
      readonly base: string;
      readonly service?: string;
      readonly hash?: string;
      readonly reason?: string;
      /** `-m`: print JSON. */
      readonly json: boolean;
      /** `-i`: kept for request signing (a later issue); unused now. */
      readonly identity?: string;
    };

type Kind = Exclude<Command['kind'], 'help'>;
/** verb → subject alias → [kind, required args after @HOST, optional args]. */
const GRAMMAR: Record<string, Record<string, [Kind, number, number]>> = {
  list: { machines: ['machines', 0, 0], services: ['services', 0, 1], history: ['history', 1, 0] },
  do: { freeze: ['freeze', 1, 0], unfreeze: ['unfreeze', 1, 0], rollback: ['rollback', 2, 0], pull: ['pull', 0, 1] },
};
const VERBS: Record<string, string> = { list: 'list', ls: 'list', l: 'list', do: 'do', d: 'do' };
const SUBJECTS: Record<string, string> = {
  machines: 'machines', machine: 'machines', m: 'machines', service: 'services', services: 'services', s: 'services',
  history: 'history', h: 'history', freeze: 'freeze', f: 'freeze', unfreeze: 'unfreeze', u: 'unfreeze',
  rollback: 'rollback', r: 'rollback', pull: 'pull', p: 'pull',
};

/**
 * `@host`, `@host:port`, `@[v6]:port`, `@v6` or `@http(s)://…` → a base URL (no trailing slash).
 * Throws UsageError.
 */
export function parseTarget(at: string): string {
  if (!at.startsWith('@') || at.length === 1) throw new UsageError(`expected @HOST, got ${JSON.stringify(at)}`);
  const target = at.slice(1);
  let url: URL;
  try {
    if (/^https?:\/\//i.test(target)) url = new URL(target);
    else if (target.startsWith('[')) url = new URL(`http://${target.includes(']:') ? target : `${target}:${DEFAULT_PORT}`}`);
    else if (target.split(':').length > 2) url = new URL(`http://[${target}]:${DEFAULT_PORT}`);
    else if (target.includes(':')) {
      if (!/:\d{1,5}$/.test(target)) throw new Error('bad port');
      url = new URL(`http://${target}`);
    } else url = new URL(`http://${target}:${DEFAULT_PORT}`);
  } catch {
    throw new UsageError(`bad @HOST ${JSON.stringify(at)}: want host, host:port or an http(s):// URL`);
  }
  return `${url.protocol}//${url.host}${url.pathname}`.replace(/\/+$/, '');
}

/** Parses the arguments after the program name. Throws UsageError. */
export function parseCommand(args: string[]): Command {
  let parsed;
  try {
    parsed = parseArgs({
      args,
      allowPositionals: true,
      options: {
        identity: { type: 'string', short: 'i' },
        json: { type: 'boolean', short: 'm' },
        reason: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    });
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  const { values, positionals } = parsed;
  if (values.help) return { kind: 'help' };
  const [verbArg, subjectArg, at, ...rest] = positionals;
  if (verbArg === undefined) throw new UsageError('missing command');
  const verb = VERBS[verbArg];
  if (verb === undefined) throw new UsageError(`unknown command ${JSON.stringify(verbArg)}`);
  const rule = GRAMMAR[verb]![SUBJECTS[subjectArg ?? ''] ?? ''];
  if (rule === undefined) throw new UsageError(subjectArg === undefined ? `${verb}: missing what` : `${verb}: unknown ${JSON.stringify(subjectArg)}`);
  const [kind, required, optional] = rule;
  if (at === undefined) throw new UsageError(`${verb} ${kind}: missing @HOST`);
  const base = parseTarget(at);
  if (rest.length < required || rest.length > required + optional) {
    throw new UsageError(`${verb} ${kind}: want ${required}${optional ? `–${required + optional}` : ''} argument(s) after @HOST, got ${rest.length}`);
  }
  if (rest.includes('')) throw new UsageError(`${verb} ${kind}: empty argument`);
  if (values.reason !== undefined && kind !== 'freeze') throw new UsageError('--reason goes with do freeze only');
  return {
    kind,
    base,
    json: values.json ?? false,
    ...(rest[0] === undefined ? {} : { service: rest[0] }),
    ...(rest[1] === undefined ? {} : { hash: rest[1] }),
    ...(values.reason === undefined ? {} : { reason: values.reason }),
    ...(values.identity === undefined ? {} : { identity: values.identity }),
  };
}

/** A relative age like gitopper's SINCE column: `45s`, `3m12s`, `2h3m`, `4d2h` (never negative). */
export function age(ms: number): string {
  const s = Math.max(0, Math.floor(ms / 1000));
  const [d, h, m, sec] = [Math.floor(s / 86400), Math.floor((s % 86400) / 3600), Math.floor((s % 3600) / 60), s % 60];
  if (d > 0) return `${d}d${h}h`;
  if (h > 0) return `${h}h${m}m`;
  if (m > 0) return `${m}m${sec}s`;
  return `${sec}s`;
}

/** Columns padded to their widest cell, two spaces apart, no trailing blanks; one line per row. */
export function table(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i]!)).join('  ').trimEnd();
  return [header, ...rows].map(line).join('\n') + '\n';
}

/** `# MACHINE ACTUAL`, rows numbered from 0 as gitopper does. */
export function machineTable(body: ListMachines): string {
  return table(['#', 'MACHINE', 'ACTUAL'], body.machines.map((m, i) => [String(i), m.machine, m.actual]));
}

/** `# SERVICE HASH STATE INFO SINCE`; SINCE is the age of `change` at `now` (raw when unparseable). */
export function serviceTable(body: ListServices, now: Date): string {
  const since = (change: string) => {
    const t = parseChange(change);
    return t === undefined ? change : age(now.getTime() - t.getTime());
  };
  const rows = body.services.map((s, i) => [String(i), s.service, s.hash, s.state, s.stateinfo, since(s.change)]);
  return table(['#', 'SERVICE', 'HASH', 'STATE', 'INFO', 'SINCE'], rows);
}

/** `# HASH STATE INFO TRIGGER BY TOOK AGO`, newest first as served. */
export function historyTable(body: ListHistory, now: Date): string {
  const rows = body.history.map((h, i) => {
    const ago = Date.parse(h.time);
    return [String(i), h.hash, h.state, h.stateinfo, h.trigger, h.by ?? '-', `${h.seconds.toFixed(1)}s`, Number.isNaN(ago) ? h.time : age(now.getTime() - ago)];
  });
  return table(['#', 'HASH', 'STATE', 'INFO', 'TRIGGER', 'BY', 'TOOK', 'AGO'], rows);
}

/** Runs `cmd` against `client` and returns what to print. Throws ClientError. */
export async function execute(cmd: Exclude<Command, { kind: 'help' }>, client: Client, now: Date): Promise<string> {
  const service = cmd.service ?? '';
  const out = <T>(body: T, text: (b: T) => string): string => (cmd.json ? `${JSON.stringify(body)}\n` : text(body));
  const services = (b: ListServices) => serviceTable(b, now);
  switch (cmd.kind) {
    case 'machines':
      return out(await client.listMachines(), machineTable);
    case 'services':
      return out(await client.listServices(cmd.service), services);
    case 'history':
      return out(await client.history(service), (b: ListHistory) => historyTable(b, now));
    case 'freeze':
      return out(await client.freeze(service, cmd.reason), services);
    case 'unfreeze':
      return out(await client.unfreeze(service), services);
    case 'rollback':
      return out(await client.rollback(service, cmd.hash ?? ''), services);
    case 'pull':
      return out(await client.pull(cmd.service), () => `pull accepted: ${cmd.service ?? 'all services'}\n`);
  }
}
