/**
 * A hostile upstream for fault tests: an HTTP proxy on 127.0.0.1 (port 0) in front of the rig's git
 * server (`test/rig/git-server.ts`) whose behaviour is switched at run time ({@link FaultMode}):
 * pass everything through, refuse connections, accept and never answer, answer 500/404 or garbage,
 * or cut the pack of a fetch short. Not a test file: the fault scenarios in `test/faults/` use it.
 */
import { randomBytes } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

/**
 * What the proxy does with requests:
 * - `pass`: forward to the git server unchanged;
 * - `down`: not listening at all (connections are refused; open ones were destroyed);
 * - `hang`: accept the connection, read the request, never answer (held until the mode changes or `close()`);
 * - `500`, `404`: answer every request with that status and a short text body;
 * - `garbage`: answer `200` with the smart-HTTP content type of the request and 4 KiB of random bytes;
 * - `truncate-pack`: forward, but end the response of a `POST …/git-upload-pack` (the pack) cleanly
 *   after half of its bytes; other requests pass.
 */
export type FaultMode = 'pass' | 'down' | 'hang' | '500' | '404' | 'garbage' | 'truncate-pack';

/** One request the proxy saw (not in `down` mode, where none arrive). */
export interface ProxyRequest {
  /** HTTP method. */
  readonly method: string;
  /** Path and query, e.g. `/gitopper-config.git/info/refs?service=git-upload-pack`. */
  readonly url: string;
  /** The mode that handled it. */
  readonly mode: FaultMode;
  /** `Date.now()` at arrival. */
  readonly at: number;
}

/** A running proxy; see {@link startFaultProxy}. */
export interface FaultProxy {
  /** `http://127.0.0.1:PORT/<repoName>` through the proxy (the port stays the same across `down`/`up`). */
  url(repoName: string): string;
  /** The current mode. */
  readonly mode: FaultMode;
  /**
   * Switch to `mode`. Any change destroys open connections (as a killed server would; held `hang`
   * requests end); `down` stops listening, and any other mode listens again on the same port.
   * Rejects when the port was taken meanwhile (EADDRINUSE).
   */
  set(mode: FaultMode): Promise<void>;
  /** Every request seen, in arrival order. */
  readonly requests: readonly ProxyRequest[];
  /** Stop listening and destroy every connection. */
  close(): Promise<void>;
}

const CONTENT_TYPES: Record<string, string> = {
  'git-upload-pack': 'application/x-git-upload-pack',
  'git-receive-pack': 'application/x-git-receive-pack',
};

/**
 * Start a proxy in `pass` mode in front of `target` (the git server's base URL,
 * `http://127.0.0.1:PORT`; only its host and port are used).
 */
export async function startFaultProxy(target: string): Promise<FaultProxy> {
  const to = new URL(target);
  const requests: ProxyRequest[] = [];
  const sockets = new Set<Socket>();
  let mode: FaultMode = 'pass';
  let listening = false;

  const server = http.createServer((req, res) => {
    const m = mode;
    requests.push({ method: req.method ?? 'GET', url: req.url ?? '/', mode: m, at: Date.now() });
    const service = /service=(git-[a-z-]+)/.exec(req.url ?? '')?.[1] ?? /\/(git-[a-z-]+)$/.exec(req.url ?? '')?.[1];
    const reply = (status: number, type: string, body: Buffer | string) => {
      req.resume();
      res.writeHead(status, { 'Content-Type': type });
      res.end(body);
    };
    switch (m) {
      case 'hang':
        req.resume(); // read the request, answer nothing; the socket is destroyed on the next mode change
        return;
      case '500':
        return reply(500, 'text/plain', 'fault proxy: internal server error\n');
      case '404':
        return reply(404, 'text/plain', 'fault proxy: not found\n');
      case 'garbage': {
        const adv = req.url?.includes('/info/refs') ? '-advertisement' : '-result';
        return reply(200, service ? `${CONTENT_TYPES[service] ?? 'application/octet-stream'}${adv}` : 'application/octet-stream', randomBytes(4096));
      }
      default:
        return forward(req, res, m === 'truncate-pack' && req.method === 'POST' && service === 'git-upload-pack');
    }
  });
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });

  function forward(req: http.IncomingMessage, res: http.ServerResponse, truncate: boolean): void {
    const up = http.request({ host: to.hostname, port: to.port, method: req.method, path: req.url, headers: req.headers }, (ur) => {
      if (!truncate) {
        res.writeHead(ur.statusCode ?? 502, ur.headers);
        ur.pipe(res);
        return;
      }
      const chunks: Buffer[] = [];
      ur.on('data', (c: Buffer) => chunks.push(c));
      ur.on('end', () => {
        const all = Buffer.concat(chunks);
        const headers = { ...ur.headers };
        delete headers['content-length'];
        res.writeHead(ur.statusCode ?? 502, headers);
        res.end(all.subarray(0, Math.floor(all.length / 2))); // a clean, well-terminated, short body
      });
    });
    up.on('error', () => res.destroy());
    req.pipe(up);
  }

  const listen = (port: number) =>
    new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, '127.0.0.1', () => {
        server.off('error', reject);
        listening = true;
        resolve();
      });
    });
  const stop = () =>
    new Promise<void>((resolve) => {
      for (const s of sockets) s.destroy();
      if (!listening) return resolve();
      listening = false;
      server.close(() => resolve());
    });

  await listen(0);
  const port = (server.address() as AddressInfo).port;
  return {
    url: (repoName) => `http://127.0.0.1:${port}/${repoName.replace(/^\/+/, '')}`,
    get mode() {
      return mode;
    },
    async set(next) {
      const prev = mode;
      mode = next;
      if (prev === next) return;
      if (next === 'down') return stop();
      for (const s of sockets) s.destroy(); // ends held hangs and keep-alive connections of the old mode
      if (!listening) await listen(port);
    },
    requests,
    close: stop,
  };
}
