/**
 * One running upload-pack (ssh or git) of a `PipeTransport` (`pipe.ts`): the pkt-line framing of
 * its stdout (the ref advertisement up to the first flush-pkt, then the rest as it comes), its stdin,
 * its stderr (the last 2 KiB) and its exit.
 */
import type { ChildProcessWithoutNullStreams } from 'node:child_process';

/** The flush-pkt: ends the ref advertisement; sent alone, a polite hang-up. */
export const FLUSH = Buffer.from('0000');
/** The pkt-line git-http-backend puts before a smart-HTTP ref advertisement. */
export const SERVICE_LINE = Buffer.from('001e# service=git-upload-pack\n');
const STDERR_KEEP = 2048;

/** One running upload-pack (ssh or git) with a pkt-line reader over its stdout. */
export class Session {
  private buf: Buffer = Buffer.alloc(0);
  private ended = false;
  private stderrText = '';
  private readonly chunks: AsyncIterator<Buffer>;
  readonly exit: Promise<number | null>;
  private spawnError: Error | undefined;

  constructor(readonly child: ChildProcessWithoutNullStreams) {
    this.chunks = child.stdout[Symbol.asyncIterator]();
    child.stderr.setEncoding('utf8').on('data', (s: string) => {
      this.stderrText = (this.stderrText + s).slice(-STDERR_KEEP);
    });
    child.stdin.on('error', () => {}); // EPIPE when the process died first: its exit code and stderr say why
    this.exit = new Promise((resolve) => {
      child.on('error', (err) => {
        this.spawnError = err;
        resolve(null);
      });
      child.on('close', (code) => resolve(code));
    });
  }

  /** What the process wrote to stderr (its last 2 KiB), trimmed. */
  get stderr(): string {
    return this.stderrText.trim();
  }

  /** Why the process could not be started, if it could not. */
  get error(): Error | undefined {
    return this.spawnError;
  }

  /** At least `n` bytes buffered, or false at end of output. */
  private async fill(n: number): Promise<boolean> {
    while (this.buf.length < n) {
      if (this.ended) return false;
      const r = await this.chunks.next().catch(() => ({ done: true as const, value: undefined }));
      if (r.done) {
        this.ended = true;
        return false;
      }
      this.buf = this.buf.length === 0 ? r.value : Buffer.concat([this.buf, r.value]);
    }
    return true;
  }

  /**
   * The ref advertisement: every pkt-line up to and including the first flush-pkt, as raw bytes (`refs`).
   * Returns `{ err }` for an `ERR` pkt-line, undefined when the output ended (or broke) before the flush.
   */
  async advertisement(): Promise<{ refs: Buffer } | { err: string } | undefined> {
    let at = 0;
    for (;;) {
      if (!(await this.fill(at + 4))) return undefined;
      const hex = this.buf.subarray(at, at + 4).toString('latin1');
      if (!/^[0-9a-f]{4}$/i.test(hex)) return undefined;
      const len = parseInt(hex, 16);
      if (len === 0) {
        const out = this.buf.subarray(0, at + 4);
        this.buf = this.buf.subarray(at + 4);
        return { refs: Buffer.from(out) };
      }
      if (len < 4) return undefined;
      if (!(await this.fill(at + len))) return undefined;
      const payload = this.buf.subarray(at + 4, at + len).toString('utf8');
      if (payload.startsWith('ERR ')) return { err: payload.slice(4).trim() };
      at += len;
    }
  }

  /** The rest of stdout (after the advertisement), then throws `onFail()` if the process failed. */
  async *rest(onFail: () => Promise<Error | undefined>): AsyncGenerator<Uint8Array> {
    if (this.buf.length > 0) {
      const b = this.buf;
      this.buf = Buffer.alloc(0);
      yield b;
    }
    while (!this.ended) {
      const r = await this.chunks.next();
      if (r.done) break;
      yield r.value;
    }
    this.ended = true;
    const err = await onFail();
    if (err) throw err;
  }

  /**
   * Stop reading (a process still writing gets EPIPE), close stdin, and wait for the exit; SIGKILL after
   * 2 s. Never throws.
   */
  async stop(): Promise<void> {
    await this.chunks.return?.().catch(() => undefined);
    if (!this.child.stdin.destroyed) this.child.stdin.end();
    if (this.child.exitCode !== null || this.child.signalCode !== null || this.spawnError) return;
    const t = setTimeout(() => this.child.kill('SIGKILL'), 2000);
    await this.exit;
    clearTimeout(t);
  }

  /**
   * Protocol v2: the answer to one command, pkt-lines up to and including the first flush-pkt
   * (gitprotocol-v2.txt: every response ends with one), then `onDone()` (the process waits for the
   * next command). When the output ends first, throws `onFail()` (or a plain error if it gives none);
   * a consumer that stops early stops the process.
   */
  async *untilFlush(onFail: () => Promise<Error | undefined>, onDone: () => void): AsyncGenerator<Uint8Array> {
    let complete = false;
    try {
      for (;;) {
        if (!(await this.fill(4))) break;
        const hex = this.buf.toString('latin1', 0, 4);
        const len = /^[0-9a-f]{4}$/i.test(hex) ? parseInt(hex, 16) : -1;
        if (len === 0) {
          this.buf = this.buf.subarray(4);
          complete = true; // before the yield: a reader that stops at the flush-pkt never resumes us
          onDone();
          yield FLUSH;
          return;
        }
        const n = len < 4 ? 4 : len; // delim/response-end, or an invalid header: handed on as is
        if (len < 0 || !(await this.fill(n))) break;
        const out = this.buf.subarray(0, n);
        this.buf = this.buf.subarray(n);
        yield out;
      }
      const b = this.buf;
      this.buf = Buffer.alloc(0);
      if (b.length > 0) yield b; // what is left: the reader reports it malformed
      this.child.stdin.end();
      throw (await onFail()) ?? new Error('upload-pack ended its answer without a flush-pkt');
    } finally {
      if (!complete) await this.stop();
    }
  }

  /** Write `body` to stdin (respecting back-pressure), then close stdin unless `end` is false. */
  async send(body: AsyncIterable<Uint8Array> | Iterable<Uint8Array> | undefined, end = true): Promise<void> {
    const stdin = this.child.stdin;
    if (body !== undefined) {
      for await (const chunk of body) {
        if (stdin.destroyed || this.child.exitCode !== null) break;
        if (!stdin.write(chunk)) await new Promise<void>((resolve) => { stdin.once('drain', resolve); stdin.once('close', resolve); });
      }
    }
    if (end) stdin.end();
  }
}
