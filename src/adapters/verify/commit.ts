/**
 * A commit as git signs it (git's doc "signature-format", commit.c `parse_buffer_signed_by_header`):
 * the signature is the `gpgsig` header (continuation lines start with one space), and the signed
 * payload is the raw commit object without its `gpgsig` and `gpgsig-sha256` headers, byte for byte.
 * Read from the object store raw: isomorphic-git's own `payload` knows only OpenPGP armor and
 * normalises line ends, so it is not used.
 */
import { isoFs } from '../git/iso-fs.js';
import git from 'isomorphic-git';

/** A commit as signed: the bytes the signature covers, and the signature, if any. */
export interface SignedCommit {
  /** The commit object without its signature headers (what `git verify-commit` hands to the verifier). */
  readonly payload: Buffer;
  /** The `gpgsig` header's value, continuation lines unfolded (one leading space removed); undefined = not signed. */
  readonly gpgsig: string | undefined;
}

/** The signature headers git leaves out of the payload (SHA-1 and SHA-256 object formats). */
const SIG_HEADERS = ['gpgsig', 'gpgsig-sha256'];

/** A raw commit object (its content, without the `commit <size>\0` prefix) → {@link SignedCommit}. Pure. */
export function splitSignedCommit(raw: Buffer): SignedCommit {
  // latin1 maps each byte to one char and back: byte-exact whatever the commit's encoding
  const text = raw.toString('latin1');
  const headerEnd = text.indexOf('\n\n');
  const headers = headerEnd < 0 ? text : text.slice(0, headerEnd + 1);
  const rest = headerEnd < 0 ? '' : text.slice(headerEnd + 1);
  const lines = headers.split(/(?<=\n)/);
  let kept = '';
  let gpgsig: string[] | undefined;
  let current: string | undefined;
  for (const line of lines) {
    if (line.startsWith(' ') && current !== undefined) {
      if (current === 'gpgsig') gpgsig!.push(line.slice(1));
      continue;
    }
    const name = line.slice(0, line.indexOf(' '));
    current = SIG_HEADERS.includes(name) ? name : undefined;
    if (current === undefined) kept += line;
    else if (current === 'gpgsig' && gpgsig === undefined) gpgsig = [line.slice(name.length + 1)];
  }
  return {
    payload: Buffer.from(kept + rest, 'latin1'),
    gpgsig: gpgsig === undefined ? undefined : Buffer.from(gpgsig.join(''), 'latin1').toString('utf8'),
  };
}

/**
 * Commit `oid` (full id) of the repository at `gitdir`, as signed.
 * @throws Error from isomorphic-git when the object cannot be read; Error when it is not a commit.
 */
export async function readSignedCommit(gitdir: string, oid: string): Promise<SignedCommit> {
  const { type, object } = await git.readObject({ fs: isoFs, gitdir, oid, format: 'content' });
  if (type !== 'commit') throw new Error(`${oid} is a ${type}, not a commit`);
  return splitSignedCommit(Buffer.from(object as Uint8Array));
}
