/**
 * pkt-line framing (git's Documentation/gitprotocol-common.txt "pkt-line Format", and the special
 * packets of gitprotocol-v2.txt): encoding a request, and a streaming reader over a response body.
 * A pkt-line is 4 hex digits of length (header included) then the payload; `0000` flush-pkt,
 * `0001` delim-pkt, `0002` response-end-pkt. The largest pkt-line is 65520 bytes.
 */
import { GitopperError } from '../../../../errors/gitopper-error.js';

/** Largest pkt-line, header included (gitprotocol-common.txt: LARGE_PACKET_MAX). */
export const MAX_PKT = 65520;

/** One pkt-line of `text` (a string or bytes), header included. */
export function pkt(text: string | Uint8Array): Buffer {
  const payload = typeof text === 'string' ? Buffer.from(text, 'utf8') : Buffer.from(text);
  if (payload.length + 4 > MAX_PKT) throw new Error(`pkt-line too long (${payload.length} bytes)`);
  return Buffer.concat([Buffer.from((payload.length + 4).toString(16).padStart(4, '0'), 'latin1'), payload]);
}

/** The flush-pkt `0000`. */
export const FLUSH_PKT = Buffer.from('0000', 'latin1');
/** The delim-pkt `0001` (v2: ends a command's capability list). */
export const DELIM_PKT = Buffer.from('0001', 'latin1');

/** One packet read by {@link PktReader}: a data line (payload bytes) or one of the special packets. */
export type Packet = { readonly kind: 'data'; readonly payload: Buffer } | { readonly kind: 'flush' | 'delim' | 'end' };

/**
 * A malformed pkt-line stream: the answer is not git protocol (a proxy's error page, a cut
 * connection). The client turns it into a `GitProtocolError` naming the upstream and the request.
 */
export class PktLineError extends GitopperError {
  readonly code = 'GIT_TRANSPORT';
}

/**
 * Reads pkt-lines from a response body as they arrive; holds at most one pkt-line plus one chunk
 * in memory.
 */
export class PktReader {
  private buf: Buffer = Buffer.alloc(0);
  private done = false;
  private readonly it: AsyncIterator<Uint8Array>;

  constructor(body: AsyncIterable<Uint8Array> | AsyncIterator<Uint8Array>) {
    this.it = Symbol.asyncIterator in body ? (body as AsyncIterable<Uint8Array>)[Symbol.asyncIterator]() : body;
  }

  private async fill(n: number): Promise<boolean> {
    while (this.buf.length < n) {
      if (this.done) return false;
      const r = await this.it.next();
      if (r.done) {
        this.done = true;
        return false;
      }
      if (!r.value || r.value.length === 0) continue;
      const chunk = Buffer.from(r.value.buffer, r.value.byteOffset, r.value.byteLength);
      this.buf = this.buf.length === 0 ? chunk : Buffer.concat([this.buf, chunk]);
    }
    return true;
  }

  /**
   * The next packet, or undefined at the end of the body.
   * @throws PktLineError when the bytes are not a pkt-line, or the body ends inside one
   */
  async read(): Promise<Packet | undefined> {
    if (!(await this.fill(4))) {
      if (this.buf.length > 0) throw new PktLineError('answer ended inside a pkt-line header');
      return undefined;
    }
    const hex = this.buf.toString('latin1', 0, 4);
    if (!/^[0-9a-f]{4}$/i.test(hex)) throw new PktLineError(`not a pkt-line: ${JSON.stringify(this.buf.toString('latin1', 0, Math.min(40, this.buf.length)))}`);
    const len = parseInt(hex, 16);
    if (len < 4) {
      this.buf = this.buf.subarray(4);
      if (len === 3) throw new PktLineError('invalid pkt-line length 0003');
      return { kind: len === 0 ? 'flush' : len === 1 ? 'delim' : 'end' };
    }
    if (!(await this.fill(len))) throw new PktLineError('answer ended inside a pkt-line');
    const payload = this.buf.subarray(4, len);
    this.buf = this.buf.subarray(len);
    return { kind: 'data', payload };
  }

  /** Stop reading: the body's source is abandoned (a socket is closed). Never throws. */
  async close(): Promise<void> {
    await Promise.resolve(this.it.return?.()).catch(() => undefined);
  }
}

/** A data packet's payload as text without its trailing newline (gitprotocol-common.txt: LF is optional). */
export function lineOf(p: Packet): string | undefined {
  if (p.kind !== 'data') return undefined;
  const s = p.payload.toString('utf8');
  return s.endsWith('\n') ? s.slice(0, -1) : s;
}
