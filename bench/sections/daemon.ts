/**
 * Items 1 and 5, on the real daemon (`dist/cmd/gitopper.js --user`) in the bench's private mount
 * namespace with a systemd user manager (test/rig/systemd.ts), over a private copy of the medium repo:
 *
 * Every daemon runs with the environment of the shipped unit (`NODE_OPTIONS` and the glibc malloc
 * variables, read from systemd/gitopper.service).
 *
 * 1. Push to applied: a commit touching the service's link is pushed (to the bare repo the git server
 *    serves); the clock stops when the unit's ExecReload has appended to its marker file.
 *    - `-t 1s`: the daemon polls; after each apply the next push waits a random 0–1.5 s so pushes land
 *      at random points of the poll cycle.
 *    - `POST /do/pull/<service>` (signed, as gitopperctl signs): a second daemon with `-t 1h`.
 *    - cli: gitopper's sequence for one service (stash, fetch, diff, merge, rev-parse) then the same
 *      D-Bus daemon-reload + reload the daemon does, in a loop with the same jitter (`-t 1s`), or at
 *      once after the push (the `/do/pull` equivalent).
 *    - `POST /hook`: measured only when the daemon serves it (see `hookWired`).
 * 5. API: `GET /list/service` with signed requests (each signature is made before the timed run, one
 *    nonce per request), `concurrency` requests in flight over keep-alive connections, for `seconds`.
 */
import { createHmac } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { cp, mkdir, rm, writeFile } from 'node:fs/promises';
import http from 'node:http';
import path from 'node:path';
import dbus from 'dbus-next';
import { SystemdManager } from '../../src/adapters/systemd/manager.js';
import { signRequest } from '../../src/ctl/signer.js';
import { startDaemon, type Daemon } from '../../test/e2e/daemon.js';
import { makeKey, signerOf } from '../../test/fakes/keys.js';
import { removeDirs } from '../../test/rig/repo.js';
import { reloadMarkerUnit, startUserManager } from '../../test/rig/systemd.js';
import { cliPass, cliSetup } from '../lib/cli.js';
import { BenchGitServer, type ServerPorts } from '../lib/gitserver.js';
import { summarize, type ProfileSummary } from '../lib/profile.js';
import { fileOf, linksOf } from '../lib/repos.js';
import { descendants, git, percentile, ROOT, sleep, statusKiB, summary, unitMallocEnv, unitNodeOptions, type Summary } from '../lib/util.js';

export interface DaemonArgs {
  tmp: string;
  profileDir: string;
  server: ServerPorts;
  serverRoot: string;
  pushes: number;
  apiSeconds: number;
  apiConcurrency: number;
}

export interface Latency {
  n: number;
  p50: number;
  p95: number;
  min: number;
  max: number;
  all: number[];
}

export interface DaemonResult {
  push: Record<string, Latency | { skipped: string }>;
  api: {
    signed: boolean;
    seconds: number;
    requests: number;
    errors: number;
    rps: number;
    latencyMs: { p50: number; p99: number; max: number };
    daemonCpuSeconds: number;
    rpsPerCpuSecond: number;
    presignMs: number;
    concurrency: number;
    /** CPU profile of the API daemon (start-up, one first setup, then the timed requests). */
    profile?: ProfileSummary;
  };
  /** The same measurement on a daemon with node's defaults (no NODE_OPTIONS). */
  apiNoNodeOptions?: DaemonResult['api'];
  daemonPeakRssMiB: Record<string, number>;
  /** Largest VmHWM of the daemon's children (its first fetch, in a child process) during its start-up, by daemon. */
  childPeakRssMiB: Record<string, number>;
  /** NODE_OPTIONS every daemon ran with (the unit's). */
  nodeOptions: string;
  hookWired: boolean;
  notes: string[];
}

const SERVICE = 'bench-svc';
const lat = (xs: number[]): Latency => ({ n: xs.length, p50: percentile(xs, 50), p95: percentile(xs, 95), min: Math.min(...xs), max: Math.max(...xs), all: xs.map((x) => Math.round(x)) });
const lines = (f: string) => {
  try {
    return readFileSync(f, 'utf8').split('\n').filter(Boolean).length;
  } catch {
    return 0;
  }
};

async function waitLines(file: string, n: number, ms = 30_000): Promise<void> {
  const end = performance.now() + ms;
  while (lines(file) < n) {
    if (performance.now() > end) throw new Error(`timed out waiting for ${file} to reach ${n} lines`);
    await sleep(2);
  }
}

/** Commit a change to `file` in the work clone and push it to the bare repo; resolves when the push returned. */
async function push(work: string, file: string, k: number): Promise<void> {
  await writeFile(path.join(work, file), `# bench push ${k}\nvalue = ${k} ${Date.now()}\n`);
  await git(['commit', '--quiet', '-am', `bench push ${k}`], { cwd: work });
  await git(['push', '--quiet', 'origin', 'HEAD:main'], { cwd: work });
}

/**
 * `pushes` times: push, optionally trigger, wait until `marker` has one more line; resolves with the
 * latencies in ms. `jitter`: random pause after each apply (for polled modes).
 */
async function pushLoop(work: string, file: string, marker: string, pushes: number, trigger: (() => Promise<void>) | undefined, jitter: boolean, label: string): Promise<number[]> {
  const out: number[] = [];
  for (let k = 0; k < pushes; k++) {
    const before = lines(marker);
    await push(work, file, k);
    const t0 = performance.now();
    if (trigger) await trigger();
    await waitLines(marker, before + 1);
    out.push(performance.now() - t0);
    if (jitter) await sleep(Math.random() * 500);
  }
  process.stderr.write(`  push→applied ${label}: p50 ${Math.round(percentile(out, 50))} ms, p95 ${Math.round(percentile(out, 95))} ms\n`);
  return out;
}

export async function daemonSection(a: DaemonArgs): Promise<DaemonResult> {
  const server = new BenchGitServer(a.server);
  const notes: string[] = [];
  const dir = path.join(a.tmp, 'daemon');
  await mkdir(dir, { recursive: true });
  const repoDir = 'push.git';
  const bare = path.join(a.serverRoot, repoDir);
  await cp(path.join(a.serverRoot, 'medium.git'), bare, { recursive: true });
  const url = server.url(repoDir);
  const work = path.join(dir, 'work');
  await git(['clone', '--quiet', bare, work]);
  const file = fileOf('medium', 0);
  const link = linksOf('medium', 0)[0]!;

  const um = await startUserManager(path.join(dir, 'um'));
  const units = new SystemdManager(() => dbus.sessionBus({ busAddress: um.busAddress }));
  const keys = path.join(dir, 'keys');
  await mkdir(keys);
  const key = makeKey(keys, 'bench', 'ed25519');
  const signer = signerOf(key);
  const push: DaemonResult['push'] = {};
  const peaks: Record<string, number> = {};
  const childPeaks: Record<string, number> = {};
  const nodeOptions = unitNodeOptions();
  const daemons: Daemon[] = [];
  let api: DaemonResult['api'] | undefined;
  let apiNoOptions: DaemonResult['api'] | undefined;
  const compiled = readFileSync(path.join(ROOT, 'dist', 'src', 'daemon', 'build.js'), 'utf8') + readFileSync(path.join(ROOT, 'dist', 'src', 'http', 'server.js'), 'utf8');
  const hookWired = /webhookRouter/.test(compiled);
  try {
    const marker = (name: string) => path.join(dir, `${name}.reloads`);
    for (const name of [SERVICE, 'bench-cli']) await um.writeUnit(`${name}.service`, reloadMarkerUnit(name, marker(name)));

    const hookSecret = 'bench-webhook-secret';
    const secretFile = path.join(dir, 'hook.secret');
    await writeFile(secretFile, `${hookSecret}\n`, { mode: 0o600 });
    const startOurs = async (name: string, interval: string, env: Record<string, string> = {}): Promise<{ d: Daemon; api: string }> => {
      const base = path.join(dir, name);
      await mkdir(base, { recursive: true });
      const cfg = path.join(base, 'config.toml');
      await writeFile(cfg, `[global]
upstream = "${url}"
mount = "${base}/mount"
keys = [ { path = "${key.pub}" } ]
${hookWired ? `hook_secret_file = "${secretFile}"` : ''}

[[services]]
machine = "benchhost"
service = "${SERVICE}"
action = "reload"
dirs = [ { local = "${base}/etc/bench", link = "${link}" } ]
`);
      const d = startDaemon(['-c', cfg, '-h', 'benchhost', '-t', interval, '--user', '--state-dir', path.join(base, 'state'), '-m', '127.0.0.1:0', '-s', '127.0.0.1:0', '--insecure-http'], { ...(um.env as Record<string, string>), ...unitMallocEnv(), NODE_OPTIONS: nodeOptions, ...env });
      daemons.push(d);
      // the daemon's first fetch runs in a child process: its peak, sampled every 2 ms until ready
      let childPeak = NaN;
      const sampler = setInterval(() => {
        for (const pid of descendants(d.pid)) {
          const k = statusKiB(pid, 'VmHWM');
          if (Number.isFinite(k) && !(k <= childPeak)) childPeak = k;
        }
      }, 2);
      try {
        await d.waitLog((l) => l.msg === 'ready', 'the daemon to be ready', 60_000);
      } finally {
        clearInterval(sampler);
      }
      childPeaks[name] = childPeak / 1024;
      const l = await d.waitLog((x) => x.msg === 'listening' && x.what === 'api', 'the API to listen');
      const addr = l.addr as { port: number };
      return { d, api: `http://127.0.0.1:${addr.port}` };
    };
    const signed = async (method: string, u: string): Promise<Record<string, string>> => signRequest(signer, { method, url: u, headers: {} });

    // 1a. ours, -t 1s
    {
      const { d } = await startOurs('poll', '1s');
      await sleep(1500); // the start-up pass's reload (if any) lands first
      push['ours -t 1s'] = lat(await pushLoop(work, file, marker(SERVICE), a.pushes, undefined, true, 'ours -t 1s'));
      peaks['ours -t 1s'] = d.peakRssKiB() / 1024;
      await d.stop();
    }
    // 1b. ours, POST /do/pull/<service>
    let pullDaemon: { d: Daemon; api: string };
    {
      pullDaemon = await startOurs('pull', '1h');
      await sleep(500);
      const target = `${pullDaemon.api}/do/pull/${SERVICE}`;
      const trigger = async () => {
        const res = await fetch(target, { method: 'POST', headers: await signed('POST', target) });
        if (res.status !== 202) throw new Error(`POST /do/pull answered ${res.status}: ${await res.text()}`);
      };
      push['ours /do/pull'] = lat(await pushLoop(work, file, marker(SERVICE), a.pushes, trigger, false, 'ours /do/pull'));
    }
    if (!hookWired) {
      push['ours /hook'] = { skipped: 'POST /hook is not served by the daemon (src/daemon/build.ts does not mount webhookRouter)' };
      notes.push('POST /hook skipped: webhookRouter is not wired into the daemon.');
    } else {
      const target = `${pullDaemon.api}/hook`;
      const trigger = async () => {
        const body = JSON.stringify({ ref: 'refs/heads/main', repository: { clone_url: url, html_url: url.replace(/\.git$/, '') } });
        const sig = `sha256=${createHmac('sha256', hookSecret).update(body).digest('hex')}`;
        const res = await fetch(target, { method: 'POST', headers: { 'content-type': 'application/json', 'x-github-event': 'push', 'x-hub-signature-256': sig }, body });
        const text = await res.text();
        if (res.status !== 202 || !text.includes(SERVICE)) throw new Error(`POST /hook answered ${res.status}: ${text}`);
      };
      push['ours /hook'] = lat(await pushLoop(work, file, marker(SERVICE), a.pushes, trigger, false, 'ours /hook'));
    }
    peaks['ours /do/pull + /hook'] = pullDaemon.d.peakRssKiB() / 1024;
    await pullDaemon.d.stop();

    // 5. API on its own daemon (-t 1h: no background passes), CPU-profiled; with the unit's
    // NODE_OPTIONS (the figure), then once more with node's defaults (to separate the flag's share)
    for (const withOptions of [true, false]) {
      const name = withOptions ? 'api' : 'api-no-node-options';
      const pdir = path.join(a.profileDir, `${name}-daemon`);
      await rm(pdir, { recursive: true, force: true });
      await mkdir(pdir, { recursive: true });
      // Node 20 refuses --cpu-prof in NODE_OPTIONS: a preload profiles through the inspector instead
      const apiDaemon = await startOurs(name, '1h', { NODE_OPTIONS: `${withOptions ? nodeOptions : ''} --import=${path.join(ROOT, 'bench', 'cpu-prof-preload.mjs')}`.trim(), BENCH_CPU_PROF_DIR: pdir });
      const target = `${apiDaemon.api}/list/service`;
      const warm = await fetch(target, { headers: await signed('GET', target) });
      if (warm.status !== 200) throw new Error(`GET /list/service answered ${warm.status}: ${await warm.text()}`);
      const t0 = performance.now();
      const budget = Math.ceil(a.apiSeconds * 6000) + 2000;
      const pool: Record<string, string>[] = [];
      for (let i = 0; i < budget; i++) pool.push(await signed('GET', target));
      const presignMs = performance.now() - t0;
      const agent = new http.Agent({ keepAlive: true, maxSockets: a.apiConcurrency });
      const u = new URL(target);
      const one = (headers: Record<string, string>) =>
        new Promise<number>((resolve, reject) => {
          const req = http.request({ host: u.hostname, port: u.port, path: u.pathname, method: 'GET', headers, agent }, (res) => {
            res.resume();
            res.on('end', () => resolve(res.statusCode ?? 0));
          });
          req.on('error', reject);
          req.end();
        });
      const stat = (pid: number) => {
        const s = readFileSync(`/proc/${pid}/stat`, 'utf8');
        const f = s.slice(s.lastIndexOf(')') + 2).split(' ');
        return (Number(f[11]) + Number(f[12])) / 100;
      };
      // warm-up: 1 s
      let next = 0;
      const drive = async (until: number, record: number[] | undefined, errs: { n: number }) => {
        const worker = async () => {
          while (performance.now() < until && next < pool.length) {
            const h = pool[next++]!;
            const s = performance.now();
            const code = await one(h).catch(() => 0);
            if (code !== 200) errs.n++;
            record?.push(performance.now() - s);
          }
        };
        await Promise.all(Array.from({ length: a.apiConcurrency }, worker));
      };
      await drive(performance.now() + 1000, undefined, { n: 0 });
      const latencies: number[] = [];
      const errs = { n: 0 };
      const cpu0 = stat(apiDaemon.d.pid);
      const s0 = performance.now();
      await drive(s0 + a.apiSeconds * 1000, latencies, errs);
      const seconds = (performance.now() - s0) / 1000;
      const cpu = stat(apiDaemon.d.pid) - cpu0;
      agent.destroy();
      if (next >= pool.length) notes.push(`API: the pre-signed pool (${pool.length}) ran out before ${a.apiSeconds} s; rate is over ${seconds.toFixed(1)} s`);
      const result: DaemonResult['api'] = {
        signed: true,
        seconds,
        requests: latencies.length,
        errors: errs.n,
        rps: latencies.length / seconds,
        latencyMs: { p50: percentile(latencies, 50), p99: percentile(latencies, 99), max: Math.max(...latencies) },
        daemonCpuSeconds: cpu,
        rpsPerCpuSecond: latencies.length / cpu,
        presignMs,
        concurrency: a.apiConcurrency,
      };
      process.stderr.write(`  API (${name}): ${Math.round(result.rps)} req/s, p99 ${result.latencyMs.p99.toFixed(1)} ms, daemon CPU ${cpu.toFixed(1)} s over ${seconds.toFixed(1)} s\n`);
      peaks[withOptions ? 'ours API' : 'ours API without NODE_OPTIONS'] = apiDaemon.d.peakRssKiB() / 1024;
      await apiDaemon.d.stop();
      const prof = readdirSync(pdir).find((f) => f.endsWith('.cpuprofile'));
      if (prof) result.profile = summarize(path.join(pdir, prof));
      if (withOptions) api = result;
      else apiNoOptions = result;
    }

    // 1c. CLI: one partial sparse clone, gitopper's pass, same D-Bus calls
    {
      const co = path.join(dir, 'cli', SERVICE);
      await mkdir(path.dirname(co), { recursive: true });
      await cliSetup(url, co, [link]);
      await units.run('bench-cli.service', 'start');
      const apply = async (): Promise<void> => {
        const r = await cliPass(co, [link]);
        if (r.changed.length > 0) {
          await units.daemonReload();
          await units.run('bench-cli.service', 'reload');
        }
      };
      let stop = false;
      const loop = (async () => {
        while (!stop) {
          await sleep(1000 * (1 + 0.5 * Math.random()));
          if (!stop) await apply();
        }
      })();
      push['cli -t 1s'] = lat(await pushLoop(work, file, marker('bench-cli'), a.pushes, undefined, true, 'cli -t 1s'));
      stop = true;
      await loop;
      push['cli pull'] = lat(await pushLoop(work, file, marker('bench-cli'), a.pushes, apply, false, 'cli pull'));
    }

  } finally {
    for (const d of daemons) await d.stop().catch(() => undefined);
    units.close();
    await um.stop();
    await removeDirs(dir, bare).catch(() => undefined);
  }
  return { push, api: api!, ...(apiNoOptions ? { apiNoNodeOptions: apiNoOptions } : {}), daemonPeakRssMiB: peaks, childPeakRssMiB: childPeaks, nodeOptions, hookWired, notes };
}

export type { Summary };
void summary;
