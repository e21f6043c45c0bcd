/**
 * The SSH wire encoding's data types (RFC 4251 §5), as SSHSIG blobs use them: `uint32` and `string`
 * (a uint32 length, then that many bytes) to read, `string` to write. `mpint`s are read as `string`s
 * by the caller. No I/O.
 */

import { VerifyError } from './errors.js';

/** Reads RFC 4251 §5 fields from `buf` in order; every read throws a `signature` VerifyError past the end. */
export class WireReader {
  private offset = 0;
  constructor(private readonly buf: Buffer) {}

  /** Next `n` raw bytes. */
  bytes(n: number): Buffer {
    if (n < 0 || this.offset + n > this.buf.length) throw new VerifyError(`truncated: wanted ${n} bytes at offset ${this.offset} of ${this.buf.length}`, 'signature');
    const out = this.buf.subarray(this.offset, this.offset + n);
    this.offset += n;
    return out;
  }

  /** Next `uint32` (big-endian). */
  uint32(): number {
    return this.bytes(4).readUInt32BE(0);
  }

  /** Next `string` as bytes. */
  string(): Buffer {
    return this.bytes(this.uint32());
  }

  /** Next `string` decoded as UTF-8. */
  text(): string {
    return this.string().toString('utf8');
  }

  /** True when every byte was read. */
  atEnd(): boolean {
    return this.offset === this.buf.length;
  }
}

/** `data` as an RFC 4251 `string`: its length as uint32 big-endian, then the bytes. */
export function wireString(data: Buffer | string): Buffer {
  const bytes = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
  const len = Buffer.alloc(4);
  len.writeUInt32BE(bytes.length, 0);
  return Buffer.concat([len, bytes]);
}
