/**
 * The API's TLS certificate: the operator's (`--tls-cert`/`--tls-key`), or one the daemon makes
 * for itself once (self-signed, ECDSA P-256, for its host names, valid 10 years) and keeps under
 * `<state-dir>/tls/` (`api.key` mode 0600, `api.crt`), so that clients that pinned it on first
 * use (gitopperctl's pin file) keep trusting it across restarts. Its SHA-256 fingerprint is
 * what operators compare with the one gitopperctl pins.
 */
import { X509Certificate, createPrivateKey } from 'node:crypto';
import { chmod, mkdir, readFile, stat, writeFile } from 'node:fs/promises';
import { isIP } from 'node:net';
import path from 'node:path';
import { generate } from 'selfsigned';
import { GitopperError } from '../errors/gitopper-error.js';

/** A certificate and key to serve, with where they came from. */
export interface TlsMaterial {
  /** PEM certificate (chain). */
  readonly cert: string;
  /** PEM private key. */
  readonly key: string;
  /** SHA-256 fingerprint of the (first) certificate, `AB:CD:…` (as `openssl x509 -fingerprint -sha256` prints it). */
  readonly fingerprint: string;
  /** `files`: the operator's; `created`: made now; `kept`: made earlier and read from the state dir. */
  readonly origin: 'files' | 'created' | 'kept';
  /** The certificate file. */
  readonly certFile: string;
}

/** Options of {@link serverTls}. */
export interface TlsOptions {
  readonly stateDir: string;
  /** Host names / addresses for the self-signed certificate's subjectAltName. */
  readonly names: readonly string[];
  /** `--tls-cert` and `--tls-key`: both or neither. */
  readonly certFile?: string;
  readonly keyFile?: string;
}

/** The TLS material could not be had: unreadable, mismatched, or not PEM. */
export class TlsError extends GitopperError {
  readonly code = 'TLS';
}

/** The directory of the self-signed certificate below the state dir. */
export const tlsDir = (stateDir: string): string => path.join(stateDir, 'tls');

/** `AB:CD:…` SHA-256 fingerprint of a PEM certificate. Throws TlsError. */
export function certFingerprint(pem: string): string {
  try {
    return new X509Certificate(pem).fingerprint256;
  } catch (err) {
    throw new TlsError(`not a PEM certificate: ${(err as Error).message}`);
  }
}

function check(cert: string, key: string, where: string): string {
  const fingerprint = certFingerprint(cert);
  let ok: boolean;
  try {
    ok = new X509Certificate(cert).checkPrivateKey(createPrivateKey(key));
  } catch (err) {
    throw new TlsError(`${where}: the key is not a PEM private key: ${(err as Error).message}`);
  }
  if (!ok) throw new TlsError(`${where}: the key does not belong to the certificate`);
  return fingerprint;
}

const read = (file: string, what: string) =>
  readFile(file, 'utf8').catch((err: Error) => {
    throw new TlsError(`cannot read ${what} ${file}: ${err.message}`);
  });

/**
 * The certificate to serve: the operator's files when given, else the kept self-signed one,
 * else a new one (written with the key at mode 0600; a kept key with a looser mode is set back
 * to 0600). Throws TlsError.
 */
export async function serverTls(opts: TlsOptions): Promise<TlsMaterial> {
  if (opts.certFile !== undefined && opts.keyFile !== undefined) {
    const [cert, key] = [await read(opts.certFile, '--tls-cert'), await read(opts.keyFile, '--tls-key')];
    return { cert, key, fingerprint: check(cert, key, `--tls-cert ${opts.certFile}`), origin: 'files', certFile: opts.certFile };
  }
  const dir = tlsDir(opts.stateDir);
  const certFile = path.join(dir, 'api.crt');
  const keyFile = path.join(dir, 'api.key');
  const kept = await stat(keyFile).catch(() => undefined);
  if (kept) {
    if ((kept.mode & 0o077) !== 0) await chmod(keyFile, 0o600);
    const [cert, key] = [await read(certFile, 'certificate'), await read(keyFile, 'key')];
    return { cert, key, fingerprint: check(cert, key, certFile), origin: 'kept', certFile };
  }
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const made = await selfSigned(opts.names);
  await writeFile(keyFile, made.private, { mode: 0o600, flag: 'wx' });
  await writeFile(certFile, made.cert, { mode: 0o644 });
  return { cert: made.cert, key: made.private, fingerprint: certFingerprint(made.cert), origin: 'created', certFile };
}

/** A self-signed server certificate for `names` (plus localhost and the loopback addresses). */
export async function selfSigned(names: readonly string[], ca?: { key: string; cert: string }): Promise<{ cert: string; private: string }> {
  const all = [...new Set([...names.filter((n) => n !== ''), 'localhost', '127.0.0.1', '::1'])];
  const altNames = all.map((n) => (isIP(n) ? { type: 7 as const, ip: n } : { type: 2 as const, value: n }));
  const now = Date.now();
  const made = await generate([{ name: 'commonName', value: all[0]! }], {
    keyType: 'ec',
    curve: 'P-256',
    algorithm: 'sha256',
    notBeforeDate: new Date(now - 3600_000),
    notAfterDate: new Date(now + 10 * 365 * 86400_000),
    extensions: [
      { name: 'basicConstraints', cA: false, critical: true },
      { name: 'keyUsage', digitalSignature: true, critical: true },
      { name: 'extKeyUsage', serverAuth: true },
      { name: 'subjectAltName', altNames },
    ],
    ...(ca === undefined ? {} : { ca }),
  });
  return { cert: made.cert, private: made.private };
}
