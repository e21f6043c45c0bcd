/**
 * gitopperctl's command line → a {@link Command}: the usage text, `@HOST` targets and gitopper's
 * `VERB SUBJECT @HOST... ARGS` grammar (DESIGN.md §2 "gitopperctl syntax"), plus this project's
 * `history` alias and several `@HOST`s in one call. Throws {@link UsageError}; no I/O.
 */
import { parseArgs } from 'node:util';
import { GitopperError } from '../errors/gitopper-error.js';

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
  forget                @HOST...            remove the hosts' pinned TLS certificates
                                            from known_hosts (nothing is sent)

@HOST is host, host:port (default port ${DEFAULT_PORT}), [v6]:port, or an https:// URL
(https is the default; http://127.0.0.1:PORT for an agent run with --insecure-http).
Every argument that starts with @ is a host; several are asked at once and
answer in one table with a HOST column (with -m: {"HOST": answer, ...}).

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

/** `forget @HOST...`: remove the hosts' certificate pins from known_hosts; no request is sent. */
export interface ForgetCommand {
  readonly kind: 'forget';
  /** At least one; distinct base URLs. */
  readonly targets: readonly Target[];
}

/** What to do, as parsed from the command line. `targets` are the hosts, in the order written. */
export type Command =
  | { readonly kind: 'help' }
  | ForgetCommand
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

/** A command that talks to hosts (not `help` or `forget`). */
export type HostCommand = Exclude<Command, { kind: 'help' } | ForgetCommand>;

type Kind = HostCommand['kind'] | 'forget';
/** kind, required args besides the hosts, optional args. */
type Rule = readonly [Kind, number, number];
/** verb → subject alias → rule. */
const GRAMMAR: Record<string, Record<string, Rule>> = {
  list: { machines: ['machines', 0, 0], services: ['services', 0, 1], history: ['history', 1, 0] },
  do: { freeze: ['freeze', 1, 0], unfreeze: ['unfreeze', 1, 0], rollback: ['rollback', 2, 0], pull: ['pull', 0, 1] },
};
/** Verbs that take no subject: `history|h @HOST... SERVICE` is `list history`; `forget @HOST...`. */
const SOLO: Record<string, Rule> = { history: ['history', 1, 0], forget: ['forget', 0, 0] };
const VERBS: Record<string, string> = { list: 'list', ls: 'list', l: 'list', do: 'do', d: 'do', history: 'history', h: 'history', forget: 'forget' };
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
  if (kind === 'forget') return { kind, targets };
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
