/**
 * Item 3, first setup: clone + checkout of one service's links, ours (IsoGit: fetch into the store,
 * prepare, checkout) against gitopper's CLI sequence, each run in a fresh child process
 * (`setup-child.ts`): wall time and peak RSS. One extra profiled run of ours per repo.
 */
import { execFile } from 'node:child_process';
import { mkdir, readdir, rm } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { BenchGitServer, type ServerPorts } from '../lib/gitserver.js';
import { summarize, type ProfileSummary } from '../lib/profile.js';
import { linksOf, type RepoName } from '../lib/repos.js';
import { ROOT, summary, type Summary } from '../lib/util.js';

const run = promisify(execFile);

export interface SetupArgs {
  tmp: string;
  server: ServerPorts;
  repos: { name: RepoName; runs: number }[];
  profileDir: string;
}

interface ChildResult {
  wallMs: number;
  cpuMs: number;
  peakKiB: number;
  fetchMs?: number;
  fetchPeakKiB?: number;
  baseKiB?: number;
  arrayBuffers?: number;
}

export interface SetupRepoResult {
  repo: RepoName;
  runs: number;
  ours: { wallMs: Summary; cpuMs: Summary; peakMiB: Summary; fetchMs: Summary; fetchPeakMiB: Summary; baseMiB: Summary };
  cli: { wallMs: Summary; cpuMs: Summary; peakMiB: Summary };
  requests: { ours: number; cli: number };
  /** Bytes the git server sent for one setup. */
  bytes: { ours: number; cli: number };
  profile?: ProfileSummary;
}

async function child(mode: 'iso' | 'cli', url: string, dir: string, links: string[], nodeArgs: string[] = []): Promise<ChildResult> {
  const { stdout } = await run(process.execPath, [...nodeArgs, path.join(ROOT, 'dist', 'bench', 'setup-child.js'), mode, url, path.join(dir, 'state'), path.join(dir, 'co'), JSON.stringify(links)], { maxBuffer: 1 << 20 });
  return JSON.parse(stdout.trim().split('\n').pop()!) as ChildResult;
}

const mib = (kib: number) => kib / 1024;

export async function setupSection(a: SetupArgs): Promise<SetupRepoResult[]> {
  const server = new BenchGitServer(a.server);
  const out: SetupRepoResult[] = [];
  for (const { name, runs } of a.repos) {
    const url = server.url(`${name}.git`);
    const links = linksOf(name, 0);
    const ours: ChildResult[] = [];
    const cli: ChildResult[] = [];
    const req = { ours: 0, cli: 0 };
    const bytes = { ours: 0, cli: 0 };
    for (let i = 0; i < runs; i++) {
      // alternate the order so neither side always runs on a warmer cache
      for (const mode of i % 2 === 0 ? (['iso', 'cli'] as const) : (['cli', 'iso'] as const)) {
        const dir = path.join(a.tmp, `setup-${name}-${mode}-${i}`);
        const before = await server.count(1e12);
        const r = await child(mode, url, dir, links);
        const c = await server.count(before.mark);
        const sent = c.bytesOut - before.bytesOut;
        if (mode === 'iso') {
          ours.push(r);
          req.ours = c.requests;
          bytes.ours = sent;
        } else {
          cli.push(r);
          req.cli = c.requests;
          bytes.cli = sent;
        }
        await rm(dir, { recursive: true, force: true });
      }
      process.stderr.write(`  setup ${name} run ${i + 1}/${runs}: ours ${Math.round(ours.at(-1)!.wallMs)} ms ${Math.round(mib(ours.at(-1)!.peakKiB))} MiB, cli ${Math.round(cli.at(-1)!.wallMs)} ms ${Math.round(mib(cli.at(-1)!.peakKiB))} MiB\n`);
    }
    let profile: ProfileSummary | undefined;
    if (name !== 'small') {
      const dir = path.join(a.tmp, `setup-${name}-profile`);
      const pdir = path.join(a.profileDir, `setup-${name}`);
      await rm(pdir, { recursive: true, force: true });
      await mkdir(pdir, { recursive: true });
      await child('iso', url, dir, links, ['--cpu-prof', '--cpu-prof-dir', pdir]);
      const file = (await readdir(pdir)).find((f) => f.endsWith('.cpuprofile'));
      if (file) profile = summarize(path.join(pdir, file));
      await rm(dir, { recursive: true, force: true });
    }
    out.push({
      repo: name,
      runs,
      ours: {
        wallMs: summary(ours.map((r) => r.wallMs)),
        cpuMs: summary(ours.map((r) => r.cpuMs)),
        peakMiB: summary(ours.map((r) => mib(r.peakKiB))),
        fetchMs: summary(ours.map((r) => r.fetchMs ?? NaN)),
        fetchPeakMiB: summary(ours.map((r) => mib(r.fetchPeakKiB ?? NaN))),
        baseMiB: summary(ours.map((r) => mib(r.baseKiB ?? NaN))),
      },
      cli: { wallMs: summary(cli.map((r) => r.wallMs)), cpuMs: summary(cli.map((r) => r.cpuMs)), peakMiB: summary(cli.map((r) => mib(r.peakKiB))) },
      requests: req,
      bytes,
      ...(profile ? { profile } : {}),
    });
  }
  return out;
}
