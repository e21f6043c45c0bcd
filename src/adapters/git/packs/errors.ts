/**
 * {@link PackError}: a pack `.idx` or `.pack` of an object store that is not what git wrote (bad magic,
 * truncated tables, a checksum that does not match). Thrown by the pack readers of this folder, never
 * turned into data: an object read from a bad pack fails instead of returning other bytes.
 */
import { GitopperError } from '../../../errors/gitopper-error.js';

/** The fix every {@link PackError} message ends with. */
export const PACK_FIX = 'check the store with git fsck; removing the store makes the next pass fetch it again';

/** Structured data of a {@link PackError}. */
export interface PackErrorData {
  /** Absolute (or gitdir-relative, as given) path of the `.idx` or `.pack` file. */
  readonly file: string;
}

/**
 * A pack or pack index that is corrupt or of a format this reader does not know. Stable `code`
 * 'CORRUPT_PACK'. The message names the file, what is wrong and the fix ({@link PACK_FIX}): a fetch
 * into the store does not replace a pack it already has.
 */
export class PackError extends GitopperError<PackErrorData> {
  readonly code = 'CORRUPT_PACK';
  override readonly name = 'PackError';
  override readonly data: PackErrorData;
  /** @param message what is wrong with `data.file` */
  constructor(message: string, data: PackErrorData) {
    super(message, data);
    this.data = data;
  }
}
