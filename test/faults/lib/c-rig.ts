/**
 * Helpers for the fault scenarios of test/faults/{crash,systemd,state,signals}.test.ts, on top of the
 * end-to-end rig (test/e2e/world.ts): a daemon started against any user manager, a gating HTTP proxy
 * in front of the rig's git server (to hold a fetch half-way), the bind mounts at a path as
 * /proc/self/mountinfo lists them, the files under a directory, the fetch children of a daemon, a
 * scrape of /metrics, and a many-services config.
 */
import { existsSync, readdirSync, readFileSync, realpathSync, statSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { startDaemon, type Daemon } from '../../e2e/daemon.js';
import type { World } from '../../e2e/world.js';

/**
 * Write `<w.dir>/<name>.toml` (unless `toml` is undefined) and start the daemon on it exactly as
 * {@link World.daemon} does (grafana.atoom.net, `-t 1s`, `--user`, `-d`, `--state-dir
 * <w.dir>/<name>/state`, loopback ports, `--insecure-http`), but talking to the user manager whose
 * environment is `env` (XDG_RUNTIME_DIR, DBUS_SESSION_BUS_ADDRESS).
 */
export async function daemonWithEnv(w: World, name: string, toml: string | undefined, env: Readonly<Record<string, string>>, extraArgs: string[] = []): Promise<Daemon> {
  await mkdir(path.join(w.dir, name), { recursive: true });
  const file = path.join(w.dir, `${name}.toml`);
  if (toml !== undefined) await writeFile(file, toml);
  const args = ['-c', file, '-h', 'grafana.atoom.net', '-t', '1s', '--user', '-d', '--state-dir', path.join(w.dir, name, 'state'), '-m', '127.0.0.1:0', '-s', '127.0.0.1:0', '--insecure-http', ...extraArgs];
  return startDaemon(args, { ...env });
}

/** A proxy in front of a git smart-HTTP server that can hold the pack answers; see {@link startGateProxy}. */
export interface GateProxy {
  /** `http://127.0.0.1:PORT/<repo>`: the same repository, through the proxy. */
  url(repo: string): string;
  /** From now on, hold every `POST …/git-upload-pack` (the pack download): no answer until {@link release}. */
  hold(): void;
  /** Answer the held requests (forwarded now) and stop holding. */
  release(): void;
  /** Number of upload-pack POSTs held so far (cumulative). */
  readonly heldCount: number;
  /** Stop listening and drop every connection. */
  close(): Promise<void>;
}

/**
 * Start an HTTP proxy on 127.0.0.1 (port 0) forwarding every request to `target` (a base URL such as
 * `http://127.0.0.1:1234`, path kept). While holding, a `POST …/git-upload-pack` is not forwarded
 * until {@link GateProxy.release}: the client sits mid-fetch, waiting for the pack.
 */
export async function startGateProxy(target: string): Promise<GateProxy> {
  const base = new URL(target);
  let holding = false;
  let heldCount = 0;
  let waiting: Array<() => void> = [];
  const sockets = new Set<import('node:net').Socket>();
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const forward = () => {
        const up = http.request(
          { host: base.hostname, port: base.port, method: req.method, path: req.url, headers: { ...req.headers, host: base.host } },
          (ur) => {
            res.writeHead(ur.statusCode ?? 502, ur.headers);
            ur.pipe(res);
          },
        );
        up.on('error', () => res.destroy());
        up.end(Buffer.concat(chunks));
      };
      if (holding && req.method === 'POST' && (req.url ?? '').includes('git-upload-pack')) {
        heldCount++;
        waiting.push(forward);
      } else forward();
    });
  });
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    url: (repo) => `http://127.0.0.1:${port}/${repo}`,
    hold: () => void (holding = true),
    release: () => {
      holding = false;
      const w = waiting;
      waiting = [];
      for (const f of w) f();
    },
    get heldCount() {
      return heldCount;
    },
    close: async () => {
      holding = false;
      waiting = [];
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** Unescape a mountinfo path field (`\040` → space). */
function unescapeMount(s: string): string {
  return s.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));
}

/**
 * Number of entries in /proc/self/mountinfo mounted exactly at `target` (resolved with realpath;
 * 0 when it does not exist). A bind mount made twice (stacked) counts 2.
 */
export function mountsAt(target: string): number {
  if (!existsSync(target)) return 0;
  const real = realpathSync(target);
  return readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .filter(Boolean)
    .filter((l) => unescapeMount(l.split(' ')[4] ?? '') === real).length;
}

/** Every file below `dir` (recursively; symlinks are not followed) as relative path → content (utf8). */
export function filesUnder(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (rel: string) => {
    for (const e of readdirSync(path.join(dir, rel), { withFileTypes: true })) {
      const r = rel ? `${rel}/${e.name}` : e.name;
      if (e.isDirectory()) walk(r);
      else out[r] = readFileSync(path.join(dir, r), 'utf8');
    }
  };
  walk('');
  return out;
}

/**
 * The files of `link` (a directory of the repository) at `commit`, as relative path (below `link`)
 * → content, read with the git CLI through `gitFn` (e.g. `w.work.git`).
 */
export async function treeAt(gitFn: (...args: string[]) => Promise<string>, commit: string, link: string): Promise<Record<string, string>> {
  const names = (await gitFn('ls-tree', '-r', '--name-only', commit, '--', `${link}/`)).split('\n').filter(Boolean);
  const out: Record<string, string> = {};
  for (const n of names) out[n.slice(link.length + 1)] = await gitFn('show', `${commit}:${n}`);
  return out;
}

/** PIDs of the live processes whose parent is `ppid` and whose command line contains `needle`. */
export function childrenOf(ppid: number, needle: string): number[] {
  const out: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const status = readFileSync(`/proc/${name}/status`, 'utf8');
      if (Number(/^PPid:\s+(\d+)/m.exec(status)?.[1]) !== ppid) continue;
      if (/^State:\s+Z/m.test(status)) continue;
      if (readFileSync(`/proc/${name}/cmdline`, 'utf8').includes(needle)) out.push(Number(name));
    } catch {
      /* gone meanwhile */
    }
  }
  return out;
}

/** True while process `pid` exists and is not a zombie. */
export function isRunning(pid: number): boolean {
  try {
    return !/^State:\s+Z/m.test(readFileSync(`/proc/${pid}/status`, 'utf8'));
  } catch {
    return false;
  }
}

/** Base URL of the daemon's metrics endpoint (`http://127.0.0.1:port`), from its `listening` log line. */
export async function metricsUrl(d: Daemon): Promise<string> {
  const l = await d.waitLog((x) => x.msg === 'listening' && x.what === 'metrics', 'the metrics endpoint to listen');
  return `http://127.0.0.1:${(l.addr as { port: number }).port}`;
}

/** The value of the sample `series` (exact text before the value, e.g. `gitopper_service_state{service="a"}`), or undefined. */
export async function metric(d: Daemon, series: string): Promise<number | undefined> {
  const text = await (await fetch(`${await metricsUrl(d)}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

/** The names of `n` services made by {@link manyServices}: `svc-00`, `svc-01`, … */
export function serviceNames(n: number): string[] {
  return Array.from({ length: n }, (_, i) => `svc-${String(i).padStart(2, '0')}`);
}

/**
 * `[[services]]` entries for `n` services of grafana.atoom.net (names {@link serviceNames}), each with
 * two directory mounts (`grafana/etc` → `<w.dir>/<name>/t/<svc>/etc`, `prometheus/etc` →
 * `<w.dir>/<name>/t/<svc>/prom`), checkouts under `<w.dir>/<name>/co`, and `action` (default "": files only).
 */
export function manyServices(w: World, name: string, n: number, action = ''): string {
  return serviceNames(n)
    .map(
      (s) => `
[[services]]
machine = "grafana.atoom.net"
service = "${s}"
action = "${action}"
mount = "${w.dir}/${name}/co"
dirs = [
    { local = "${w.dir}/${name}/t/${s}/etc", link = "grafana/etc" },
    { local = "${w.dir}/${name}/t/${s}/prom", link = "prometheus/etc" }
]
`,
    )
    .join('');
}

/** The two mount targets of service `svc` of {@link manyServices} with their links. */
export function targetsOf(w: World, name: string, svc: string): Array<{ target: string; link: string }> {
  return [
    { target: path.join(w.dir, name, 't', svc, 'etc'), link: 'grafana/etc' },
    { target: path.join(w.dir, name, 't', svc, 'prom'), link: 'prometheus/etc' },
  ];
}

/** Parse `<stateDir>/state.json`; throws when it is missing or not JSON. */
export function readStateFile(stateDir: string): { version: number; services: Record<string, { state: string; info: string; commit: string; frozen?: { reason: string } }> } {
  return JSON.parse(readFileSync(path.join(stateDir, 'state.json'), 'utf8'));
}

/** Files in `dir` whose names match `re` (empty when `dir` does not exist). */
export function filesMatching(dir: string, re: RegExp): string[] {
  if (!existsSync(dir) || !statSync(dir).isDirectory()) return [];
  return readdirSync(dir).filter((f) => re.test(f));
}

/** Resolves after `ms` milliseconds. */
export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
