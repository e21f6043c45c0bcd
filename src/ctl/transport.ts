/**
 * gitopperctl's transport: node:http for `http://` agents (the daemon allows that on loopback
 * only), node:https for the rest with one of two trust models, checked during the TLS handshake
 * and before any byte of the (signed) request is sent:
 *   - `--ca FILE`: the certificate must chain to that CA and name the host (ordinary TLS);
 *   - otherwise trust on first use: the certificate's SHA-256 fingerprint is pinned in
 *     the pin file (`tls-pins.ts`) at the first connection, and a different one later is refused (CERT_CHANGED).
 * When the handshake fails because the server does not speak TLS at all (OpenSSL's "wrong
 * version number"), a second, plain connection looks at what the server does speak, so the
 * message can say what to do: an agent run with `--insecure-http` (PLAIN_HTTP: use
 * `@http://…`), or an SSH server such as miekg/gitopper's remote interface on :2222
 * (SSH_SERVER: use gitopper's own gitopperctl, docs/gitopperctl.md).
 */
import { request as httpRequest, type IncomingMessage, type RequestOptions } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import { connect as netConnect, isIP, type Socket } from 'node:net';
import { connect, type TLSSocket } from 'node:tls';
import { ClientError, type HttpAnswer, type HttpRequest, type Transport } from './client.js';
import type { TlsPins } from './tls-pins.js';

/** How {@link tlsTransport} trusts agents' certificates. */
export interface Trust {
  /** PEM CA certificate(s) (`--ca`): verify against them, no pinning. */
  readonly ca?: string;
  /** The pin file, when there is no `ca`. */
  readonly pins: TlsPins;
  /** Told when a host is pinned for the first time (gitopperctl prints it on stderr). */
  readonly onPin?: (hostPort: string, fingerprint: string, file: string) => void;
}

/** `host:port` of a URL with the port always written (`[::1]:2222`, `web1:443`). */
export function hostPort(url: URL): string {
  return `${url.hostname}:${url.port || (url.protocol === 'https:' ? '443' : '80')}`;
}

/** The pin check of one connection; undefined when the certificate may be used. */
function checkPin(trust: Trust, key: string, fingerprint: string): ClientError | undefined {
  const pin = trust.pins.lookup(key);
  if (pin === undefined) {
    trust.pins.add(key, fingerprint);
    trust.onPin?.(key, fingerprint, trust.pins.file);
    return undefined;
  }
  if (pin.fingerprint === fingerprint) return undefined;
  return new ClientError(
    0,
    'CERT_CHANGED',
    `the TLS certificate of ${key} has changed: ${trust.pins.file} line ${pin.line} pins ${pin.fingerprint}, the agent now shows ${fingerprint}. ` +
      'Someone may be in between, or the agent has a new certificate (state dir reset, --tls-cert changed): compare with the ' +
      `fingerprint the agent logged at start ("API TLS certificate"). To accept the new one, run \`gitopperctl forget @${key}\` (it removes line ${pin.line} of ${trust.pins.file}) and run the command again.`,
  );
}

/** What a server that is not TLS speaks, by the first bytes it sends: `http`, `ssh`, or undefined. */
export type PlainProtocol = 'http' | 'ssh';

/**
 * Connects to `host:port` without TLS and tells from the first bytes the server sends what it
 * speaks: an SSH server sends its identification string first (`SSH-2.0-…`, RFC 4253 §4.2); an
 * HTTP server answers the `HEAD / HTTP/1.0` sent here (unsigned, nothing secret) with
 * `HTTP/1.x` (RFC 9112 §4). Resolves undefined for anything else, a failure, or no answer within
 * `timeoutMs`; never rejects. Also returns the first line, for messages.
 */
export function sniffPlain(host: string, port: number, timeoutMs = 5000): Promise<{ protocol: PlainProtocol | undefined; first: string }> {
  return new Promise((resolve) => {
    const socket = netConnect({ host, port });
    let seen = Buffer.alloc(0);
    const done = () => {
      socket.destroy();
      const first = seen.toString('latin1').split(/\r?\n/)[0]!;
      const protocol = first.startsWith('SSH-') ? 'ssh' : /^HTTP\/1\.[01] \d{3}/.test(first) ? 'http' : undefined;
      resolve({ protocol, first });
    };
    socket.setTimeout(timeoutMs, done);
    socket.once('error', done);
    socket.once('end', done);
    socket.once('connect', () => socket.write(`HEAD / HTTP/1.0\r\nHost: ${host.includes(':') ? `[${host}]` : host}:${port}\r\n\r\n`));
    socket.on('data', (chunk: Buffer) => {
      seen = Buffer.concat([seen, chunk]);
      if (seen.includes(0x0a) || seen.length >= 256) done();
    });
  });
}

/**
 * The error for a server at `url` that failed the TLS handshake with `err`: PLAIN_HTTP or
 * SSH_SERVER (status 0, nothing was sent but the probe's `HEAD /`) when {@link sniffPlain} can
 * tell, else `err` itself.
 */
async function notTls(url: URL, err: Error): Promise<Error> {
  if (!String((err as NodeJS.ErrnoException).code ?? '').startsWith('ERR_SSL_')) return err;
  const key = hostPort(url);
  const { protocol, first } = await sniffPlain(url.hostname.replace(/^\[|\]$/g, ''), Number(url.port || 443));
  if (protocol === 'http') return new ClientError(0, 'PLAIN_HTTP', `this agent speaks plain HTTP (--insecure-http): use @http://${key}`);
  if (protocol === 'ssh') {
    const banner = first.replace(/[^\x20-\x7e]/g, '').slice(0, 60);
    return new ClientError(
      0,
      'SSH_SERVER',
      `${key} is an SSH server (${JSON.stringify(banner)}), not a gitopper REST API: miekg/gitopper's agent serves SSH on :2222; ask it with gitopper's own gitopperctl (docs/gitopperctl.md, "Two gitopperctls")`,
    );
  }
  return err;
}

/** Opens the TLS connection of one request, handing it over only once the certificate is trusted. */
function connector(url: URL, trust: Trust) {
  const host = url.hostname.replace(/^\[|\]$/g, '');
  const port = Number(url.port || 443);
  const servername = isIP(host) ? undefined : host;
  return (_opts: unknown, done: (err: Error | null, socket?: Socket) => void): undefined => {
    const socket: TLSSocket = connect({
      host,
      port,
      ...(servername === undefined ? {} : { servername }),
      ALPNProtocols: ['http/1.1'],
      ...(trust.ca === undefined ? { rejectUnauthorized: false } : { ca: trust.ca, rejectUnauthorized: true }),
    });
    const fail = (err: Error) => {
      socket.destroy();
      done(err);
    };
    // before the handshake completes: the server may not speak TLS at all
    const handshakeFailed = (err: Error) => {
      socket.destroy();
      void notTls(url, err).then(done);
    };
    socket.once('error', handshakeFailed);
    socket.once('secureConnect', () => {
      socket.off('error', handshakeFailed);
      if (trust.ca === undefined) {
        const problem = checkPin(trust, hostPort(url), socket.getPeerCertificate().fingerprint256);
        if (problem) return fail(problem);
      }
      done(null, socket);
    });
    return undefined;
  };
}

/**
 * A Transport for gitopperctl: `http://` plain, `https://` with {@link Trust}. Rejects with a
 * ClientError CERT_CHANGED for a pinned host showing another certificate (nothing was sent), and
 * PLAIN_HTTP or SSH_SERVER for a server that does not speak TLS (see {@link sniffPlain}).
 */
export function tlsTransport(trust: Trust): Transport {
  return (req: HttpRequest, signal: AbortSignal) =>
    new Promise<HttpAnswer>((resolve, reject) => {
      const url = new URL(req.url);
      const opts: RequestOptions = { method: req.method, headers: { ...req.headers, host: url.host }, signal };
      const onAnswer = (res: IncomingMessage) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, statusText: res.statusMessage ?? '', text: Buffer.concat(chunks).toString('utf8') }));
        res.on('error', reject);
      };
      // one agent per request whose connections are handed over only after the certificate check
      const agent = new HttpsAgent();
      agent.createConnection = connector(url, trust) as unknown as typeof agent.createConnection;
      const r = url.protocol === 'https:' ? httpsRequest(url, { ...opts, agent }, onAnswer) : httpRequest(url, opts, onAnswer);
      r.on('close', () => agent.destroy());
      r.on('error', reject);
      r.end(req.body);
    });
}
