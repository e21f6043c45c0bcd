/**
 * Repositories the bench generates (deterministically) and serves: `small` = the generated gitopper-config
 * history (test/rig/config-repo.ts), `medium` = 5,000 files / 200 commits, `large` = 20,000 files / ~80 MiB pack.
 *
 * Layout of the generated ones: `svcNNN/etc/` (a few small config files: a service's link) and
 * `svcNNN/data/` (the bulk). `medium` has small text files; `large` has ~5.5 KB of base64 noise per
 * data file so the pack does not compress below ~80 MiB. Written with `git fast-import`, then
 * repacked into one pack. Every bare repo allows pushes over HTTP and partial clone
 * (`uploadpack.allowFilter`, as GitHub does), which gitopper's `clone --filter=blob:none` needs.
 */
import { createCipheriv } from 'node:crypto';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { git, pipeInto } from './util.js';
import { makeConfigRepo } from '../../test/rig/config-repo.js';

export type RepoName = 'small' | 'medium' | 'large';

/** What the bench knows about a generated repository. */
export interface RepoInfo {
  readonly name: RepoName;
  /** Directory name below the git server root (`<name>.git`). */
  readonly dir: string;
  readonly bare: string;
  readonly files: number;
  readonly commits: number;
  readonly packBytes: number;
  /** Number of services with their own link directory. */
  readonly services: number;
  readonly seconds: number;
}

/** The links service `i` checks out (gitopper `dirs[].link`). */
export function linksOf(name: RepoName, i: number): string[] {
  return name === 'small' ? ['grafana/etc', 'grafana/dashboards'] : [`svc${pad(i % SHAPES[name].dirs)}/etc`];
}

/** A file under service `i`'s first link, for pushes that must reach that service. */
export function fileOf(name: RepoName, i: number): string {
  return name === 'small' ? 'grafana/etc/grafana.ini' : `svc${pad(i % SHAPES[name].dirs)}/etc/conf0.ini`;
}

interface Shape {
  dirs: number;
  etcFiles: number;
  dataFiles: number;
  commits: number;
  /** Changed files per later commit. */
  perCommit: number;
  /** Bytes of noise in a data file (0 = small text). */
  noise: number;
}

const SHAPES: Record<'medium' | 'large', Shape> = {
  medium: { dirs: 100, etcFiles: 5, dataFiles: 45, commits: 200, perCommit: 5, noise: 0 },
  large: { dirs: 200, etcFiles: 5, dataFiles: 95, commits: 20, perCommit: 10, noise: 5600 },
};

/** Deterministic pseudo-random bytes (AES-128-CTR over zeros with a fixed key). */
class Noise {
  private readonly c = createCipheriv('aes-128-ctr', Buffer.alloc(16, 7), Buffer.alloc(16, 1));
  bytes(n: number): Buffer {
    return this.c.update(Buffer.alloc(n));
  }
  int(n: number): number {
    return this.bytes(4).readUInt32LE(0) % n;
  }
}

const pad = (i: number) => String(i).padStart(3, '0');

function content(noise: Noise, shape: Shape, file: string, rev: number): Buffer {
  if (file.includes('/data/') && shape.noise > 0) {
    return Buffer.from(`# ${file} rev ${rev}\n${noise.bytes((shape.noise * 3) / 4).toString('base64').replace(/(.{76})/g, '$1\n')}\n`);
  }
  const lines = [`# ${file}`, `revision = ${rev}`];
  const n = 8 + noise.int(20);
  for (let i = 0; i < n; i++) lines.push(`key_${i} = "${noise.bytes(9).toString('hex')}"`);
  return Buffer.from(lines.join('\n') + '\n');
}

/** Generate `name` (medium or large) as a bare repository at `<root>/<name>.git`. */
export async function generate(root: string, name: 'medium' | 'large'): Promise<RepoInfo> {
  const t0 = performance.now();
  const shape = SHAPES[name];
  const bare = path.join(root, `${name}.git`);
  await mkdir(root, { recursive: true });
  await git(['init', '--quiet', '--bare', '--initial-branch=main', bare]);
  const noise = new Noise();
  const all: string[] = [];
  for (let d = 0; d < shape.dirs; d++) {
    for (let f = 0; f < shape.etcFiles; f++) all.push(`svc${pad(d)}/etc/conf${f}.ini`);
    for (let f = 0; f < shape.dataFiles; f++) all.push(`svc${pad(d)}/data/file${pad(f)}.txt`);
  }
  let when = 1_700_000_000;
  await pipeInto('git', ['fast-import', '--quiet', '--done'], bare, async (w) => {
    const write = (b: string | Buffer) => new Promise<void>((resolve) => (w.write(b) ? resolve() : w.once('drain', resolve)));
    for (let c = 0; c < shape.commits; c++) {
      const touched = c === 0 ? all : Array.from({ length: shape.perCommit }, () => all[noise.int(all.length)]!);
      const msg = c === 0 ? 'initial import' : `change ${c}`;
      let out = `commit refs/heads/main\ncommitter Gitopper Bench <bench@gitopper.invalid> ${when++} +0000\ndata ${Buffer.byteLength(msg)}\n${msg}\n`;
      await write(out);
      for (const f of new Set(touched)) {
        const body = content(noise, shape, f, c);
        await write(`M 100644 inline ${f}\ndata ${body.length}\n`);
        await write(body);
        await write('\n');
      }
    }
    await write('done\n');
  });
  await git(['repack', '-a', '-d', '-q'], { cwd: bare });
  await configure(bare);
  return info(name, bare, shape.dirs, performance.now() - t0);
}

/** The generated gitopper-config history (`test/rig/config-repo.ts`) as `<root>/small.git`; its service is grafana's two links. */
export async function configRepo(root: string): Promise<RepoInfo> {
  const t0 = performance.now();
  const bare = path.join(root, 'small.git');
  await makeConfigRepo(bare);
  await configure(bare);
  return info('small', bare, 1, performance.now() - t0);
}

async function configure(bare: string): Promise<void> {
  await git(['config', 'http.receivepack', 'true'], { cwd: bare });
  await git(['config', 'uploadpack.allowFilter', 'true'], { cwd: bare });
  await git(['config', 'uploadpack.allowAnySHA1InWant', 'true'], { cwd: bare });
}

async function info(name: RepoName, bare: string, services: number, ms: number): Promise<RepoInfo> {
  const files = Number((await git(['ls-tree', '-r', '--name-only', 'main'], { cwd: bare })).split('\n').filter(Boolean).length);
  const commits = Number((await git(['rev-list', '--count', 'main'], { cwd: bare })).trim());
  const sizes = await git(['count-objects', '-v'], { cwd: bare });
  const packKiB = Number(/size-pack: (\d+)/.exec(sizes)?.[1] ?? 0);
  return { name, dir: `${name}.git`, bare, files, commits, packBytes: packKiB * 1024, services, seconds: ms / 1000 };
}
