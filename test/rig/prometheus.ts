/**
 * Test rig: a real Prometheus server (Debian's `prometheus` package) on loopback, scraping the
 * given targets every second, with its TSDB in a temp dir. For tests that must be skipped without
 * it: `missingPackage('prometheus', 'prometheus')` (system-packages.ts).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { freePort } from './ports.js';

/** A running Prometheus. */
export interface Prometheus {
  /** Base URL, e.g. `http://127.0.0.1:40123`. */
  readonly url: string;
  /** Stop the server and wait for it to exit. */
  stop(): Promise<void>;
}

/**
 * Start Prometheus in `dir` on `port` (a free one when omitted), scraping each job of `jobs`
 * (job name → `host:port` targets) every second; resolves once `/-/ready` answers 200 (rejects
 * after 30 s with its output).
 */
export async function startPrometheus(dir: string, jobs: Record<string, string[]>, port?: number): Promise<Prometheus> {
  await mkdir(path.join(dir, 'data'), { recursive: true });
  const listen = port ?? (await freePort());
  const scrape = Object.entries(jobs).map(([job, targets]) => `  - job_name: ${job}\n    static_configs:\n      - targets: [${targets.map((t) => `'${t}'`).join(', ')}]\n`).join('');
  const config = path.join(dir, 'prometheus.yml');
  await writeFile(config, `global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nscrape_configs:\n${scrape}`);
  const child: ChildProcess = spawn('prometheus', [`--config.file=${config}`, `--storage.tsdb.path=${path.join(dir, 'data')}`, `--web.listen-address=127.0.0.1:${listen}`, '--log.level=warn'], { stdio: ['ignore', 'ignore', 'pipe'] });
  let output = '';
  child.stderr!.setEncoding('utf8').on('data', (c: string) => (output += c));
  const exited = new Promise<void>((resolve) => child.on('exit', () => resolve()));
  const url = `http://127.0.0.1:${listen}`;
  const t0 = Date.now();
  for (;;) {
    const ok = await fetch(`${url}/-/ready`).then((r) => r.ok, () => false);
    if (ok) break;
    if (child.exitCode !== null || Date.now() - t0 > 30_000) {
      child.kill();
      throw new Error(`prometheus did not become ready:\n${output}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    url,
    async stop() {
      if (child.exitCode === null) child.kill('SIGTERM');
      await exited;
    },
  };
}
