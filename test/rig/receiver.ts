/**
 * A notification receiver on loopback for the tests: a real HTTP server that verifies each request's
 * `X-Hub-Signature-256` as a receiver would (GitHub's recipe: HMAC-SHA256 of the raw body with the shared
 * secret, compared in constant time) and records it. Its behaviour can be switched: `ok` (204), `fail`
 * (500), `hang` (never answers), and `down()`/`up()` close and reopen the port (connection refused
 * meanwhile).
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { once } from 'node:events';

/** One request the receiver got. */
export interface Received {
  readonly headers: http.IncomingHttpHeaders;
  readonly body: string;
  /** The body parsed as JSON. */
  readonly json: Record<string, unknown>;
  /** True when `X-Hub-Signature-256` matched the body under the secret. */
  readonly verified: boolean;
  /** What the receiver answered (`hang`: 0). */
  readonly answered: number;
}

/** How the receiver answers. */
export type Mode = 'ok' | 'fail' | 'hang';

/** A running receiver. */
export class Receiver {
  readonly received: Received[] = [];
  mode: Mode = 'ok';
  private server: http.Server;
  private readonly sockets = new Set<Socket>();
  private waiters: Array<() => void> = [];
  port = 0;

  private constructor(readonly secret: string) {
    this.server = this.make();
  }

  /** A receiver listening on 127.0.0.1 on a free port (or `port`). */
  static async start(secret: string, port = 0): Promise<Receiver> {
    const r = new Receiver(secret);
    await r.listen(port);
    return r;
  }

  /** `http://127.0.0.1:<port><path>`. */
  url(path = '/hook'): string {
    return `http://127.0.0.1:${this.port}${path}`;
  }

  /** The verified requests whose JSON `event` is `event`. */
  events(event: string): Received[] {
    return this.received.filter((r) => r.verified && r.json.event === event);
  }

  /** Resolves when `check()` holds, re-checked after every request; rejects after `ms` naming `what`. */
  async until(what: string, check: () => boolean, ms = 30_000): Promise<void> {
    const deadline = Date.now() + ms;
    while (!check()) {
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`receiver: timed out waiting for ${what}; got ${JSON.stringify(this.received.map((r) => [r.json.event, r.json.service, r.answered]))}`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, Math.min(left, 200));
        this.waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
  }

  /** Close the port: connections are refused until {@link up}; hanging requests are cut. */
  async down(): Promise<void> {
    const closed = once(this.server, 'close');
    this.server.close();
    for (const s of this.sockets) s.destroy();
    await closed;
  }

  /** Listen again on the same port. */
  async up(): Promise<void> {
    this.server = this.make();
    await this.listen(this.port);
  }

  /** Stop for good. */
  async close(): Promise<void> {
    if (this.server.listening) await this.down();
  }

  private make(): http.Server {
    const server = http.createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const raw = Buffer.concat(chunks);
        const want = `sha256=${createHmac('sha256', this.secret).update(raw).digest('hex')}`;
        const got = String(req.headers['x-hub-signature-256'] ?? '');
        const verified = got.length === want.length && timingSafeEqual(Buffer.from(got), Buffer.from(want));
        let json: Record<string, unknown> = {};
        try {
          json = JSON.parse(raw.toString('utf8')) as Record<string, unknown>;
        } catch {
          /* recorded as {} */
        }
        const mode = this.mode;
        this.received.push({ headers: req.headers, body: raw.toString('utf8'), json, verified, answered: mode === 'ok' ? 204 : mode === 'fail' ? 500 : 0 });
        for (const w of this.waiters.splice(0)) w();
        if (mode === 'hang') return;
        res.statusCode = mode === 'ok' ? 204 : 500;
        res.end();
      });
    });
    server.on('connection', (s: Socket) => {
      this.sockets.add(s);
      s.on('close', () => this.sockets.delete(s));
    });
    return server;
  }

  private async listen(port: number): Promise<void> {
    this.server.listen(port, '127.0.0.1');
    await once(this.server, 'listening');
    this.port = (this.server.address() as AddressInfo).port;
  }
}
