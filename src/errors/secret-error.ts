/**
 * {@link SecretError}: an age-encrypted file under a service's links that cannot be deployed (the
 * identity file missing, unreadable or readable by others; a file that does not decrypt with it; a
 * tracked file in the way of its plaintext). Thrown by the git adapter (`src/adapters/git/secrets*.ts`)
 * before any deployed file changes; the core's pass turns it into BROKEN, not DIFF (a retry of the
 * same commit cannot succeed until the operator acts). A leaf, like `gitopper-error.ts`.
 */
import { GitopperError } from './gitopper-error.js';

/** Structured data of a {@link SecretError}: paths only, never a key or a plaintext. */
export interface SecretErrorData {
  /** The repository path of the `.age` file, or the absolute path of the identity file. */
  readonly path: string;
}

/**
 * A secret that cannot be decrypted or written. Stable `code` 'SECRET'. The message names the file
 * and the fix; it never holds key material nor decrypted bytes (docs/trust-and-rollout.md).
 */
export class SecretError extends GitopperError<SecretErrorData> {
  readonly code = 'SECRET';
  override readonly name = 'SecretError';
  override readonly data: SecretErrorData;
  /** @param message the whole message (file, what is wrong, the fix) */
  constructor(message: string, data: SecretErrorData) {
    super(message, data);
    this.data = data;
  }
}
