/** Client side of `gitserver-child.ts`: start it, build URLs, count requests. */
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { ROOT } from './util.js';

/** What the control listener answers. */
export interface Count {
  mark: number;
  requests: number;
  gets: number;
  posts: number;
  uploadPack: number;
  paths: string[];
  /** CPU ms of the server process and its finished git-http-backend children, since it started. */
  cpuMs: number;
  /** Response bytes the git server has sent since it started. */
  bytesOut: number;
}

/** Ports of a running bench git server (serializable: handed to section processes). */
export interface ServerPorts {
  readonly git: number;
  readonly ctl: number;
}

export class BenchGitServer {
  constructor(readonly ports: ServerPorts) {}
  url(repoDir: string): string {
    return `http://127.0.0.1:${this.ports.git}/${repoDir}`;
  }
  async count(since = 0): Promise<Count> {
    const res = await fetch(`http://127.0.0.1:${this.ports.ctl}/count?since=${since}`);
    return (await res.json()) as Count;
  }
  async mark(): Promise<number> {
    return (await this.count(1e12)).mark;
  }
}

/** Start the server process over `root`; `stop()` ends it. */
export async function startBenchGitServer(root: string): Promise<{ server: BenchGitServer; stop: () => Promise<void> }> {
  const child: ChildProcess = spawn(process.execPath, [path.join(ROOT, 'dist', 'bench', 'gitserver-child.js'), root], { stdio: ['ignore', 'pipe', 'inherit'] });
  const ports = await new Promise<ServerPorts>((resolve, reject) => {
    let buf = '';
    child.stdout!.setEncoding('utf8').on('data', (d: string) => {
      buf += d;
      const i = buf.indexOf('\n');
      if (i >= 0) resolve(JSON.parse(buf.slice(0, i)) as ServerPorts);
    });
    child.on('exit', (code) => reject(new Error(`git server exited ${code}`)));
  });
  return {
    server: new BenchGitServer(ports),
    stop: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null) return resolve();
        child.once('exit', () => resolve());
        child.kill('SIGTERM');
      }),
  };
}
