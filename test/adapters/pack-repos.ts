/**
 * Repositories with packs made by the git CLI for the pack reader tests (test/git-packs-*.test.ts):
 * a history written with `git fast-import`, then packed the way the test asks (`git repack -adf` for
 * delta chains, `git index-pack --index-version=2,<n>` for large offsets), and what git says of them.
 */
import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { GIT_ENV } from '../rig/repo.js';

/** Run git in `cwd` synchronously; stdout as a Buffer. */
export function gitSync(cwd: string, args: string[], input?: Buffer | string): Buffer {
  return execFileSync('git', args, { cwd, input, env: { ...process.env, ...GIT_ENV }, maxBuffer: 512 * 1024 * 1024 });
}

/** Shape of {@link makeHistory}'s repository. */
export interface HistoryOptions {
  /** Commits on `main` (default 30). */
  readonly commits?: number;
  /** Text files, each edited a little in every commit so repacking makes delta chains (default 40). */
  readonly files?: number;
  /** Bytes of one incompressible blob added by the first commit (default 0: none). */
  readonly bigBlob?: number;
}

/**
 * A bare repository at `gitdir` (created) with a history written by `git fast-import` (which leaves
 * one pack, mostly without deltas). Resolves with the tip of `main`.
 */
export function makeHistory(gitdir: string, o: HistoryOptions = {}): string {
  const commits = o.commits ?? 30;
  const files = o.files ?? 40;
  gitSync(path.dirname(gitdir), ['init', '-q', '--bare', '-b', 'main', gitdir]);
  const parts: Buffer[] = [];
  const data = (b: Buffer | string) => {
    const buf = typeof b === 'string' ? Buffer.from(b) : b;
    parts.push(Buffer.from(`data ${buf.length}\n`), buf, Buffer.from('\n'));
  };
  const lines = Array.from({ length: files }, (_, f) => Array.from({ length: 60 }, (_, l) => `file ${f} line ${l} of some text that repeats a little ${createHash('sha1').update(`${f}/${l}`).digest('hex')}`));
  for (let c = 1; c <= commits; c++) {
    parts.push(Buffer.from(`commit refs/heads/main\nmark :${c}\ncommitter Rig <rig@gitopper.invalid> ${1700000000 + c * 60} +0000\n`));
    data(`commit ${c}\n`);
    if (c > 1) parts.push(Buffer.from(`from :${c - 1}\n`));
    for (let f = 0; f < files; f++) {
      if (c > 1 && (f + c) % 3 !== 0) continue;
      lines[f]![(c * 7 + f) % 60] = `file ${f} changed in commit ${c}`;
      parts.push(Buffer.from(`M 100644 inline dir${f % 5}/file${f}.txt\n`));
      data(lines[f]!.join('\n') + '\n');
    }
    if (c === 1 && (o.bigBlob ?? 0) > 0) {
      parts.push(Buffer.from('M 100644 inline big/blob.bin\n'));
      data(randomBytes(o.bigBlob!));
    }
    parts.push(Buffer.from('\n'));
  }
  gitSync(gitdir, ['-c', 'fastimport.unpackLimit=1', 'fast-import', '--quiet'], Buffer.concat(parts)); // a pack however few objects
  return gitSync(gitdir, ['rev-parse', 'main']).toString().trim();
}

/** Paths of the `.pack` files of `gitdir`, sorted. */
export function packFiles(gitdir: string): string[] {
  const dir = path.join(gitdir, 'objects', 'pack');
  return readdirSync(dir).filter((n) => n.endsWith('.pack')).sort().map((n) => path.join(dir, n));
}

/** One object as `git cat-file --batch` gives it. */
export interface CatObject {
  readonly oid: string;
  readonly type: string;
  readonly content: Buffer;
}

/** Every object of `gitdir` (packed and loose) with its type and content, from `git cat-file --batch`. */
export function allObjects(gitdir: string): CatObject[] {
  const out = gitSync(gitdir, ['cat-file', '--batch-all-objects', '--batch']);
  const objects: CatObject[] = [];
  for (let at = 0; at < out.length;) {
    const nl = out.indexOf(0x0a, at);
    const [oid, type, size] = out.toString('utf8', at, nl).split(' ');
    const start = nl + 1;
    objects.push({ oid: oid!, type: type!, content: out.subarray(start, start + Number(size)) });
    at = start + Number(size) + 1;
  }
  return objects;
}

/** `git verify-pack -v` of the pack at `packFile`: offset and delta depth of each object, and the longest chain. */
export function verifyPack(packFile: string): { offsets: Map<string, number>; depth: Map<string, number>; maxChain: number } {
  const out = gitSync(path.dirname(packFile), ['verify-pack', '-v', packFile.replace(/\.pack$/, '.idx')]).toString();
  const offsets = new Map<string, number>();
  const depth = new Map<string, number>();
  let maxChain = 0;
  for (const line of out.split('\n')) {
    const m = /^([0-9a-f]{40}) \S+ +\d+ \d+ (\d+)(?: (\d+) [0-9a-f]{40})?/.exec(line);
    if (m) {
      offsets.set(m[1]!, Number(m[2]));
      depth.set(m[1]!, Number(m[3] ?? 0));
    }
    const c = /^chain length = (\d+):/.exec(line);
    if (c) maxChain = Math.max(maxChain, Number(c[1]));
  }
  return { offsets, depth, maxChain };
}

/** The read bytes of this process so far (`rchar` of /proc/self/io: every read(2)/pread(2), cached or not). */
export function rchar(): number {
  return Number(/rchar: (\d+)/.exec(readFileSync('/proc/self/io', 'utf8'))![1]);
}

/** Open file descriptors of this process (entries of /proc/self/fd). */
export function openFds(): number {
  return readdirSync('/proc/self/fd').length;
}
