/**
 * The file system every isomorphic-git call of this adapter is given: node:fs/promises, with one
 * difference. isomorphic-git wraps the `fs` it gets anew on every API call and probes it twice
 * (`isPromiseFs`: `readFile()` with no arguments, to see whether it returns a promise); with node's
 * `fs` that probe throws ERR_INVALID_ARG_TYPE, a stack trace each time: at 100 services a full pass
 * makes hundreds of calls. Here `readFile()` with no arguments answers the probe with a resolved
 * promise and touches nothing; every real call goes straight to node:fs/promises.
 */
import fsp from 'node:fs/promises';

/** `readFile` of node:fs/promises, plus the free answer to isomorphic-git's probe (no arguments). */
function readFile(...args: Parameters<typeof fsp.readFile>): ReturnType<typeof fsp.readFile>;
function readFile(): Promise<undefined>;
function readFile(...args: unknown[]): Promise<unknown> {
  if (args.length === 0) return Promise.resolve(undefined);
  return (fsp.readFile as (...a: unknown[]) => Promise<unknown>)(...args);
}

/**
 * The `fs` argument for isomorphic-git (`{ fs: isoFs, … }`): an enumerable `promises` holding the
 * commands isomorphic-git's FileSystem binds (readFile, writeFile, mkdir, rmdir, unlink, stat, lstat,
 * readdir, readlink, symlink, and rm, cp), all node:fs/promises but for the probe of {@link readFile}.
 */
export const isoFs = {
  promises: { ...fsp, readFile },
};
