/**
 * Test rig: optional Debian packages. A few tests drive real programs that a fresh Debian machine
 * lacks (`openssh-server`'s sshd, `prometheus`'s prometheus and promtool). Such a test skips, with
 * the package named, when a program is missing, and runs (and may fail) whenever it is there.
 *
 *   test('…', { skip: missingPackage('openssh-server', '/usr/sbin/sshd') }, async () => { … });
 */
import { accessSync, constants, statSync } from 'node:fs';
import path from 'node:path';

/** Results of {@link missingPackage}, computed once per process per package and programs. */
const seen = new Map<string, string | false>();

/** Whether `file` is a regular file this process may execute. */
function executable(file: string): boolean {
  try {
    accessSync(file, constants.X_OK);
    return statSync(file).isFile();
  } catch {
    return false;
  }
}

/**
 * Where `program` is: itself when it is an absolute path, else the first executable of that name in
 * a `$PATH` directory; `undefined` when there is none.
 */
export function findProgram(program: string): string | undefined {
  if (path.isAbsolute(program)) return executable(program) ? program : undefined;
  for (const dir of (process.env.PATH ?? '').split(path.delimiter)) {
    if (dir && executable(path.join(dir, program))) return path.join(dir, program);
  }
  return undefined;
}

/**
 * For node:test's `skip`: `false` when every one of `programs` (absolute paths, or names looked up in
 * `$PATH`) is installed, else the reason, naming the Debian package `pkg` and how to install it, e.g.
 * `openssh-server is not installed (/usr/sbin/sshd missing): apt-get install openssh-server`.
 * Looks once per process; never throws.
 */
export function missingPackage(pkg: string, ...programs: string[]): string | false {
  const key = [pkg, ...programs].join('\0');
  let why = seen.get(key);
  if (why === undefined) {
    const missing = programs.filter((p) => findProgram(p) === undefined).map((p) => (path.isAbsolute(p) ? `${p} missing` : `no ${p} in PATH`));
    why = missing.length === 0 ? false : `${pkg} is not installed (${missing.join(', ')}): apt-get install ${pkg}`;
    seen.set(key, why);
  }
  return why;
}
