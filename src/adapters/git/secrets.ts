/**
 * age-encrypted files in a service's checkout (docs/trust-and-rollout.md "Secrets in the repository"):
 * every regular file `X.age` under the links of a checkout whose `CheckoutRef.ageIdentity` is set is
 * decrypted with that identity (`secrets-identity.ts`; the `age-encryption` library, binary or
 * ASCII-armored files: age spec, https://age-encryption.org/v1) and written beside it as `X`, mode
 * 0600, owned by the service's user. `X` is never tracked, never logged, never in the object store.
 *
 * Two halves, so a file that cannot be decrypted changes nothing: {@link planSecrets} decrypts into
 * memory (and checks that no tracked `X` is in the way); {@link installSecrets} writes each plaintext
 * beside its target (`.X.gitopper-new`, as `write-aside.ts`) and renames it into place, then records
 * what it wrote in the manifest (`secrets-manifest.ts`) that drift compares with (`secrets-drift.ts`).
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import { lchown, lstat, mkdir, rename, rm } from 'node:fs/promises';
import path from 'node:path';
import git from 'isomorphic-git';
import { armor, type Decrypter } from 'age-encryption';
import type { CheckoutRef } from '../../ports/git.js';
import type { Owner } from '../../ports/host.js';
import type { Pass } from './object-cache.js';
import { SecretError } from '../../errors/secret-error.js';
import { loadDecrypter } from './secrets-identity.js';
import { readManifest, writeManifest, type SecretManifest, type SecretRecord } from './secrets-manifest.js';
import { asideOf } from './write-aside.js';
import { entryAt, readTreeOid } from './trees.js';
import { isoFs } from './iso-fs.js';

/** The suffix of an encrypted file (age's convention). */
export const AGE_SUFFIX = '.age';

/** One `.age` file of a commit under a checkout's links. */
export interface Secret {
  /** Repository path of the `.age` file. */
  readonly source: string;
  /** Repository path of its plaintext: `source` without `.age`. */
  readonly output: string;
  /** The `.age` file's blob id (40 hex). */
  readonly blob: string;
}

/** A {@link Secret} decrypted (in memory only until {@link installSecrets} writes it). */
interface Decrypted extends Secret {
  readonly data: Uint8Array;
  readonly sha256: string;
}

/** What {@link installSecrets} writes and removes, and the manifest it leaves. */
export interface SecretPlan {
  /** The secrets decrypted (plaintext in memory), to be written. */
  readonly writes: readonly Decrypted[];
  /** Output paths of secrets gone from the commit (their `.age` removed upstream): removed. */
  readonly removes: readonly string[];
  /** The manifest once they are written and removed. */
  readonly manifest: SecretManifest;
}

/**
 * Which secrets a plan decrypts: `checkout`, those whose `.age` blob differs from the manifest's
 * (new or changed upstream); `catch-up` (before a pass, for the deployed commit), those too but never
 * over a file that is not in the manifest (an operator's file stays, and is reported as drift);
 * a list of output paths (drift = "revert"), exactly those. Only `checkout` and `catch-up` remove the
 * plaintexts of secrets the commit no longer has.
 */
export type PlanMode = 'checkout' | 'catch-up' | readonly string[];

/** `p` (a repository path) without `.age`, or undefined when it is no `.age` file (or is named just `.age`). */
export function outputOf(p: string): string | undefined {
  return p.endsWith(AGE_SUFFIX) && path.posix.basename(p).length > AGE_SUFFIX.length ? p.slice(0, -AGE_SUFFIX.length) : undefined;
}

/**
 * The regular `.age` files (modes 100644/100755; not symlinks) of `commit` under `links`, from the
 * object store `store`, sorted by path; a link that is itself such a file counts.
 * @throws isomorphic-git errors when an object cannot be read
 */
export async function secretsAt(store: string, links: readonly string[], commit: string, pass: Pass): Promise<Secret[]> {
  const found = new Map<string, Secret>();
  const add = (p: string, e: { oid: string; type: string; mode?: string }) => {
    const output = outputOf(p);
    if (output !== undefined && e.type === 'blob' && (e.mode === '100644' || e.mode === '100755')) found.set(p, { source: p, output, blob: e.oid });
  };
  const walk = async (prefix: string, oid: string): Promise<void> => {
    for (const [name, e] of await readTreeOid(store, oid, pass)) {
      if (e.type === 'tree') await walk(`${prefix}/${name}`, e.oid);
      else add(`${prefix}/${name}`, e);
    }
  };
  for (const link of links) {
    const e = await entryAt(store, commit, link, pass);
    if (e?.type === 'tree') await walk(link, e.oid);
    else if (e) add(link, e);
  }
  return [...found.values()].sort((a, b) => (a.source < b.source ? -1 : 1));
}

/**
 * Decrypt the secrets of `commit` that `mode` picks ({@link PlanMode}) into memory, for `co` (whose
 * `ageIdentity` must be set); nothing on disk changes. The identity file is read only when something
 * is to be decrypted.
 * @throws SecretError when a tracked file of `commit` has the path of a secret's plaintext, the
 *   identity cannot be used, or a file does not decrypt with it; isomorphic-git/I/O errors
 */
export async function planSecrets(store: string, co: CheckoutRef, commit: string, pass: Pass, mode: PlanMode): Promise<SecretPlan> {
  const secrets = await secretsAt(store, co.links, commit, pass);
  for (const s of secrets) {
    if (await entryAt(store, commit, s.output, pass)) {
      throw new SecretError(`${s.output} and ${s.source} are both in the repository at ${commit.slice(0, 8)}: the decrypted ${s.source} would overwrite the tracked file, so neither is deployed. Fix: remove one of them upstream`, { path: s.source });
    }
  }
  const before = await readManifest(path.join(co.dir, '.git'));
  const picked: Secret[] = [];
  for (const s of secrets) {
    const rec = before.get(s.output);
    if (Array.isArray(mode) ? mode.includes(s.output) : rec?.blob !== s.blob && (mode === 'checkout' || rec !== undefined || !(await exists(path.join(co.dir, s.output))))) picked.push(s);
  }
  const writes: Decrypted[] = [];
  if (picked.length > 0) {
    const decrypter = await loadDecrypter(co.ageIdentity!);
    for (const s of picked) writes.push(await decryptOne(store, s, decrypter, co.ageIdentity!, commit, pass));
  }
  const manifest: SecretManifest = new Map();
  for (const s of secrets) {
    const w = writes.find((x) => x.output === s.output);
    const rec: SecretRecord | undefined = w ? { source: s.source, blob: s.blob, sha256: w.sha256 } : before.get(s.output);
    if (rec) manifest.set(s.output, rec);
  }
  const outputs = new Set(secrets.map((s) => s.output));
  const removes: string[] = [];
  // a plaintext whose .age is gone is removed, unless the commit now tracks a file there
  if (!Array.isArray(mode)) for (const p of before.keys()) if (!outputs.has(p) && !(await entryAt(store, commit, p, pass))) removes.push(p);
  if (Array.isArray(mode)) for (const [p, rec] of before) if (!outputs.has(p)) manifest.set(p, rec);
  return { writes, removes, manifest };
}

/**
 * Write `plan` into the checkout `dir`: each plaintext beside its target (mode 0600, owned by `owner`),
 * then every one renamed into place (readers never see a file half written; a symlink in the way is
 * replaced, never written through); the plaintexts of removed secrets deleted (regular files and
 * symlinks only); the manifest replaced. The plaintext buffers are zeroed afterwards.
 * Call under the checkout's lock, after the symlink guards (`symlinks.ts`) ran for the links.
 * @throws I/O errors (the temporary files written are removed first)
 */
export async function installSecrets(dir: string, plan: SecretPlan, owner: Owner | undefined): Promise<void> {
  const staged: { tmp: string; file: string }[] = [];
  try {
    for (const w of plan.writes) {
      const file = path.join(dir, w.output);
      await mkdir(path.dirname(file), { recursive: true, mode: 0o755 });
      const tmp = asideOf(file);
      await rm(tmp, { force: true });
      staged.push({ tmp, file });
      await fs.promises.writeFile(tmp, w.data, { mode: 0o600, flag: 'wx' });
      await fs.promises.chmod(tmp, 0o600); // whatever the umask
      if (owner) await lchown(tmp, owner.uid, owner.gid);
    }
  } catch (err) {
    for (const s of staged) await rm(s.tmp, { force: true }).catch(() => undefined);
    throw err;
  } finally {
    for (const w of plan.writes) w.data.fill(0);
  }
  for (const s of staged) await rename(s.tmp, s.file);
  for (const p of plan.removes) {
    const file = path.join(dir, p);
    const st = await lstat(file).catch(() => undefined);
    if (st && (st.isFile() || st.isSymbolicLink())) await rm(file, { force: true });
  }
  await writeManifest(path.join(dir, '.git'), plan.manifest);
}

/** The SHA-256 of `data` (64 hex): what the manifest records of a plaintext. */
export function digest(data: Uint8Array): string {
  return createHash('sha256').update(data).digest('hex');
}

/**
 * Secret `s` of `commit` decrypted with `decrypter` (the identity file `identity`). ASCII armor is
 * recognised by its first line (age spec, "ASCII armor"). The library's messages are passed on only
 * where they cannot quote the file: a plaintext committed as `.age` must not reach the state info.
 * @throws SecretError
 */
async function decryptOne(store: string, s: Secret, decrypter: Decrypter, identity: string, commit: string, pass: Pass): Promise<Decrypted> {
  const where = `${s.source} at ${commit.slice(0, 8)}`;
  let { blob } = await git.readBlob({ fs: isoFs, gitdir: store, oid: s.blob, cache: pass.cache });
  const head = Buffer.from(blob.subarray(0, 64)).toString('latin1').trimStart();
  if (head.startsWith('-----BEGIN AGE ENCRYPTED FILE-----')) {
    try {
      blob = armor.decode(Buffer.from(blob).toString('latin1'));
    } catch (err) {
      throw new SecretError(`${where} is not a valid ASCII-armored age file (${libraryReason(err)}). Fix: encrypt it again (age -a -r RECIPIENT) and push it`, { path: s.source });
    }
  }
  let data: Uint8Array;
  try {
    data = await decrypter.decrypt(blob);
  } catch (err) {
    const msg = err instanceof Error ? err.message : '';
    const why = msg.startsWith('no identity matched')
      ? `is not encrypted to this host's age identity ${identity} (none of its recipients matches). Fix: encrypt it to this host's recipient too (age-keygen -y ${identity} prints it)`
      : msg.startsWith('invalid version')
        ? 'is not an age-encrypted file (it lacks the age header). Fix: encrypt it with age and push it; if it was committed in clear, change the secret'
        : `cannot be decrypted with ${identity}: it is corrupt (${libraryReason(err)}). Fix: encrypt it again and push it`;
    throw new SecretError(`${where} ${why}`, { path: s.source });
  }
  return { ...s, data, sha256: digest(data) };
}

/** A library error's message, cut short and with anything but plain words removed (it never quotes the file this way). */
function libraryReason(err: unknown): string {
  const msg = err instanceof Error ? err.message : String(err);
  return /^[A-Za-z0-9 :'-]{1,80}$/.test(msg) && !msg.startsWith('invalid version') ? msg : 'malformed';
}

/** True when `p` exists (lstat: a symlink counts). */
async function exists(p: string): Promise<boolean> {
  return (await lstat(p).catch(() => undefined)) !== undefined;
}
