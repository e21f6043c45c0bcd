/**
 * The one error of the signature adapter: a malformed signature, key or allowed signers line (turned
 * into a refusal's reason before it leaves the adapter), or a policy file that cannot be read (thrown
 * out of `SignaturePort.verify`: the core refuses the commit with "cannot check its signature: …").
 */
import { GitopperError } from '../../errors/gitopper-error.js';

/** What went wrong: the signature or key (`signature`), an allowed signers line (`line`), a policy file (`policy`). */
export type VerifyErrorKind = 'signature' | 'line' | 'policy';

/** Code `VERIFY`; the message is the reason an operator reads; `data.kind` says what it is about. */
export class VerifyError extends GitopperError<{ readonly kind: VerifyErrorKind }> {
  readonly code = 'VERIFY';
  override readonly name = 'VerifyError';
  constructor(message: string, kind: VerifyErrorKind, options?: ErrorOptions) {
    super(message, { kind }, options);
  }
}
