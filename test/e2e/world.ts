/**
 * The end-to-end world: the generated gitopper-config history (test/rig/config-repo.ts) served over
 * smart HTTP on loopback, a work clone to push from, a systemd user manager, an operator's SSH key
 * pair and a read-only key (both listed in the config's `[global].keys`), and helpers to write configs, start the daemon, and ask it signed requests
 * (the built gitopperctl with `-i`, or a signing fetch).
 */
import { execFile } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { chmod, mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { makeKey, signedFetch, signerOf, type TestKey } from '../fakes/keys.js';
import { startGitServer, type GitServer } from '../rig/git-server.js';
import { removeDirs, tmpDir, WorkClone } from '../rig/repo.js';
import { makeConfigRepo } from '../rig/config-repo.js';
import { canRunSandbox, startUserManager, type UserManager } from '../rig/systemd.js';
import { after, before } from 'node:test';
import { startDaemon, type Daemon, type LogLine } from './daemon.js';

/** Options of {@link World.daemon}. */
export interface DaemonStart {
  /** Serve the API over HTTPS (self-signed certificate in the state dir) instead of `--insecure-http`. */
  readonly tls?: boolean;
}

/** A running world; `close()` tears it down. */
export class World {
  /** The operator's ed25519 key (`<dir>/keys/operator`), listed read-write in every config of {@link config}. */
  readonly operator: TestKey;
  /** A fetch that signs with {@link operator} (for API calls without gitopperctl). */
  readonly fetch: typeof fetch;

  private constructor(readonly dir: string, readonly server: GitServer, readonly work: WorkClone, readonly um: UserManager) {
    this.operator = makeKey(path.join(dir, 'keys'), 'operator', 'ed25519', { comment: 'operator@e2e' });
    this.fetch = signedFetch(signerOf(this.operator));
  }

  /** Build the world in a fresh temp dir. */
  static async create(prefix: string): Promise<World> {
    const dir = await tmpDir(prefix);
    await chmod(dir, 0o711); // services' users (nobody) must reach their files below it, as on a host
    await mkdir(path.join(dir, 'git'));
    const bare = path.join(dir, 'git', 'gitopper-config.git');
    await makeConfigRepo(bare);
    const server = await startGitServer({ root: path.join(dir, 'git') });
    const work = await WorkClone.open(bare, path.join(dir, 'work'));
    const um = await startUserManager(path.join(dir, 'um'));
    await mkdir(path.join(dir, 'keys'));
    makeKey(path.join(dir, 'keys'), 'id_ed25519_gitopper', 'ed25519', { comment: 'reader@e2e' }); // the read-only key of config()
    return new World(dir, server, work, um);
  }

  /** Stop everything and remove the temp dir (mounts below it are detached first). */
  async close(): Promise<void> {
    await this.um.stop();
    await this.server.close();
    await removeDirs(this.dir);
  }

  /**
   * A config for the rig: `[global]` with the loopback upstream, mount `<dir>/<name>/mount`, the
   * operator's key read-write and `keys/id_ed25519_gitopper.pub` read-only; then `services`.
   */
  config(name: string, services: string): string {
    return `[global]
upstream = "${this.server.url('gitopper-config.git')}"
mount = "${this.dir}/${name}/mount"
keys = [ { path = "keys/operator.pub" }, { path = "keys/id_ed25519_gitopper.pub", ro = true } ]
${services}`;
  }

  /**
   * One service `service` of this world's host grafana.atoom.net linking `grafana/etc` onto
   * `<dir>/<name>/etc`, checkout under `<dir>/<name>/co`, with `action` and any `extra` TOML lines.
   */
  etcService(name: string, service: string, action: string, extra = ''): string {
    return `
[[services]]
machine = "grafana.atoom.net"
service = "${service}"
action = "${action}"
mount = "${this.dir}/${name}/co"
dirs = [ { local = "${this.dir}/${name}/etc", link = "grafana/etc" } ]
${extra}
`;
  }

  /**
   * The repository's grafana-server service (links `grafana/etc` and `grafana/dashboards`) for this
   * world's host grafana.atoom.net, user nobody, action reload, checkout and targets under `<dir>/<name>/`.
   */
  grafana(name: string): string {
    return `
[[services]]
machine = "grafana.atoom.net"
branch = "main"
service = "grafana-server"
user = "nobody"
action = "reload"
mount = "${this.dir}/${name}/grafana1"
dirs = [
    { local = "${this.dir}/${name}/etc/grafana", link = "grafana/etc" },
    { local = "${this.dir}/${name}/var/lib/grafana/dashboards", link = "grafana/dashboards" }
]
`;
  }

  /**
   * Write `<dir>/<name>.toml` (unless `toml` is undefined) and start the daemon on it, acting as
   * grafana.atoom.net, `-t 1s`, user manager, loopback ports, API over `--insecure-http` (or
   * HTTPS with `opts.tls`).
   */
  async daemon(name: string, toml: string | undefined, extraArgs: string[] = [], opts: DaemonStart = {}): Promise<Daemon> {
    await mkdir(path.join(this.dir, name), { recursive: true });
    const file = path.join(this.dir, `${name}.toml`);
    if (toml !== undefined) await writeFile(file, toml);
    const args = ['-c', file, '-h', 'grafana.atoom.net', '-t', '1s', '--user', '-d', '--state-dir', path.join(this.dir, name, 'state'), '-m', '127.0.0.1:0', '-s', '127.0.0.1:0', ...(opts.tls ? [] : ['--insecure-http']), ...extraArgs];
    return startDaemon(args, this.um.env as Record<string, string>);
  }

  /**
   * Run the built gitopperctl signing with {@link operator} (`-i`), HOME in the world (its
   * known_hosts there); resolves with stdout, rejects with `{code, stdout, stderr}` on a non-zero exit.
   */
  async ctl(...args: string[]): Promise<string> {
    const { stdout } = await promisify(execFile)(process.execPath, [path.resolve('dist/cmd/gitopperctl.js'), '-i', this.operator.file, ...args], {
      env: { PATH: process.env.PATH ?? '', HOME: this.dir },
    });
    return stdout;
  }
}

/** Matches a pass log line of `service` (applied, done, or skipped by a quiet poll; at `commit` when given). */
export const isPass = (service: string, commit?: string) => (l: LogLine) =>
  l.service === service && (l.msg === 'pass done' || l.msg === 'pass applied' || l.msg === 'pass skipped') && (commit === undefined || l.commit === commit);

/** Matches a state transition of `service` to `state`. */
export const isState = (service: string, state: string) => (l: LogLine) => l.msg === 'state' && l.service === service && l.state === state;

/** Number of lines in a marker file (0 when it does not exist). */
export const lines = (file: string) => (existsSync(file) ? readFileSync(file, 'utf8').split('\n').filter(Boolean).length : 0);

/** Poll `cond` every 10 ms; resolves with the seconds waited, rejects after `ms`. */
export async function waitFor(cond: () => boolean, what: string, ms = 15_000): Promise<number> {
  const t0 = performance.now();
  while (!cond()) {
    if (performance.now() - t0 > ms) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
  return (performance.now() - t0) / 1000;
}

/**
 * For one test file: whether the sandbox is available (`skip` is the reason when not, for
 * `{ skip }`), and a World made before the file's tests and closed after them, handed to `set`.
 */
export function worldPerFile(prefix: string, set: (w: World) => void): { skip: string | false } {
  const sandbox = canRunSandbox();
  const skip = sandbox.ok ? false : sandbox.why;
  let made: World | undefined;
  before(async () => {
    if (skip) return;
    made = await World.create(prefix);
    set(made);
  });
  after(async () => {
    await made?.close();
  });
  return { skip };
}
