/**
 * File-tree comparisons for fault tests: what is visible at a mount target against what a commit
 * holds under a link, byte for byte, with nothing missing and nothing left over.
 */
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import type { WorkClone } from '../../rig/repo.js';

/**
 * Every regular file below `dir` (recursive; symlinks and other types are listed as `<symlink>`/`<other>`),
 * keyed by its path relative to `dir` with `/` separators, valued by its content as a latin1 string
 * (exact bytes). Throws when `dir` cannot be read.
 */
export function filesUnder(dir: string): Map<string, string> {
  const out = new Map<string, string>();
  const walk = (rel: string) => {
    for (const e of readdirSync(path.join(dir, rel), { withFileTypes: true })) {
      const r = rel ? `${rel}/${e.name}` : e.name;
      if (e.isDirectory()) walk(r);
      else if (e.isFile()) out.set(r, readFileSync(path.join(dir, r)).toString('latin1'));
      else out.set(r, e.isSymbolicLink() ? '<symlink>' : '<other>');
    }
  };
  walk('');
  return new Map([...out].sort(([a], [b]) => (a < b ? -1 : 1)));
}

/**
 * The files of `commit` below `link` (a directory in the repository), in the shape of
 * {@link filesUnder}: relative to `link`, content as latin1. Read with the git CLI from `work`.
 */
export async function filesAt(work: WorkClone, commit: string, link: string): Promise<Map<string, string>> {
  const names = (await work.git('ls-tree', '-r', '--name-only', commit, '--', `${link}/`)).split('\n').filter(Boolean);
  const out = new Map<string, string>();
  for (const name of names) {
    const buf = await gitBytes(work, `${commit}:${name}`);
    out.set(name.slice(link.length + 1), buf.toString('latin1'));
  }
  return new Map([...out].sort(([a], [b]) => (a < b ? -1 : 1)));
}

/** `git cat-file blob <spec>` as exact bytes. */
async function gitBytes(work: WorkClone, spec: string): Promise<Buffer> {
  const { execFile } = await import('node:child_process');
  return new Promise((resolve, reject) =>
    execFile('git', ['cat-file', 'blob', spec], { cwd: work.dir, encoding: 'buffer', maxBuffer: 64 * 1024 * 1024 }, (err, stdout) => (err ? reject(err) : resolve(stdout))),
  );
}

/** Names of the entries of two {@link filesUnder}-shaped maps that differ (missing on a side, or other bytes), sorted. */
export function differing(a: Map<string, string>, b: Map<string, string>): string[] {
  const names = new Set([...a.keys(), ...b.keys()]);
  return [...names].filter((n) => a.get(n) !== b.get(n)).sort();
}
