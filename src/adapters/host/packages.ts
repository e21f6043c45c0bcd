/**
 * PackagePort with the host's package manager (a service's `package` key, docs/config.md): install a
 * package, as the agent's user (root in production), at the service's first pass when it is missing;
 * never upgrade or remove it. gitopper installed it too (its `ospkg/`: apt-get on Debian, pacman on Arch);
 * the key is not informational. Debian/Ubuntu and their `ID_LIKE` relatives use dpkg-query +
 * `apt-get install --no-upgrade`; Arch uses `pacman -S --needed`; other systems get a clear error (the
 * service is BROKEN, not the agent). The distribution comes from os-release(5).
 *
 * apt-get waits up to {@link LOCK_WAIT_SECONDS} for the dpkg lock (`DPkg::Lock::Timeout`, apt.conf(5),
 * apt >= 1.9.11) instead of failing at once: on a fresh host unattended-upgrades or cloud-init often
 * holds it for a while, and a failure would only make the service BROKEN until the next pass.
 */
import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { promisify } from 'node:util';
import type { PackagePort } from '../../ports/host.js';

const run = promisify(execFile);

/** Package names as Debian and Arch allow them; anything else never reaches a command line. */
const PACKAGE_NAME = /^[a-z0-9][a-z0-9+._-]{0,127}$/;

/** Seconds apt-get waits for another apt or dpkg to release the dpkg lock before it fails. */
export const LOCK_WAIT_SECONDS = 120;

/** Which package manager a host uses, from os-release's ID and ID_LIKE. */
export function packageFamily(osRelease: string): 'debian' | 'arch' | undefined {
  const field = (k: string) => new RegExp(`^${k}=("?)([^"\\n]*)\\1$`, 'm').exec(osRelease)?.[2] ?? '';
  const ids = [field('ID'), ...field('ID_LIKE').split(/\s+/)].filter(Boolean);
  if (ids.some((i) => i === 'debian' || i === 'ubuntu')) return 'debian';
  if (ids.includes('arch')) return 'arch';
  return undefined;
}

/** Installs packages with apt-get or pacman. */
export class SystemPackages implements PackagePort {
  /** @param osReleasePath os-release file to read (os-release(5): /etc/os-release, else /usr/lib/os-release) */
  constructor(private readonly osReleasePath = '/etc/os-release') {}

  async ensure(name: string): Promise<'installed' | 'present'> {
    if (!PACKAGE_NAME.test(name)) throw new Error(`"${name}" is not a valid package name`);
    const text = await readFile(this.osReleasePath, 'utf8').catch(() => readFile('/usr/lib/os-release', 'utf8'));
    const family = packageFamily(text);
    if (family === 'debian') {
      const status = await run('dpkg-query', ['-W', '-f=${Status}', name]).then((r) => r.stdout, () => '');
      if (status.trim() === 'install ok installed') return 'present';
      await run('apt-get', ['install', '-y', '-q', '--no-upgrade', '-o', `DPkg::Lock::Timeout=${LOCK_WAIT_SECONDS}`, name], { env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' }, maxBuffer: 16 << 20 }).catch((err: { stderr?: string; message: string }) => {
        throw new Error(`apt-get install ${name} failed: ${(err.stderr ?? err.message).trim().split('\n').slice(-2).join(' ')}`);
      });
      return 'installed';
    }
    if (family === 'arch') {
      const present = await run('pacman', ['-Q', name]).then(() => true, () => false);
      if (present) return 'present';
      await run('pacman', ['-S', '--noconfirm', '--needed', name], { maxBuffer: 16 << 20 }).catch((err: { stderr?: string; message: string }) => {
        throw new Error(`pacman -S ${name} failed: ${(err.stderr ?? err.message).trim().split('\n').slice(-2).join(' ')}`);
      });
      return 'installed';
    }
    throw new Error(`installing packages is not supported on this system (os-release ID not Debian/Ubuntu/Arch-like): install "${name}" yourself or remove "package"`);
  }
}
