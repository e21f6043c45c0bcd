/**
 * gitopperctl's command line → a {@link Command}: the usage text, `@HOST` targets and gitopper's
 * `VERB SUBJECT @HOST... ARGS` grammar (as miekg/gitopper's gitopperctl parses it; docs/gitopperctl.md), plus this project's
 * `history` alias, `status`, `forget`, `--version`, several `@HOST`s in one call and `@NAME` host
 * groups (expanded through a {@link GroupsOf} the caller gives: `hosts.ts` reads the file).
 * Throws {@link UsageError}; no I/O of its own.
 */
import { parseArgs } from 'node:util';
import { GitopperError } from '../errors/gitopper-error.js';

/** The default port of `@host` (gitopper's remote interface, `-s :2222`). */
export const DEFAULT_PORT = 2222;

/** The usage text printed with usage errors and `--help`. */
export const USAGE = `usage: gitopperctl [-i KEY] [-m] [--hosts FILE] COMMAND @HOST... [ARGS]

commands:
  list|ls|l machines|m  @HOST...            machines these hosts act as
  list|ls|l service|s   @HOST... [SERVICE]  services and their state
  list|ls|l history|h   @HOST... SERVICE    the service's last deployments
  history|h             @HOST... SERVICE    the same
  do|d freeze|f         @HOST... SERVICE [--reason TEXT]
  do|d unfreeze|u       @HOST... SERVICE
  do|d rollback|r       @HOST... SERVICE HASH
  do|d pull|p           @HOST... [SERVICE]  pull now (all services without SERVICE)
  status                @HOST...            every service of every host in one table,
                                            problems first; exit 1 unless all are OK
  forget                @HOST...            remove the hosts' pinned TLS certificates
                                            from known_hosts (nothing is sent)

@HOST is host, host:port (default port ${DEFAULT_PORT}), [v6]:port, or an https:// URL
(https is the default; http://127.0.0.1:PORT for an agent run with --insecure-http).
Every argument that starts with @ is a host; several are asked at once and
answer in one table with a HOST column (with -m: {"HOST": answer, ...}).
@NAME is the group NAME of the hosts file (~/.config/gitopper/hosts, or
--hosts FILE, or GITOPPER_HOSTS), a line "NAME: HOST HOST... @OTHERGROUP".

Requests are signed with your SSH key (HTTP Message Signatures): the key given
with -i, else the keys of the running ssh-agent (SSH_AUTH_SOCK), tried in turn.
A passphrase-protected -i key is asked for on the terminal, or read from
GITOPPER_KEY_PASSPHRASE. An agent's TLS certificate is pinned on first use in
~/.config/gitopper/known_hosts (a changed one is refused, until forget), unless
--ca is given.

options:
  -i, --identity KEY  SSH private key file to sign with (default: ssh-agent)
      --ca FILE       verify agents' certificates against this CA (PEM) instead of pinning
  -m, --json          print the server's JSON instead of a table
      --reason TEXT   why, for freeze (shown as the state info)
      --hosts FILE    the hosts file with the @NAME groups
  -V, --version       print gitopperctl's version
  -h, --help          this text`;

/** A command line that does not parse; `cmd/` prints it with {@link USAGE} and exits 2. */
export class UsageError extends GitopperError {
  readonly code = 'USAGE';
}

/** One `@HOST` of the command line. */
export interface Target {
  /** As written, without the `@` (`web1`, `web2:2223`, `[::1]`): the HOST column and the `-m` key. */
  readonly host: string;
  /** The API's base URL ({@link parseTarget}). */
  readonly base: string;
}

/** `forget @HOST...`: remove the hosts' certificate pins from the pin file (`tls-pins.ts`); no request is sent. */
export interface ForgetCommand {
  readonly kind: 'forget';
  /** At least one; distinct base URLs. */
  readonly targets: readonly Target[];
}

/** What to do, as parsed from the command line. `targets` are the hosts, in the order written. */
export type Command =
  | { readonly kind: 'help' }
  | { readonly kind: 'version' }
  | ForgetCommand
  | {
      readonly kind: 'machines' | 'services' | 'history' | 'freeze' | 'unfreeze' | 'rollback' | 'pull' | 'status';
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

/** A command that talks to hosts (not `help`, `version` or `forget`). */
export type HostCommand = Exclude<Command, { kind: 'help' } | { kind: 'version' } | ForgetCommand>;

/**
 * How `@NAME` finds its group: given the `--hosts` option (undefined without it), a function from
 * a name to the host specs of its group (undefined: not a group, `@NAME` is host NAME). It may
 * throw UsageError (a bad hosts file). `hosts.ts` makes the real one ({@link parseCommand}).
 */
export type GroupsOf = (hostsOption: string | undefined) => (name: string) => readonly string[] | undefined;

type Kind = HostCommand['kind'] | 'forget';
/** kind, required args besides the hosts, optional args. */
type Rule = readonly [Kind, number, number];
/** verb → subject alias → rule. */
const GRAMMAR: Record<string, Record<string, Rule>> = {
  list: { machines: ['machines', 0, 0], services: ['services', 0, 1], history: ['history', 1, 0] },
  do: { freeze: ['freeze', 1, 0], unfreeze: ['unfreeze', 1, 0], rollback: ['rollback', 2, 0], pull: ['pull', 0, 1] },
};
/** Verbs that take no subject: `history|h @HOST... SERVICE` is `list history`; `forget @HOST...`; `status @HOST...`. */
const SOLO: Record<string, Rule> = { history: ['history', 1, 0], forget: ['forget', 0, 0], status: ['status', 0, 0] };
const VERBS: Record<string, string> = {
  list: 'list', ls: 'list', l: 'list', do: 'do', d: 'do', history: 'history', h: 'history', forget: 'forget', status: 'status', st: 'status',
};
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
 * (anywhere after the verb), or the group of that name when `groupsOf` knows it (its hosts in file
 * order; a host that a group brings in twice, or that is also written, is kept once, the first
 * time). The others are the verb, the subject and the command's arguments in their order.
 * Throws UsageError (also what `groupsOf` throws).
 */
export function parseCommand(args: string[], groupsOf?: GroupsOf): Command {
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
        hosts: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
        version: { type: 'boolean', short: 'V' },
      },
    });
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  const { values, positionals } = parsed;
  if (values.help) return { kind: 'help' };
  if (values.version) return { kind: 'version' };
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
  const group = groupsOf?.(values.hosts);
  const targets: (Target & { grouped: boolean })[] = [];
  for (const at of after.filter((a) => a.startsWith('@'))) {
    const members = at.length > 1 ? group?.(at.slice(1)) : undefined;
    for (const spec of members ?? [at.slice(1)]) {
      const base = parseTarget(`@${spec}`);
      const twice = targets.find((t) => t.base === base);
      if (twice !== undefined && (members !== undefined || twice.grouped)) continue;
      if (twice !== undefined) throw new UsageError(`${what}: @${twice.host} and ${at} are the same host (${base})`);
      targets.push({ host: spec, base, grouped: members !== undefined });
    }
  }
  if (targets.length === 0) throw new UsageError(`${what}: missing @HOST`);
  if (words.length < required || words.length > required + optional) {
    throw new UsageError(`${what}: want ${required}${optional ? `–${required + optional}` : ''} argument(s) after @HOST, got ${words.length}`);
  }
  if (words.includes('')) throw new UsageError(`${what}: empty argument`);
  if (values.reason !== undefined && kind !== 'freeze') throw new UsageError('--reason goes with do freeze only');
  const written = targets.map(({ host, base }) => ({ host, base }));
  if (kind === 'forget') return { kind, targets: written };
  return {
    kind,
    targets: written,
    json: values.json ?? false,
    ...(words[0] === undefined ? {} : { service: words[0] }),
    ...(words[1] === undefined ? {} : { hash: words[1] }),
    ...(values.reason === undefined ? {} : { reason: values.reason }),
    ...(values.identity === undefined ? {} : { identity: values.identity }),
    ...(values.ca === undefined ? {} : { ca: values.ca }),
  };
}
