/**
 * The decrypted secrets (`secrets.ts`) as the rest of the git adapter sees them, for `IsoGit`: a
 * decrypted file is deployed, not added: drift leaves it out of the work-tree walk and compares it with
 * the manifest instead (a local edit, a deleted file, a file no longer mode 0600 is drift); putting
 * it back (drift = "revert", the undo of a checkout cut short) decrypts it again; the paths a commit
 * changes include the plaintext of every `.age` file it changes (so a local edit the new version
 * would overwrite is a clash, as for tracked files); and before a pass, secrets of the deployed commit
 * not decrypted yet (`age_identity` just set) are. A checkout without `ageIdentity` is left as before.
 */
import { lstat, readFile } from 'node:fs/promises';
import path from 'node:path';
import type { CheckoutRef } from '../../ports/git.js';
import type { Owner } from '../../ports/host.js';
import type { Pass } from './object-cache.js';
import { workTreeDrift } from './drift.js';
import { restorePaths } from './restore.js';
import { readManifest } from './secrets-manifest.js';
import { digest, installSecrets, outputOf, planSecrets, secretsAt, type Secret } from './secrets.js';
import { removeForeignSymlinks } from './symlinks.js';
import { entryAt } from './trees.js';

/** The secrets of `head` whose plaintext path is not tracked (a tracked one is a conflict, reported at checkout). */
async function untracked(store: string, co: CheckoutRef, head: string, pass: Pass): Promise<Secret[]> {
  const out: Secret[] = [];
  for (const s of await secretsAt(store, co.links, head, pass)) if (!(await entryAt(store, head, s.output, pass))) out.push(s);
  return out;
}

/**
 * `workTreeDrift` of `co` at `head` with the decrypted secrets left out of the walk and checked
 * against the manifest: a secret's plaintext is drift when it is missing, not a regular file, not
 * mode 0600, differs from the SHA-256 recorded, or was never decrypted for `head`'s `.age` blob.
 * Sorted, repository-relative. Call under the checkout's lock.
 */
export async function driftWithSecrets(co: CheckoutRef, store: string, head: string, pass: Pass): Promise<string[]> {
  if (co.ageIdentity === undefined) return workTreeDrift(co.dir, co.links, store, head, pass);
  const secrets = await untracked(store, co, head, pass);
  const out = new Set(await workTreeDrift(co.dir, co.links, store, head, pass, new Set(secrets.map((s) => s.output))));
  const manifest = await readManifest(path.join(co.dir, '.git'));
  for (const s of secrets) {
    const rec = manifest.get(s.output);
    const file = path.join(co.dir, s.output);
    const st = await lstat(file).catch(() => undefined);
    if (rec?.blob !== s.blob || !st?.isFile() || (st.mode & 0o777) !== 0o600 || digest(await readFile(file)) !== rec.sha256) out.add(s.output);
  }
  return [...out].sort();
}

/**
 * `restorePaths` of `co` at `head`, except that the plaintexts of `head`'s secrets among `paths` are
 * decrypted again (`planSecrets` with those paths). Call under the checkout's lock.
 * @throws SecretError (nothing of the secrets written), and `restorePaths`' errors
 */
export async function restoreWithSecrets(co: CheckoutRef, store: string, head: string, paths: readonly string[], owner: Owner | undefined, pass: Pass): Promise<void> {
  const outputs = co.ageIdentity === undefined ? new Set<string>() : new Set((await untracked(store, co, head, pass)).map((s) => s.output));
  const mine = paths.filter((p) => outputs.has(p));
  const plan = mine.length > 0 ? await planSecrets(store, co, head, pass, mine) : undefined; // decrypted before any file changes
  const rest = paths.filter((p) => !outputs.has(p));
  if (rest.length > 0) await restorePaths(co, head, rest, owner, pass);
  if (plan) {
    for (const link of co.links) await removeForeignSymlinks(store, co.dir, head, link, pass);
    await installSecrets(co.dir, plan, owner);
  }
}

/**
 * Before a pass (`IsoGit.prepare`, after an interrupted checkout was undone): decrypt the secrets of
 * the deployed commit `head` that were never decrypted for their current `.age` blob, without
 * overwriting a file that is not the agent's, and remove the plaintexts of secrets `head` lacks.
 * Nothing happens without `ageIdentity` or when all is in order (the identity is then not read).
 * Call under the checkout's lock.
 * @throws SecretError (nothing written), I/O errors
 */
export async function catchUpSecrets(co: CheckoutRef, store: string, head: string | undefined, owner: Owner | undefined, pass: Pass): Promise<void> {
  if (co.ageIdentity === undefined || head === undefined) return;
  const plan = await planSecrets(store, co, head, pass, 'catch-up');
  if (plan.writes.length === 0 && plan.removes.length === 0) return;
  for (const link of co.links) await removeForeignSymlinks(store, co.dir, head, link, pass);
  await installSecrets(co.dir, plan, owner);
}

/**
 * `changed` (repository paths a commit changes) with the plaintext path of every `.age` file among
 * them added, when `co` decrypts secrets; sorted as given, new paths after their `.age` file.
 */
export function withSecretOutputs(co: CheckoutRef, changed: readonly string[]): string[] {
  if (co.ageIdentity === undefined) return [...changed];
  const out: string[] = [];
  for (const p of changed) {
    out.push(p);
    const o = outputOf(p);
    if (o !== undefined && !changed.includes(o)) out.push(o);
  }
  return out;
}
