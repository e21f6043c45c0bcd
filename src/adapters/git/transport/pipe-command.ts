/**
 * The process that serves a `PipeTransport` fetch (`pipe.ts`): the argv of
 * `ssh … git-upload-pack '<path>'` or `git upload-pack -- <path>` (never through a local shell; the remote
 * command quoted the way git does), the checks of ssh_key, known_hosts or the repository before it runs,
 * and its environment.
 */
import { access, constants } from 'node:fs/promises';
import path from 'node:path';
import { UpstreamError, type LocalUpstream, type SshUpstream } from '../../../upstream/upstream.js';

/**
 * `s` quoted for a POSIX shell or git-shell the way git's `sq_quote_buf` does: in single quotes, with
 * `'` written `'\''` and `!` written `'\!'` (git-shell's `sq_dequote` accepts exactly that).
 */
export function sqQuote(s: string): string {
  return `'${s.replace(/'/g, "'\\''").replace(/!/g, "'\\!'")}'`;
}

/**
 * Characters ssh would misread in a key or known_hosts path given with `-i`/`-o` (whitespace splits
 * `UserKnownHostsFile`, `%` starts a token, quotes and backslashes are parsed) and control characters.
 */
export const UNSAFE_SSH_PATH = /[\s"'\\%\x00-\x1f\x7f]/;

/** Where and how a `PipeTransport` fetches. */
export interface PipeSource {
  /** The upstream string (SSH or local). */
  readonly upstream: string;
  /** Private key for SSH (`-i`, with `IdentitiesOnly=yes`); undefined = ssh's default identities. */
  readonly sshKey?: string | undefined;
  /** The only known_hosts file trusted for SSH; undefined = the system's default files. */
  readonly knownHosts?: string | undefined;
}

/**
 * The argv to run for `u`'s upload-pack, ssh options included; never passed through a local shell.
 * With `protocolV2`, ssh gets `-o SendEnv=GIT_PROTOCOL` (as git's own ssh transport does; the server
 * must `AcceptEnv GIT_PROTOCOL`, else it answers v0) and the caller sets `GIT_PROTOCOL=version=2`
 * in the environment ({@link childEnv}).
 */
export function uploadPackCommand(u: SshUpstream | LocalUpstream, src: PipeSource, protocolV2 = false): string[] {
  if (u.kind === 'local') return ['git', 'upload-pack', '--', u.path];
  for (const [key, file] of [['ssh_key', src.sshKey], ['known_hosts', src.knownHosts]] as const) {
    if (file !== undefined && (!path.isAbsolute(file) || UNSAFE_SSH_PATH.test(file))) {
      throw new UpstreamError(`${key} "${file}" must be an absolute path without whitespace, quotes, backslashes or %`, { upstream: src.upstream });
    }
  }
  const args = [
    'ssh',
    '-T', '-x', '-a', // no tty, no X11 or agent forwarding
    '-o', 'BatchMode=yes', // never prompt: no password, no passphrase, no host key question
    '-o', 'StrictHostKeyChecking=yes', // ALWAYS: an unknown or changed host key fails the fetch
    '-o', 'UpdateHostKeys=no', // the known_hosts files are never written
    '-o', 'IdentitiesOnly=yes',
    '-o', 'ConnectTimeout=30',
    '-o', 'ServerAliveInterval=15',
    '-o', 'ServerAliveCountMax=4',
    '-o', 'ClearAllForwardings=yes',
  ];
  if (src.knownHosts !== undefined) args.push('-o', `UserKnownHostsFile=${src.knownHosts}`, '-o', 'GlobalKnownHostsFile=/dev/null');
  if (src.sshKey !== undefined) args.push('-i', src.sshKey);
  if (u.port !== undefined) args.push('-p', String(u.port));
  if (u.user !== undefined) args.push('-l', u.user);
  if (protocolV2) args.push('-o', 'SendEnv=GIT_PROTOCOL');
  args.push('--', u.host, `git-upload-pack ${sqQuote(u.path)}`);
  return args;
}

/**
 * Why the files `u` is fetched with cannot be used, checked before anything is spawned: for SSH, each of
 * `ssh_key` and `known_hosts` that is set must be readable; for a local upstream, the repository must exist.
 * Undefined when they can.
 */
export async function unreadableFiles(u: SshUpstream | LocalUpstream, src: PipeSource): Promise<string | undefined> {
  if (u.kind === 'ssh') {
    for (const [key, file] of [['ssh_key', src.sshKey], ['known_hosts', src.knownHosts]] as const) {
      if (file === undefined) continue;
      const problem = await access(file, constants.R_OK).then(() => undefined, (err: NodeJS.ErrnoException) => `${key} ${file} cannot be read (${err.code ?? err.message})`);
      if (problem !== undefined) return problem;
    }
    return undefined;
  }
  return access(u.path).then(() => undefined, (err: NodeJS.ErrnoException) => `${u.path} cannot be read (${err.code ?? err.message})`);
}

/**
 * The agent's environment without GIT_* variables (a stray GIT_DIR would redirect upload-pack), and C
 * messages; with `protocolV2`, `GIT_PROTOCOL=version=2` (git's Documentation/gitprotocol-v2.txt: how
 * a client asks upload-pack, locally or through ssh's SendEnv, for protocol v2).
 */
export function childEnv(protocolV2 = false): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('GIT_')) env[k] = v;
  env.LC_ALL = 'C';
  if (protocolV2) env.GIT_PROTOCOL = 'version=2';
  return env;
}
