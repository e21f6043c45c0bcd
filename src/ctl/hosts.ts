/**
 * gitopperctl's hosts file (docs/gitopperctl.md "Host groups"): named groups of `@HOST`s, so
 * `@web` can stand for `@web1 @web2:2223`. Plain text, `#` comments and blank lines; a line
 * `NAME: HOST HOST...` defines group NAME (a member is a host spec as after `@`, or `@OTHER` to
 * include group OTHER); a line with a single HOST names a known host (for completion scripts).
 * The whole file is checked when it is loaded (syntax, hosts, unknown groups, cycles): a bad file
 * is a {@link HostsFileError} naming the file, the line and the fix.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { parseTarget, UsageError } from './args.js';

/** A hosts file that does not parse, or cannot be read: exit 2, like any usage error. */
export class HostsFileError extends UsageError {}

/** One group of the file. */
export interface HostGroup {
  /** The line (1-based) that defines it. */
  readonly line: number;
  /** As written, in file order: host specs (without `@`) and `@OTHER` group references. */
  readonly members: readonly string[];
}

/** A parsed, checked hosts file. */
export interface HostGroups {
  /** The file it came from (for messages). */
  readonly file: string;
  /** Group name → group. */
  readonly groups: ReadonlyMap<string, HostGroup>;
  /** The lines with a single host, as written, in file order. */
  readonly known: readonly string[];
}

/** Group names: a letter, digit or `_` first, then those, `.` or `-` (no `:` `/` `@`, which hosts use). */
const GROUP_NAME = /^[A-Za-z0-9_][A-Za-z0-9_.-]*$/;

/**
 * Where the hosts file is: `option` (`--hosts FILE`), else `$GITOPPER_HOSTS`, else
 * `$XDG_CONFIG_HOME/gitopper/hosts` (an absolute XDG_CONFIG_HOME only), else
 * `~/.config/gitopper/hosts`. `explicit` is true for the first two (a missing file is then an error).
 */
export function hostsFileOf(
  option: string | undefined,
  env: { readonly HOME?: string; readonly XDG_CONFIG_HOME?: string; readonly GITOPPER_HOSTS?: string },
  home: string,
): { readonly file: string; readonly explicit: boolean } {
  if (option !== undefined) return { file: option, explicit: true };
  if (env.GITOPPER_HOSTS) return { file: env.GITOPPER_HOSTS, explicit: true };
  const base = env.XDG_CONFIG_HOME && path.isAbsolute(env.XDG_CONFIG_HOME) ? env.XDG_CONFIG_HOME : path.join(env.HOME ?? home, '.config');
  return { file: path.join(base, 'gitopper', 'hosts'), explicit: false };
}

/**
 * Reads and parses `file`. A missing file is `undefined` (no groups: `@x` is host x) unless
 * `explicit`; then, and for any other read error, throws HostsFileError. Throws what
 * {@link parseHosts} throws.
 */
export function loadHosts(file: string, explicit: boolean): HostGroups | undefined {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    if (e.code === 'ENOENT' && !explicit) return undefined;
    throw new HostsFileError(`cannot read hosts file ${file}: ${e.message}${e.code === 'ENOENT' ? ' (given with --hosts or GITOPPER_HOSTS: create it, or point there at an existing file)' : ''}`);
  }
  return parseHosts(text, file);
}

/**
 * Parses the text of a hosts file (`file` names it in messages) and checks it whole: every host
 * spec parses as after `@`, every `@OTHER` names a group of the file, no group includes itself
 * (directly or through others), no group is defined twice, none is empty. Throws HostsFileError
 * `hosts file FILE line N: what is wrong: how to fix it`.
 */
export function parseHosts(text: string, file: string): HostGroups {
  const groups = new Map<string, HostGroup>();
  const known: string[] = [];
  const fail = (line: number, message: string): never => {
    throw new HostsFileError(`hosts file ${file} line ${line}: ${message}`);
  };
  const checkHost = (spec: string, line: number) => {
    try {
      parseTarget(`@${spec}`);
    } catch {
      fail(line, `${JSON.stringify(spec)} is not a host: write host, host:port, [v6]:port or an http(s):// URL (as after @ on the command line)`);
    }
  };
  text.split(/\r?\n/).forEach((raw, i) => {
    const line = i + 1;
    const words = raw.replace(/#.*$/, '').trim().split(/\s+/).filter(Boolean);
    const [first, ...rest] = words;
    if (first === undefined) return;
    if (!first.endsWith(':')) {
      if (rest.length > 0) fail(line, `${JSON.stringify(words.join(' '))} is neither "NAME: HOST..." nor a single HOST: to make a group, write "NAME: ${words.join(' ')}"`);
      if (first.startsWith('@')) fail(line, `${JSON.stringify(first)}: a known host is written without @ (a group reference belongs after "NAME:")`);
      const glued = /^([A-Za-z0-9_][A-Za-z0-9_.-]*):(?!\d+$)(.+)$/.exec(first);
      if (glued && first.split(':').length === 2 && !/^https?:\/\//i.test(first)) fail(line, `${JSON.stringify(first)} is not a host: to define group ${glued[1]}, put a blank after the colon ("${glued[1]}: ${glued[2]}")`);
      checkHost(first, line);
      known.push(first);
      return;
    }
    const name = first.slice(0, -1);
    if (!GROUP_NAME.test(name)) fail(line, `bad group name ${JSON.stringify(name)}: use letters, digits, "_", "." and "-", starting with a letter, digit or "_"`);
    const twice = groups.get(name);
    if (twice !== undefined) fail(line, `group ${name} is already defined on line ${twice.line}: merge the two lines`);
    if (rest.length === 0) fail(line, `group ${name} has no hosts: list them after "${name}:", or remove the line`);
    for (const m of rest) if (!m.startsWith('@')) checkHost(m, line);
    groups.set(name, { line, members: rest });
  });
  for (const [name, g] of groups) {
    for (const m of g.members) {
      if (m.startsWith('@') && !groups.has(m.slice(1))) fail(g.line, `group ${name} includes ${m}, which is not a group of this file: define "${m.slice(1)}: HOST..." or drop the @ to mean a host`);
    }
  }
  const result = { file, groups, known };
  for (const name of groups.keys()) expandGroup(result, name);
  return result;
}

/**
 * The hosts of group `name` (host specs without `@`), with included groups expanded in place, in
 * file order, each spec once (the first time it appears). Throws HostsFileError on a cycle,
 * naming the path (`a → b → a`) and the line to change. `name` must be a group of `hosts`.
 */
export function expandGroup(hosts: HostGroups, name: string): string[] {
  const out: string[] = [];
  const walk = (group: string, path: readonly string[]) => {
    const g = hosts.groups.get(group)!;
    for (const m of g.members) {
      if (!m.startsWith('@')) {
        if (!out.includes(m)) out.push(m);
        continue;
      }
      const inner = m.slice(1);
      const chain = [...path, group];
      if (chain.includes(inner)) {
        const cycle = [...chain.slice(chain.indexOf(inner)), inner].join(' → ');
        throw new HostsFileError(`hosts file ${hosts.file} line ${g.line}: groups include each other (${cycle}): remove ${m} from group ${group}`);
      }
      walk(inner, chain);
    }
  };
  walk(name, []);
  return out;
}

/**
 * What `parseCommand` needs from the hosts file: given the `--hosts` option (or undefined), a
 * function from a name to its group's hosts (undefined when it is no group, or there is no file).
 * The file is read at most once, on the first `@NAME`. Throws HostsFileError (from the returned
 * function) for a bad or, when explicit, missing file.
 */
export function groupResolver(
  env: { readonly HOME?: string; readonly XDG_CONFIG_HOME?: string; readonly GITOPPER_HOSTS?: string },
  home: string,
): (option: string | undefined) => (name: string) => readonly string[] | undefined {
  return (option) => {
    let hosts: HostGroups | undefined | null = null;
    return (name) => {
      if (hosts === null) {
        const { file, explicit } = hostsFileOf(option, env, home);
        hosts = loadHosts(file, explicit);
      }
      return hosts !== undefined && hosts.groups.has(name) ? expandGroup(hosts, name) : undefined;
    };
  };
}
