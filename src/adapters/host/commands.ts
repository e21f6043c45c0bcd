/**
 * CommandPort with child_process.spawn: no shell, a fixed environment, optional uid/gid, a timeout
 * (SIGTERM, then SIGKILL 5 s later), combined output kept to the last 64 KiB.
 */
import { spawn } from 'node:child_process';
import type { CommandPort, CommandResult, Owner } from '../../ports/host.js';

const KEEP_BYTES = 64 * 1024;
const PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

/** Runs programs with spawn(2)-like semantics. */
export class SpawnCommands implements CommandPort {
  run(argv: readonly string[], opts: { cwd: string; owner: Owner | undefined; env: Readonly<Record<string, string>>; timeoutSeconds: number }): Promise<CommandResult> {
    return new Promise((resolve, reject) => {
      const started = performance.now();
      const child = spawn(argv[0]!, argv.slice(1), {
        cwd: opts.cwd,
        env: { PATH, ...opts.env },
        stdio: ['ignore', 'pipe', 'pipe'],
        ...(opts.owner ? { uid: opts.owner.uid, gid: opts.owner.gid } : {}),
      });
      let out = Buffer.alloc(0);
      const keep = (b: Buffer) => {
        out = Buffer.concat([out, b]);
        if (out.length > KEEP_BYTES) out = out.subarray(out.length - KEEP_BYTES);
      };
      child.stdout.on('data', keep);
      child.stderr.on('data', keep);
      let timedOut = false;
      let killer: NodeJS.Timeout | undefined;
      const timer = setTimeout(() => {
        timedOut = true;
        child.kill('SIGTERM');
        killer = setTimeout(() => child.kill('SIGKILL'), 5000);
      }, opts.timeoutSeconds * 1000);
      child.on('error', (err) => {
        clearTimeout(timer);
        clearTimeout(killer);
        reject(err);
      });
      child.on('close', (code, signal) => {
        clearTimeout(timer);
        clearTimeout(killer);
        resolve({ code, signal, timedOut, output: out.toString('utf8'), seconds: (performance.now() - started) / 1000 });
      });
    });
  }
}
