/**
 * Reading the host's age identity file (`age_identity`, docs/trust-and-rollout.md "Secrets in the
 * repository") for `secrets.ts`: the file must be a regular file owned by root (or by the agent's own
 * user, when it does not run as root), readable by its owner only (mode 0600 or 0400: the key decrypts
 * every secret of the repository), and hold one or more identities as `age-keygen` writes them
 * (`AGE-SECRET-KEY-1…` or `AGE-SECRET-KEY-PQ-1…` lines; blank lines and `#` comments skipped: the
 * age spec's identity file format, age-keygen(1)). Read at every decryption, so a replaced file is
 * used at once and a file that comes back heals a BROKEN service at the next pass.
 */
import { open } from 'node:fs/promises';
import { Decrypter } from 'age-encryption';
import { SecretError } from '../../errors/secret-error.js';

/** Lines of an identity file that are identities (age-keygen(1): native X25519 and hybrid post-quantum). */
const IDENTITY_LINE = /^AGE-SECRET-KEY-(PQ-)?1[0-9A-Z]+$/;

/** How to make an identity file the way it must be, for messages. */
const MAKE = 'age-keygen -o FILE && chmod 600 FILE (owner root)';

/**
 * A `Decrypter` (the `age-encryption` library) holding the identities of the age identity file `file`
 * (absolute). The messages name the file, the line and the fix, never the file's content (the
 * library's own messages may quote a key: they are not passed on).
 * @throws SecretError when the file is missing, unreadable, not a regular file, owned by another
 *   user, readable or writable by group or others, or holds no identity line (or a line that is neither
 *   an identity, a comment nor blank)
 */
export async function loadDecrypter(file: string): Promise<Decrypter> {
  const fail = (problem: string, fix: string): never => {
    throw new SecretError(`age identity ${file} ${problem}: ${fix}`, { path: file });
  };
  let text: string;
  try {
    const fh = await open(file, 'r');
    try {
      const st = await fh.stat();
      if (!st.isFile()) fail('is not a regular file', `point age_identity at the file ${MAKE.replace(/FILE/g, file)} writes`);
      const me = process.getuid?.() ?? 0;
      if (st.uid !== 0 && st.uid !== me) fail(`is owned by uid ${st.uid}, not by root`, `chown root:root ${file}`);
      if ((st.mode & 0o077) !== 0) {
        fail(`is readable or writable by group or others (mode ${(st.mode & 0o777).toString(8).padStart(4, '0')}); refusing to use it`,
          `chmod 600 ${file}, and replace the key if others could have read it (re-encrypt the .age files to the new recipient)`);
      }
      text = await fh.readFile('utf8');
    } finally {
      await fh.close();
    }
  } catch (err) {
    if (err instanceof SecretError) throw err;
    const code = (err as NodeJS.ErrnoException).code ?? 'error';
    if (code === 'ENOENT') fail('does not exist', `create it (${MAKE.replace(/FILE/g, file)}) or correct age_identity in the config`);
    return fail(`cannot be read (${code})`, 'make it readable by the agent (root)');
  }
  const decrypter = new Decrypter();
  let count = 0;
  const lines = text.split(/\r?\n/);
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!.trim();
    if (line === '' || line.startsWith('#')) continue;
    if (!IDENTITY_LINE.test(line)) fail(`line ${i + 1} is not an age identity`, `keep only AGE-SECRET-KEY-1… lines and # comments in it (${MAKE.replace(/FILE/g, file)} writes such a file)`);
    try {
      decrypter.addIdentity(line);
    } catch {
      fail(`line ${i + 1} is not a valid age identity (its checksum or length is wrong)`, `write it anew with ${MAKE.replace(/FILE/g, file)}`);
    }
    count++;
  }
  if (count === 0) fail('holds no identity', `write one with ${MAKE.replace(/FILE/g, file)}`);
  return decrypter;
}
