/**
 * The record of the secrets a checkout holds decrypted (`secrets.ts`), kept in the checkout's git dir
 * as `.git/gitopper-secrets.json` (mode 0600, the agent's own: it holds digests of the plaintexts):
 * for each decrypted file, the `.age` file it came from, that file's blob id, and the SHA-256 of the
 * plaintext written. Drift compares the file with the digest (a local edit or a deleted file is drift);
 * a checkout re-decrypts only the files whose `.age` blob changed. Never in the object store.
 *
 * Format (ours): `{"version":1,"files":{"<output path>":{"source":"<path>.age","blob":"<40 hex>","sha256":"<64 hex>"}}}`.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import writeFileAtomic from 'write-file-atomic';

/** File name of the manifest inside a checkout's `.git`. */
export const SECRETS_FILE = 'gitopper-secrets.json';

/** One decrypted file as the manifest records it. */
export interface SecretRecord {
  /** Repository path of the `.age` file it was decrypted from. */
  readonly source: string;
  /** Blob id (40 hex) of that `.age` file when it was decrypted. */
  readonly blob: string;
  /** SHA-256 (64 hex) of the plaintext written. */
  readonly sha256: string;
}

/** Output path (repository-relative, without `.age`) → its record. */
export type SecretManifest = Map<string, SecretRecord>;

const HEX40 = /^[0-9a-f]{40}$/;
const HEX64 = /^[0-9a-f]{64}$/;

/**
 * The manifest of the checkout whose git dir is `gitdir`; empty when there is none or it does not
 * parse (every secret is then decrypted anew at the next checkout, and reported as drift until then).
 * @throws I/O errors other than ENOENT
 */
export async function readManifest(gitdir: string): Promise<SecretManifest> {
  let text: string;
  try {
    text = await readFile(path.join(gitdir, SECRETS_FILE), 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return new Map();
    throw err;
  }
  const out: SecretManifest = new Map();
  try {
    const files = (JSON.parse(text) as { files?: Record<string, Partial<SecretRecord>> }).files ?? {};
    for (const [p, r] of Object.entries(files)) {
      if (typeof r.source === 'string' && typeof r.blob === 'string' && HEX40.test(r.blob) && typeof r.sha256 === 'string' && HEX64.test(r.sha256)) {
        out.set(p, { source: r.source, blob: r.blob, sha256: r.sha256 });
      }
    }
  } catch {
    return new Map(); // not ours, or cut short: start afresh
  }
  return out;
}

/**
 * Replace the manifest of the checkout whose git dir is `gitdir` by `manifest` (atomically: a temp
 * file, fsync, rename; mode 0600).
 * @throws I/O errors
 */
export async function writeManifest(gitdir: string, manifest: SecretManifest): Promise<void> {
  const file = path.join(gitdir, SECRETS_FILE);
  const files = Object.fromEntries([...manifest].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
  await writeFileAtomic(file, `${JSON.stringify({ version: 1, files })}\n`, { mode: 0o600 });
}
