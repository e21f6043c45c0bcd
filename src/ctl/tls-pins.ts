/**
 * gitopperctl's pin file: the agents' pinned TLS server certificates. It is named `known_hosts`
 * on disk ({@link pinFile}) and its lines look like OpenSSH's, but it holds certificate
 * fingerprints, not SSH host keys: one line per agent, `<host>:<port> <SHA-256 fingerprint>`
 * (`AB:CD:…`, as `openssl x509 -fingerprint -sha256` prints it); `#` starts a comment. A host is
 * pinned on first use; a different certificate later is refused until its line is removed
 * (`gitopperctl forget @host`, {@link TlsPins.remove}).
 */
import { appendFileSync, mkdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import writeFileAtomic from 'write-file-atomic';

/** The default pin file: `$XDG_CONFIG_HOME/gitopper/known_hosts`, else `~/.config/gitopper/known_hosts`. */
export function pinFile(env: { readonly HOME?: string; readonly XDG_CONFIG_HOME?: string }, home: string): string {
  const base = env.XDG_CONFIG_HOME && path.isAbsolute(env.XDG_CONFIG_HOME) ? env.XDG_CONFIG_HOME : path.join(env.HOME ?? home, '.config');
  return path.join(base, 'gitopper', 'known_hosts');
}

/** A pinned fingerprint and the line it is on (1-based). */
export interface Pin {
  readonly fingerprint: string;
  readonly line: number;
}

/** A pin {@link TlsPins.remove} removed: whose, and the line it was on. */
export interface RemovedPin extends Pin {
  /** `host:port` as the pin file keys it. */
  readonly hostPort: string;
}

/** The fingerprint `line` pins for `hostPort` (upper case), or undefined (another host, a comment, a blank). */
function pinOf(line: string, hostPort: string): string | undefined {
  const [host, fingerprint] = line.trim().split(/\s+/);
  if (host === hostPort.toLowerCase() && fingerprint !== undefined && !host.startsWith('#')) return fingerprint.toUpperCase();
  return undefined;
}

/** The pin file at `file` (read at each lookup, so concurrent gitopperctl runs agree). */
export class TlsPins {
  /** @param file path of the pin file (see {@link pinFile}); it need not exist yet */
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
      const fingerprint = pinOf(lines[i]!, hostPort);
      if (fingerprint !== undefined) return { fingerprint, line: i + 1 };
    }
    return undefined;
  }

  /**
   * Removes every pin of each of `hostPorts` (one per host, unless two first connections raced)
   * in one rewrite, and returns them in file order, with the lines they were on before; [] when
   * there is none (or no file), and then the file is left alone. Every other line (other hosts,
   * comments, blanks) is kept byte for byte. The new file (mode 0600) replaces the old one
   * atomically (write-file-atomic: a temp file beside it, fsync, rename), so a reader sees the old
   * or the new file, never half of one; no temp file is left behind, even after a failure.
   * Throws when the file cannot be read or written.
   */
  remove(hostPorts: readonly string[]): RemovedPin[] {
    let text: string;
    try {
      text = readFileSync(this.file, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw err;
    }
    const removed: RemovedPin[] = [];
    const kept = text.split('\n').filter((line, i) => {
      for (const hostPort of hostPorts) {
        const fingerprint = pinOf(line, hostPort);
        if (fingerprint !== undefined) return !removed.push({ hostPort, fingerprint, line: i + 1 });
      }
      return true;
    });
    if (removed.length === 0) return [];
    writeFileAtomic.sync(this.file, kept.join('\n'), { mode: 0o600 });
    return removed;
  }

  /** Pins `fingerprint` for `hostPort` (creating the file, mode 0600, and its directory, 0700). */
  add(hostPort: string, fingerprint: string): void {
    mkdirSync(path.dirname(this.file), { recursive: true, mode: 0o700 });
    appendFileSync(this.file, `${hostPort.toLowerCase()} ${fingerprint}\n`, { mode: 0o600 });
  }
}
