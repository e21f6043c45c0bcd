/**
 * Test rig: a real OpenSSH server (Debian package `openssh-server`) on 127.0.0.1 and a free port, with its
 * own host key, its own `sshd_config` in a temp dir, and a generated deploy key as the only authorised key.
 * It runs as root (the caller checks `canRunSandbox()`), logs to a buffer at LogLevel VERBOSE so tests can
 * count connections and accepted keys, and serves git through the login shell's `git-upload-pack`.
 *
 * `/run/sshd` (sshd's privilege separation directory) is created when missing, as Debian's sshd.service does.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { missingPackage } from './system-packages.js';
import { freePort } from './ports.js';

/** The sshd binary (absolute: sshd re-executes itself). */
export const SSHD = '/usr/sbin/sshd';

/**
 * For node:test's `skip`: why {@link startSshd} cannot work here (`openssh-server` is not installed),
 * or `false`. Tests that start sshd skip with this instead of failing.
 */
export function noSshd(): string | false {
  return missingPackage('openssh-server', SSHD);
}

/** A running sshd; {@link Sshd.close} stops it. */
export interface Sshd {
  readonly port: number;
  /** The host's public key line (`ssh-ed25519 AAAA…`). */
  readonly hostKey: string;
  /** A known_hosts file trusting exactly this server (`[127.0.0.1]:port <key>`). */
  readonly knownHosts: string;
  /** The authorised deploy key (private; its `.pub` is the only entry of AuthorizedKeysFile). */
  readonly deployKey: string;
  /** Another valid key the server does not accept. */
  readonly otherKey: string;
  /** The user the tests log in as (the test process's user: root). */
  readonly user: string;
  /** sshd's log so far (VERBOSE). */
  log(): string;
  /** Number of `Accepted publickey` lines so far. */
  accepted(): number;
  /** Number of connections accepted so far (`Connection from …`). */
  connections(): number;
  /** `ssh://user@127.0.0.1:port<repoPath>`. */
  url(repoPath: string): string;
  close(): Promise<void>;
}

function run(cmd: string, args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(cmd, args, { encoding: 'utf8' }, (err, stdout, stderr) => (err ? reject(new Error(`${cmd} ${args.join(' ')}: ${stderr.trim() || err.message}`)) : resolve(stdout)));
  });
}

/** Make an unencrypted ed25519 key pair at `file` / `file.pub`. */
async function keygen(file: string, comment: string): Promise<void> {
  await run('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', comment, '-f', file]);
}

/** Options of {@link startSshd}. */
export interface SshdOptions {
  /**
   * `AcceptEnv GIT_PROTOCOL` (as real git servers have, so a client can ask for protocol v2);
   * default true. False: a server that ignores the client's GIT_PROTOCOL and answers protocol v0.
   */
  readonly acceptGitProtocol?: boolean;
}

/** Start sshd with its keys and config under `dir` (created). Throws when sshd is not installed (see {@link noSshd}). */
export async function startSshd(dir: string, opts: SshdOptions = {}): Promise<Sshd> {
  const missing = noSshd();
  if (missing) throw new Error(missing);
  await mkdir(dir, { recursive: true });
  await mkdir('/run/sshd', { recursive: true, mode: 0o755 });
  const hostKey = path.join(dir, 'host_ed25519');
  const deployKey = path.join(dir, 'deploy_ed25519');
  const otherKey = path.join(dir, 'other_ed25519');
  await keygen(hostKey, 'rig-host');
  await keygen(deployKey, 'rig-deploy');
  await keygen(otherKey, 'rig-other');
  const user = (await run('id', ['-un'])).trim();
  for (let attempt = 0; ; attempt++) {
    const port = await freePort();
    const config = path.join(dir, 'sshd_config');
    await writeFile(config, [
      `Port ${port}`,
      'ListenAddress 127.0.0.1',
      `HostKey ${hostKey}`,
      `PidFile ${path.join(dir, 'sshd.pid')}`,
      `AuthorizedKeysFile ${deployKey}.pub`,
      'UsePAM no',
      'StrictModes no',
      'PubkeyAuthentication yes',
      'PasswordAuthentication no',
      'KbdInteractiveAuthentication no',
      'PermitRootLogin prohibit-password',
      'AllowTcpForwarding no',
      'X11Forwarding no',
      'PrintMotd no',
      'LogLevel VERBOSE',
      ...(opts.acceptGitProtocol === false ? [] : ['AcceptEnv GIT_PROTOCOL']),
      '',
    ].join('\n'));
    const child: ChildProcess = spawn(SSHD, ['-D', '-e', '-f', config], { stdio: ['ignore', 'ignore', 'pipe'] });
    let log = '';
    child.stderr!.setEncoding('utf8').on('data', (s: string) => (log += s));
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    const listening = await new Promise<boolean>((resolve) => {
      const t0 = Date.now();
      const tick = setInterval(() => {
        if (/Server listening on 127\.0\.0\.1 port/.test(log)) done(true);
        else if (child.exitCode !== null || Date.now() - t0 > 10_000) done(false);
      }, 20);
      const done = (ok: boolean) => {
        clearInterval(tick);
        resolve(ok);
      };
    });
    if (!listening) {
      child.kill('SIGKILL');
      await exited;
      if (attempt < 3 && /Address already in use/.test(log)) continue;
      throw new Error(`sshd did not start: ${log.trim()}`);
    }
    const hostPub = (await readFile(`${hostKey}.pub`, 'utf8')).trim().split(' ').slice(0, 2).join(' ');
    const knownHosts = path.join(dir, 'known_hosts');
    await writeFile(knownHosts, `[127.0.0.1]:${port} ${hostPub}\n`);
    const count = (re: RegExp) => (log.match(re) ?? []).length;
    return {
      port,
      hostKey: hostPub,
      knownHosts,
      deployKey,
      otherKey,
      user,
      log: () => log,
      accepted: () => count(/Accepted publickey/g),
      connections: () => count(/Connection from 127\.0\.0\.1/g),
      url: (repoPath: string) => `ssh://${user}@127.0.0.1:${port}${repoPath}`,
      async close() {
        if (child.exitCode === null && child.signalCode === null) {
          child.kill('SIGTERM');
          await exited;
        }
      },
    };
  }
}
