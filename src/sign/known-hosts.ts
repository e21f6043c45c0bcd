/**
 * gitopperctl's pinned server certificates, like ssh's known_hosts: one line per agent,
 * `<host>:<port> <SHA-256 fingerprint>` (`AB:CD:…`, as `openssl x509 -fingerprint -sha256`
 * prints it); `#` starts a comment. A host is pinned on first use; a different certificate later
 * is refused until its line is removed.
 */
import { appendFileSync, mkdirSync, readFileSync } from 'node:fs';
import path from 'node:path';

/** The default file: `$XDG_CONFIG_HOME/gitopper/known_hosts`, else `~/.config/gitopper/known_hosts`. */
export function knownHostsFile(env: { readonly HOME?: string; readonly XDG_CONFIG_HOME?: string }, home: string): string {
  const base = env.XDG_CONFIG_HOME && path.isAbsolute(env.XDG_CONFIG_HOME) ? env.XDG_CONFIG_HOME : path.join(env.HOME ?? home, '.config');
  return path.join(base, 'gitopper', 'known_hosts');
}

/** A pinned fingerprint and the line it is on (1-based). */
export interface Pin {
  readonly fingerprint: string;
  readonly line: number;
}

/** The known_hosts file at `file` (read at each lookup, so concurrent gitopperctl runs agree). */
export class KnownHosts {
  constructor(readonly file: string) {}

  /** The pin of `hostPort` (`web1:2222`, `[::1]:2222`), or undefined. Throws when the file exists but cannot be read. */
  lookup(hostPort: string): Pin | undefined {
    let text: string;
    try {
      text = readFileSync(this.file, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw err;
    }
    const lines = text.split('\n');
    for (let i = 0; i < lines.length; i++) {
      const [host, fingerprint] = lines[i]!.trim().split(/\s+/);
      if (host === hostPort.toLowerCase() && fingerprint !== undefined && !host.startsWith('#')) return { fingerprint: fingerprint.toUpperCase(), line: i + 1 };
    }
    return undefined;
  }

  /** Pins `fingerprint` for `hostPort` (creating the file, mode 0600, and its directory, 0700). */
  add(hostPort: string, fingerprint: string): void {
    mkdirSync(path.dirname(this.file), { recursive: true, mode: 0o700 });
    appendFileSync(this.file, `${hostPort.toLowerCase()} ${fingerprint}\n`, { mode: 0o600 });
  }
}
