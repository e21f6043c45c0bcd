/**
 * UserPort with `getent passwd` (so NSS sources such as LDAP count, as they do for systemd's
 * `User=`). gitopper fell back to root for unknown users; we never do (the caller turns
 * "not found" into BROKEN).
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import type { Owner, UserPort } from '../../ports/host.js';

const run = promisify(execFile);

/** Looks users up with getent(1). */
export class GetentUsers implements UserPort {
  async lookup(name: string): Promise<Owner | undefined> {
    try {
      const { stdout } = await run('getent', ['passwd', '--', name]);
      const f = stdout.trim().split(':');
      const uid = Number(f[2]);
      const gid = Number(f[3]);
      if (!Number.isInteger(uid) || !Number.isInteger(gid)) throw new Error(`getent passwd ${name}: unexpected output`);
      return { user: name, uid, gid };
    } catch (err) {
      if ((err as { code?: unknown }).code === 2) return undefined; // getent: key not found
      throw err;
    }
  }
}
