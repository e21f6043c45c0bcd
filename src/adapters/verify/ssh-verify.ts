/**
 * An SSH-signed commit against an allowed signers file, as `git verify-commit` with
 * `gpg.ssh.allowedSignersFile` decides it (`ssh-keygen -Y find-principals`, then `-Y verify -n git`;
 * sshsig.c `check_allowed_keys_line`): the signature must be in namespace `git` and verify, its key
 * must be on a line without `cert-authority` whose `namespaces` (if any) match `git`, and `at` must
 * lie within the line's `valid-after`/`valid-before` (both inclusive). One difference with git: git
 * checks validity at the commit's committer time, which whoever signs can set; we check at `at`
 * (now), so a key whose `valid-before` passed cannot sign back-dated commits. Pure.
 */
import type { SignatureVerdict } from '../../ports/trust.js';
import { matchPatternList, parseAllowedSigners, type AllowedSigner } from './allowed-signers.js';
import { VerifyError } from './errors.js';
import { parseSshsig, sshPublicKey, sshsigVerifies, type SshPublicKey } from './sshsig.js';

/** The namespace git signs commits in (`ssh-keygen -Y sign -n git`). */
const NAMESPACE = 'git';

/**
 * The verdict on the armored SSH signature `armored` of commit `payload` (the commit object without
 * its `gpgsig` header), against allowed signers `fileText` read from `file` (named in reasons), at `at`.
 * `ok` names the matching line's principals as the signer. Never throws for a bad signature or file line.
 */
export function verifySshSignature(armored: string, payload: Buffer, fileText: string, file: string, at: Date): SignatureVerdict {
  let key: SshPublicKey;
  try {
    const sig = parseSshsig(armored);
    if (sig.namespace !== NAMESPACE) {
      return refuse(`its SSH signature is for namespace "${sig.namespace}", not "${NAMESPACE}" (git signs commits with ssh-keygen -Y sign -n git)`);
    }
    key = sshPublicKey(sig.publicKey);
    if (!sshsigVerifies(sig, key, payload)) {
      return refuse(`signature does not verify (key ${key.fingerprint}): the commit was changed after it was signed, or the signature belongs to another commit`);
    }
  } catch (err) {
    if (err instanceof VerifyError) return refuse(err.message);
    throw err;
  }
  const { signers, problems } = parseAllowedSigners(fileText);
  const lines = signers.filter((s) => s.fingerprint === key.fingerprint && !s.certAuthority);
  if (lines.length === 0) {
    const ca = signers.some((s) => s.certAuthority) ? '; its cert-authority lines are not supported (list signers\' own keys)' : '';
    const bad = problems.length > 0 ? `; ${problems.length} line(s) of it were skipped (line ${problems[0]!.line}: ${problems[0]!.problem})` : '';
    return refuse(`signed by an unknown key ${key.fingerprint} (${key.label}): it is not in ${file}${ca}${bad}`);
  }
  let first: string | undefined;
  for (const line of lines) {
    const why = lineRefuses(line, key, file, at);
    if (why === undefined) return { ok: true, signer: line.principals };
    first ??= why;
  }
  return refuse(first!);
}

/** Why `line` (whose key signed) does not allow the signature at `at`, or undefined when it does. */
function lineRefuses(line: AllowedSigner, key: SshPublicKey, file: string, at: Date): string | undefined {
  const where = `line ${line.line} of ${file}`;
  if (line.namespaces !== undefined && matchPatternList(NAMESPACE, line.namespaces) !== 1) {
    return `key ${key.fingerprint} (${line.principals}) is not allowed to sign in namespace "${NAMESPACE}" (namespaces="${line.namespaces}" on ${where})`;
  }
  if (line.validAfter !== undefined && at < line.validAfter) {
    return `key ${key.fingerprint} (${line.principals}) is not valid before ${stamp(line.validAfter)} (valid-after on ${where})`;
  }
  if (line.validBefore !== undefined && at > line.validBefore) {
    return `key ${key.fingerprint} (${line.principals}) expired at ${stamp(line.validBefore)} (valid-before on ${where})`;
  }
  return undefined;
}

/** `2027-01-01T00:00:00Z`: UTC, whole seconds. */
function stamp(t: Date): string {
  return t.toISOString().replace(/\.\d{3}Z$/, 'Z');
}

function refuse(reason: string): SignatureVerdict {
  return { ok: false, reason };
}
