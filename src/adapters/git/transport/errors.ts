/**
 * Errors of SSH and local fetches: {@link GitTransportError}, and {@link explainFailure}, which turns
 * ssh's and git's exit codes and stderr into what went wrong and what to do.
 */
import type { PipeSource } from './pipe-command.js';
import type { LocalUpstream, SshUpstream } from '../../../upstream/upstream.js';
import { GitopperError } from '../../../errors/gitopper-error.js';

/** A failed SSH or local fetch: ssh's or git's own reason, and the command that failed. */
export class GitTransportError extends GitopperError {
  readonly code = 'GIT_TRANSPORT';
  constructor(
    message: string,
    override readonly data: {
      readonly upstream: string;
      /** argv of the process (no secrets: key and known_hosts are file names). */
      readonly command: readonly string[];
      readonly exitCode?: number | null;
      /** The process's stderr, trimmed to its last 2 KiB. */
      readonly stderr?: string;
    },
  ) {
    super(message);
  }
}

/** What a failing fetch was: its upstream (parsed and as configured) and the argv it ran. */
export interface FailureContext {
  readonly upstream: SshUpstream | LocalUpstream;
  readonly src: PipeSource;
  /** argv of the process, as given to the error's `data` (empty before the first spawn). */
  readonly command: readonly string[];
}

/** Names the other side at the start of every message: `ssh git@host:2222`, `local repository /srv/r.git`. */
export function transportLabel(u: SshUpstream | LocalUpstream): string {
  return u.kind === 'ssh' ? `ssh ${where(u)}` : `local repository ${u.path}`;
}

/** Where the SSH side is, for messages: `git@host:2222`. */
function where(u: SshUpstream | LocalUpstream): string {
  if (u.kind === 'local') return u.path;
  return `${u.user === undefined ? '' : `${u.user}@`}${u.host}${u.port === undefined ? '' : `:${u.port}`}`;
}

/**
 * A clear error for a session that failed: ssh's and git's reasons turned into what to do. `s` is the
 * process (its stderr, or why it could not start), `errLine` the server's `ERR` pkt-line, if any.
 */
export function explainFailure(ctx: FailureContext, s: { readonly stderr: string; readonly error: Error | undefined }, exitCode: number | null, errLine?: string): GitTransportError {
  const stderr = s.stderr;
  const data = { upstream: ctx.src.upstream, command: ctx.command, exitCode, stderr };
  const u = ctx.upstream;
  const tail = lastLines(stderr);
  let problem: string;
  if (s.error) {
    const code = (s.error as NodeJS.ErrnoException).code;
    problem = code === 'ENOENT' ? `cannot run ${ctx.command[0]}: not installed (${u.kind === 'ssh' ? 'package openssh-client' : 'package git'})` : `cannot run ${ctx.command[0]}: ${s.error.message}`;
  } else if (errLine !== undefined) {
    problem = `the server refused: ${errLine}`;
  } else if (u.kind === 'ssh' && /REMOTE HOST IDENTIFICATION HAS CHANGED/.test(stderr)) {
    problem = `the host key of ${u.host} CHANGED and does not match ${knownHostsWhere(ctx.src)}: refusing to connect (verify the new key out of band before replacing it)`;
  } else if (u.kind === 'ssh' && /Host key verification failed|No \S+ host key is known/.test(stderr)) {
    problem = `host key verification failed: the host key of ${u.host}${u.port === undefined ? '' : ` port ${u.port}`} is not in ${knownHostsWhere(ctx.src)} (strict host key checking is always on; add the verified key, e.g. from ssh-keyscan${u.port === undefined ? '' : ` -p ${u.port}`} ${u.host} after checking its fingerprint)`;
  } else if (u.kind === 'ssh' && /UNPROTECTED PRIVATE KEY FILE|bad permissions/.test(stderr)) {
    problem = `ssh refuses ssh_key ${ctx.src.sshKey ?? ''}: it is readable by others (chmod 600 it)`;
  } else if (u.kind === 'ssh' && /Permission denied \(/.test(stderr)) {
    problem = `the server refused the key (${tail}): ${ctx.src.sshKey === undefined ? 'set ssh_key to the deploy key whose public half the server accepts' : `is the public half of ssh_key ${ctx.src.sshKey} authorised on the server for this user?`}`;
  } else if (u.kind === 'ssh' && /Load key .*: (invalid format|incorrect passphrase|error in libcrypto)/.test(stderr)) {
    problem = `ssh cannot use ssh_key ${ctx.src.sshKey ?? ''} (${tail}): it must be an unencrypted OpenSSH private key`;
  } else if (/does not appear to be a git repository|not a git repository|No such file or directory/.test(stderr)) {
    problem = `no git repository at ${u.path} (${tail})`;
  } else if (/dubious ownership/.test(stderr)) {
    const who = u.kind === 'ssh' ? 'the user the SSH server runs git as' : 'the agent\'s user';
    problem = `git refuses ${u.path} because another user owns it ("dubious ownership"): fix its owner, or mark it safe for ${who} with git config --global --add safe.directory ${u.path}`;
  } else {
    problem = tail === '' ? `${ctx.command[0]} exited with ${exitCode ?? 'a signal'} and said nothing` : `${tail} (${ctx.command[0]} exit ${exitCode ?? 'signal'})`;
  }
  return new GitTransportError(`${transportLabel(ctx.upstream)}: ${problem}`, data);
}

/** The known_hosts files ssh checks, for messages. */
function knownHostsWhere(src: PipeSource): string {
  return src.knownHosts === undefined ? "the system's known_hosts files (~/.ssh/known_hosts, /etc/ssh/ssh_known_hosts)" : `known_hosts ${src.knownHosts}`;
}

/** The last non-empty stderr lines (at most 3, 400 characters), on one line, without ssh's banner noise. */
function lastLines(stderr: string): string {
  const lines = stderr.split('\n').map((l) => l.trim()).filter((l) => l !== '' && !/^@+$/.test(l) && !/^Warning: Permanently added/.test(l));
  return lines.slice(-3).join(' | ').slice(-400);
}
