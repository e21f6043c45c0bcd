/**
 * gitopperctl's parsing, requests and printing, without argv or exit codes (those stay in
 * `cmd/gitopperctl.ts`, DESIGN.md §3). Syntax and tables are gitopper's (DESIGN.md §2
 * "gitopperctl syntax"); `list history` (and its top-level alias `history`), `do pull` without a
 * service and several `@HOST`s in one call are this project's additions.
 */
import Table from 'cli-table3';
import { parseArgs } from 'node:util';
import { Client, ClientError } from './client.js';
import { parseChange, type ListHistory, type ListMachines, type ListServices, type PullAccepted } from './wire.js';

/** The default port of `@host` (gitopper's remote interface, `-s :2222`). */
export const DEFAULT_PORT = 2222;

/** The usage text printed with usage errors and `--help`. */
export const USAGE = `usage: gitopperctl [-i KEY] [-m] COMMAND @HOST... [ARGS]

commands:
  list|ls|l machines|m  @HOST...            machines these hosts act as
  list|ls|l service|s   @HOST... [SERVICE]  services and their state
  list|ls|l history|h   @HOST... SERVICE    the service's last deployments
  history|h             @HOST... SERVICE    the same
  do|d freeze|f         @HOST... SERVICE [--reason TEXT]
  do|d unfreeze|u       @HOST... SERVICE
  do|d rollback|r       @HOST... SERVICE HASH
  do|d pull|p           @HOST... [SERVICE]  pull now (all services without SERVICE)

@HOST is host, host:port (default port ${DEFAULT_PORT}), [v6]:port, or an https:// URL
(https is the default; http://127.0.0.1:PORT for an agent run with --insecure-http).
Every argument that starts with @ is a host; several are asked at once and
answer in one table with a HOST column (with -m: {"HOST": answer, ...}).

Requests are signed with your SSH key (HTTP Message Signatures): the key given
with -i, else the keys of the running ssh-agent (SSH_AUTH_SOCK), tried in turn.
A passphrase-protected -i key is asked for on the terminal, or read from
GITOPPER_KEY_PASSPHRASE. An agent's TLS certificate is pinned on first use in
~/.config/gitopper/known_hosts (a changed one is refused), unless --ca is given.

options:
  -i, --identity KEY  SSH private key file to sign with (default: ssh-agent)
      --ca FILE       verify agents' certificates against this CA (PEM) instead of pinning
  -m, --json          print the server's JSON instead of a table
      --reason TEXT   why, for freeze (shown as the state info)
  -h, --help          this text`;

/** A command line that does not parse; `cmd/` prints it with {@link USAGE} and exits 2. */
export class UsageError extends Error {}

/** One `@HOST` of the command line. */
export interface Target {
  /** As written, without the `@` (`web1`, `web2:2223`, `[::1]`): the HOST column and the `-m` key. */
  readonly host: string;
  /** The API's base URL ({@link parseTarget}). */
  readonly base: string;
}

/** What to do, as parsed from the command line. `targets` are the hosts, in the order written. */
export type Command =
  | { readonly kind: 'help' }
  | {
      readonly kind: 'machines' | 'services' | 'history' | 'freeze' | 'unfreeze' | 'rollback' | 'pull';
      /** At least one; distinct base URLs. */
      readonly targets: readonly Target[];
      readonly service?: string;
      readonly hash?: string;
      readonly reason?: string;
      /** `-m`: print JSON. */
      readonly json: boolean;
      /** `-i`: the private key file to sign with; absent = ssh-agent. */
      readonly identity?: string;
      /** `--ca`: PEM file of the CA that signed the agents' certificates (no pinning). */
      readonly ca?: string;
    };

/** A command that talks to hosts (not `help`). */
export type HostCommand = Exclude<Command, { kind: 'help' }>;

type Kind = HostCommand['kind'];
/** kind, required args besides the hosts, optional args. */
type Rule = readonly [Kind, number, number];
/** verb → subject alias → rule. */
const GRAMMAR: Record<string, Record<string, Rule>> = {
  list: { machines: ['machines', 0, 0], services: ['services', 0, 1], history: ['history', 1, 0] },
  do: { freeze: ['freeze', 1, 0], unfreeze: ['unfreeze', 1, 0], rollback: ['rollback', 2, 0], pull: ['pull', 0, 1] },
};
/** Verbs that take no subject: `history|h @HOST... SERVICE` is `list history`. */
const SOLO: Record<string, Rule> = { history: ['history', 1, 0] };
const VERBS: Record<string, string> = { list: 'list', ls: 'list', l: 'list', do: 'do', d: 'do', history: 'history', h: 'history' };
const SUBJECTS: Record<string, string> = {
  machines: 'machines', machine: 'machines', m: 'machines', service: 'services', services: 'services', s: 'services',
  history: 'history', h: 'history', freeze: 'freeze', f: 'freeze', unfreeze: 'unfreeze', u: 'unfreeze',
  rollback: 'rollback', r: 'rollback', pull: 'pull', p: 'pull',
};

/**
 * `@host`, `@host:port`, `@[v6]:port`, `@v6` (https, default port 2222) or `@http(s)://…` → a
 * base URL (no trailing slash). Throws UsageError.
 */
export function parseTarget(at: string): string {
  if (!at.startsWith('@') || at.length === 1) throw new UsageError(`expected @HOST, got ${JSON.stringify(at)}`);
  const target = at.slice(1);
  let url: URL;
  try {
    if (/^https?:\/\//i.test(target)) url = new URL(target);
    else if (target.startsWith('[')) url = new URL(`https://${target.includes(']:') ? target : `${target}:${DEFAULT_PORT}`}`);
    else if (target.split(':').length > 2) url = new URL(`https://[${target}]:${DEFAULT_PORT}`);
    else if (target.includes(':')) {
      if (!/:\d{1,5}$/.test(target)) throw new Error('bad port');
      url = new URL(`https://${target}`);
    } else url = new URL(`https://${target}:${DEFAULT_PORT}`);
  } catch {
    throw new UsageError(`bad @HOST ${JSON.stringify(at)}: want host, host:port or an http(s):// URL`);
  }
  return `${url.protocol}//${url.host}${url.pathname}`.replace(/\/+$/, '');
}

/**
 * Parses the arguments after the program name. Every positional that starts with `@` is a host
 * (anywhere after the verb); the others are the verb, the subject and the command's arguments in
 * their order. Throws UsageError.
 */
export function parseCommand(args: string[]): Command {
  let parsed;
  try {
    parsed = parseArgs({
      args,
      allowPositionals: true,
      options: {
        identity: { type: 'string', short: 'i' },
        ca: { type: 'string' },
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
  const [verbArg, ...after] = positionals;
  if (verbArg === undefined) throw new UsageError('missing command');
  const verb = VERBS[verbArg];
  if (verb === undefined) throw new UsageError(`unknown command ${JSON.stringify(verbArg)}`);
  let rule = SOLO[verb];
  let words = after.filter((a) => !a.startsWith('@'));
  if (rule === undefined) {
    const subjectArg = words[0];
    rule = GRAMMAR[verb]![SUBJECTS[subjectArg ?? ''] ?? ''];
    if (rule === undefined) throw new UsageError(subjectArg === undefined ? `${verb}: missing what` : `${verb}: unknown ${JSON.stringify(subjectArg)}`);
    words = words.slice(1);
  }
  const [kind, required, optional] = rule;
  const what = verb === kind ? verb : `${verb} ${kind}`;
  const targets: Target[] = [];
  for (const at of after.filter((a) => a.startsWith('@'))) {
    const base = parseTarget(at);
    const twice = targets.find((t) => t.base === base);
    if (twice !== undefined) throw new UsageError(`${what}: @${twice.host} and ${at} are the same host (${base})`);
    targets.push({ host: at.slice(1), base });
  }
  if (targets.length === 0) throw new UsageError(`${what}: missing @HOST`);
  if (words.length < required || words.length > required + optional) {
    throw new UsageError(`${what}: want ${required}${optional ? `–${required + optional}` : ''} argument(s) after @HOST, got ${words.length}`);
  }
  if (words.includes('')) throw new UsageError(`${what}: empty argument`);
  if (values.reason !== undefined && kind !== 'freeze') throw new UsageError('--reason goes with do freeze only');
  return {
    kind,
    targets,
    json: values.json ?? false,
    ...(words[0] === undefined ? {} : { service: words[0] }),
    ...(words[1] === undefined ? {} : { hash: words[1] }),
    ...(values.reason === undefined ? {} : { reason: values.reason }),
    ...(values.identity === undefined ? {} : { identity: values.identity }),
    ...(values.ca === undefined ? {} : { ca: values.ca }),
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

/** A table before printing: header cells and one row of cells per item. */
export interface Sheet {
  readonly header: string[];
  readonly rows: string[][];
}

/** cli-table3 without borders: columns two spaces apart, no padding, no colours. */
const BORDERLESS = {
  chars: {
    top: '', 'top-mid': '', 'top-left': '', 'top-right': '',
    bottom: '', 'bottom-mid': '', 'bottom-left': '', 'bottom-right': '',
    left: '', 'left-mid': '', mid: '', 'mid-mid': '', right: '', 'right-mid': '',
    middle: '  ',
  },
  style: { head: [], border: [], 'padding-left': 0, 'padding-right': 0 },
};

/** Control characters (newlines, tabs, terminal escapes) from the server become blanks: one line per row. */
const cell = (text: string): string => text.replace(/[\u0000-\u001f\u007f-\u009f]/g, ' ');

/**
 * Columns padded to their widest cell (display width, so wide characters line up), two spaces
 * apart, no trailing blanks; one line per row. Drawn by cli-table3 without borders.
 */
export function table(header: string[], rows: string[][]): string {
  const t = new Table({ head: header.map(cell), ...BORDERLESS });
  t.push(...rows.map((r) => header.map((_, i) => cell(r[i] ?? ''))));
  return t.toString().split('\n').map((line) => line.trimEnd()).join('\n') + '\n';
}

/** `# MACHINE ACTUAL`, rows numbered from 0 as gitopper does. */
export function machineSheet(body: ListMachines): Sheet {
  return { header: ['#', 'MACHINE', 'ACTUAL'], rows: body.machines.map((m, i) => [String(i), m.machine, m.actual]) };
}

/** `# SERVICE HASH STATE INFO SINCE`; SINCE is the age of `change` at `now` (raw when unparseable). */
export function serviceSheet(body: ListServices, now: Date): Sheet {
  const since = (change: string) => {
    const t = parseChange(change);
    return t === undefined ? change : age(now.getTime() - t.getTime());
  };
  const rows = body.services.map((s, i) => [String(i), s.service, s.hash, s.state, s.stateinfo, since(s.change)]);
  return { header: ['#', 'SERVICE', 'HASH', 'STATE', 'INFO', 'SINCE'], rows };
}

/** `# HASH STATE INFO TRIGGER BY TOOK AGO`, newest first as served. */
export function historySheet(body: ListHistory, now: Date): Sheet {
  const rows = body.history.map((h, i) => {
    const ago = Date.parse(h.time);
    return [String(i), h.hash, h.state, h.stateinfo, h.trigger, h.by ?? '-', `${h.seconds.toFixed(1)}s`, Number.isNaN(ago) ? h.time : age(now.getTime() - ago)];
  });
  return { header: ['#', 'HASH', 'STATE', 'INFO', 'TRIGGER', 'BY', 'TOOK', 'AGO'], rows };
}

/** `PULL` with one row `accepted: SERVICE` (or `all services`); the several-host form of `do pull`. */
export function pullSheet(body: PullAccepted, service: string | undefined): Sheet {
  return { header: ['PULL'], rows: [[`accepted: ${service ?? body.service ?? 'all services'}`]] };
}

/** The `list machines` table of one host. */
export function machineTable(body: ListMachines): string {
  const { header, rows } = machineSheet(body);
  return table(header, rows);
}

/** The `list service` table of one host (also printed by freeze, unfreeze and rollback). */
export function serviceTable(body: ListServices, now: Date): string {
  const { header, rows } = serviceSheet(body, now);
  return table(header, rows);
}

/** The `list history` table of one host. */
export function historyTable(body: ListHistory, now: Date): string {
  const { header, rows } = historySheet(body, now);
  return table(header, rows);
}

/** One host's answer, as the server sent it. */
export type Answer = ListMachines | ListServices | ListHistory | PullAccepted;

/** What {@link execute} made of a command: the text for stdout, and the hosts that failed. */
export interface Outcome {
  /** Tables or JSON of the hosts that answered; "" when none did. */
  readonly stdout: string;
  /** The failing hosts, in the order written, with why. */
  readonly failures: { readonly host: string; readonly error: ClientError }[];
}

/** Sends `cmd`'s request to one host. Throws ClientError. */
export function request(cmd: HostCommand, client: Client): Promise<Answer> {
  const service = cmd.service ?? '';
  switch (cmd.kind) {
    case 'machines':
      return client.listMachines();
    case 'services':
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
 * what to print and which hosts failed. Only ClientErrors count as a host's failure; anything
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
  return { stdout: render(cmd, answers, now), failures };
}

/** The stderr line of a failed request, without the `gitopperctl: ` prefix or host. */
export function describeError(err: ClientError): string {
  return `${err.message}${err.status === 0 ? '' : ` (HTTP ${err.status} ${err.code})`}`;
}
