/**
 * {@link SignaturePort} for the daemon: reads the commit from its upstream's object store (the bare
 * store IsoGit fetches into, found by the `storeOf` it is given; `commit.ts`), then checks its
 * `gpgsig` (git's signature header, git's doc "signature-format") against the service's `verify`
 * policy: an SSH signature against `allowed_signers` (`ssh-verify.ts`), an OpenPGP signature
 * against `openpgp_keys` (`openpgp-verify.ts`). The policy files are read at every check, so an
 * edited file counts from the next pass on without a reload.
 */
import { readFile } from 'node:fs/promises';
import type { VerifySpec } from '../../config/spec.js';
import type { SourceRef } from '../../ports/git.js';
import type { SignaturePort, SignatureVerdict } from '../../ports/trust.js';
import { readSignedCommit } from './commit.js';
import { VerifyError } from './errors.js';
import { isOpenpgpSignature, readOpenpgpKeys, verifyOpenpgpSignature } from './openpgp-verify.js';
import { isSshSignature } from './sshsig.js';
import { verifySshSignature } from './ssh-verify.js';

/** The SignaturePort over the object stores `storeOf(upstream)` (absolute paths of bare repositories). */
export class CommitSignatures implements SignaturePort {
  /** @param storeOf the bare object store of an upstream (the daemon passes `IsoGit.storeOf`) */
  constructor(private readonly storeOf: (upstream: string) => string) {}

  /**
   * See {@link SignaturePort.verify}. Reasons: `not signed`; `signed with SSH/OpenPGP, but verify names
   * no allowed_signers/openpgp_keys`; the checks' own (`signed by an unknown key SHA256:…`, `signature
   * does not verify`, `… is not valid before …`, `… expired at …`, a namespace other than git, …).
   * @throws Error when the commit cannot be read; VerifyError (`policy`) when the policy file it needs
   *   cannot be read or (OpenPGP) holds no key.
   */
  async verify(source: SourceRef, commit: string, policy: VerifySpec, at: Date): Promise<SignatureVerdict> {
    const { payload, gpgsig } = await readSignedCommit(this.storeOf(source.upstream), commit);
    if (gpgsig === undefined || gpgsig.trim() === '') return { ok: false, reason: `not signed (verify requires a signature by ${required(policy)})` };
    if (isSshSignature(gpgsig)) {
      if (policy.allowedSigners === undefined) return { ok: false, reason: 'signed with an SSH key, but verify names no allowed_signers file to check it against' };
      return verifySshSignature(gpgsig, payload, await policyFile(policy.allowedSigners, 'allowed_signers'), policy.allowedSigners, at);
    }
    if (isOpenpgpSignature(gpgsig)) {
      if (policy.openpgpKeys === undefined) return { ok: false, reason: 'signed with OpenPGP, but verify names no openpgp_keys file to check it against' };
      const keys = await readOpenpgpKeys(await policyFile(policy.openpgpKeys, 'openpgp_keys'), policy.openpgpKeys);
      return verifyOpenpgpSignature(gpgsig, payload, keys, policy.openpgpKeys, at);
    }
    const kind = /-----BEGIN ([A-Z0-9 ]+)-----/.exec(gpgsig)?.[1];
    return { ok: false, reason: `signed in a format this agent does not check (${kind ?? 'unknown armor'}: X.509/gpgsm signatures are not supported)` };
  }
}

/** Who may sign under `policy`, for the "not signed" reason. */
function required(policy: VerifySpec): string {
  return [policy.allowedSigners && `an allowed signer of ${policy.allowedSigners}`, policy.openpgpKeys && `a key of ${policy.openpgpKeys}`].filter(Boolean).join(' or ');
}

/** The text of policy file `file` (key `key` of `verify`). Throws VerifyError (`policy`) naming file, key and cause. */
async function policyFile(file: string, key: string): Promise<string> {
  try {
    return await readFile(file, 'utf8');
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    throw new VerifyError(`the ${key} file ${file} cannot be read (${e.code ?? e.message}): fix the file or the verify key`, 'policy', { cause: err });
  }
}
