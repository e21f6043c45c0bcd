/**
 * Raw HTTP/1.1 for tests that must send what no client library would: any bytes on a socket (from a
 * chosen loopback address), and the first answer read back off the wire, without a client's
 * parsing or normalisation in between.
 */
import { connect } from 'node:net';

/** An answer as read off the socket. */
export interface RawAnswer {
  readonly status: number;
  /** Lower-case names; repeated headers joined with ", ". */
  readonly headers: Map<string, string>;
  readonly body: Buffer;
}

/** Options of {@link exchange}. */
export interface ExchangeOptions {
  /** Source address (any of 127.0.0.0/8 works on Linux); default the kernel's choice. */
  readonly localAddress?: string;
  /** The request is a HEAD: the answer has no body whatever its Content-Length says. */
  readonly head?: boolean;
  /** Give up after this many ms (default 5000). */
  readonly timeoutMs?: number;
}

/**
 * Sends `bytes` to 127.0.0.1:`port` and reads the first answer (1xx skipped); resolves as soon as
 * it is complete (by Content-Length, or when the server closes). Rejects when the connection
 * closes without an answer, or none comes in time.
 */
export function exchange(port: number, bytes: Buffer | string, opts: ExchangeOptions = {}): Promise<RawAnswer> {
  const timeoutMs = opts.timeoutMs ?? 5000;
  return new Promise((resolve, reject) => {
    const socket = connect({ port, host: '127.0.0.1', ...(opts.localAddress === undefined ? {} : { localAddress: opts.localAddress }) }, () => socket.write(bytes));
    let buf = Buffer.alloc(0);
    let answer: { status: number; headers: Map<string, string>; body: Buffer } | undefined;
    let length: number | undefined;
    const timer = setTimeout(() => finish(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
    function finish(err?: Error): void {
      clearTimeout(timer);
      socket.destroy();
      if (err) reject(err);
      else resolve(answer!);
    }
    const parse = (): void => {
      while (answer === undefined) {
        const end = buf.indexOf('\r\n\r\n');
        if (end < 0) return;
        const lines = buf.subarray(0, end).toString('latin1').split('\r\n');
        const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(lines[0]!)?.[1]);
        if (!Number.isInteger(status)) return finish(new Error(`not an HTTP answer: ${JSON.stringify(lines[0])}`));
        buf = buf.subarray(end + 4);
        if (status < 200) continue;
        const headers = new Map<string, string>();
        for (const l of lines.slice(1)) {
          const i = l.indexOf(':');
          const k = l.slice(0, i).toLowerCase();
          const v = l.slice(i + 1).trim();
          headers.set(k, headers.has(k) ? `${headers.get(k)}, ${v}` : v);
        }
        answer = { status, headers, body: Buffer.alloc(0) };
        length = opts.head || status === 204 || status === 304 ? 0 : headers.has('content-length') ? Number(headers.get('content-length')) : undefined;
      }
      if (length !== undefined && buf.length >= length) {
        answer.body = buf.subarray(0, length);
        finish();
      }
    };
    socket.on('data', (chunk: Buffer) => {
      buf = Buffer.concat([buf, chunk]);
      parse();
    });
    socket.on('error', () => {}); // a reset after the answer is fine; no answer at all is caught on close
    socket.on('close', () => {
      if (answer === undefined) return finish(new Error('the connection closed without an answer'));
      if (length === undefined) answer.body = buf;
      else if (buf.length < length) return finish(new Error(`answer cut short: ${buf.length} of ${length} body bytes`));
      finish();
    });
  });
}

/** The `{"error":{"code"}}` of an answer, or undefined when its body is not such JSON. */
export function errorCode(a: RawAnswer): string | undefined {
  try {
    const code = (JSON.parse(a.body.toString('utf8')) as { error?: { code?: unknown } }).error?.code;
    return typeof code === 'string' ? code : undefined;
  } catch {
    return undefined;
  }
}

/** A request's bytes: request line, headers (Host first when given), and the body with its Content-Length. */
export function rawRequest(method: string, target: string, headers: Readonly<Record<string, string>>, body?: string | Buffer): Buffer {
  const payload = body === undefined ? Buffer.alloc(0) : Buffer.isBuffer(body) ? body : Buffer.from(body, 'utf8');
  const all = { ...headers, ...(body === undefined ? {} : { 'content-length': String(payload.length) }) };
  const head = `${method} ${target} HTTP/1.1\r\n${Object.entries(all).map(([k, v]) => `${k}: ${v}\r\n`).join('')}\r\n`;
  return Buffer.concat([Buffer.from(head, 'utf8'), payload]);
}
