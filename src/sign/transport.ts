/**
 * gitopperctl's transport: node:http for `http://` agents (the daemon allows that on loopback
 * only), node:https for the rest with one of two trust models, checked during the TLS handshake
 * and before any byte of the (signed) request is sent:
 *   - `--ca FILE`: the certificate must chain to that CA and name the host (ordinary TLS);
 *   - otherwise trust on first use: the certificate's SHA-256 fingerprint is pinned in
 *     known_hosts at the first connection, and a different one later is refused (CERT_CHANGED).
 */
import { request as httpRequest, type IncomingMessage, type RequestOptions } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import { isIP, type Socket } from 'node:net';
import { connect, type TLSSocket } from 'node:tls';
import { ClientError, type HttpAnswer, type HttpRequest, type Transport } from '../client.js';
import type { KnownHosts } from './known-hosts.js';

/** How {@link tlsTransport} trusts agents' certificates. */
export interface Trust {
  /** PEM CA certificate(s) (`--ca`): verify against them, no pinning. */
  readonly ca?: string;
  /** The pins, when there is no `ca`. */
  readonly knownHosts: KnownHosts;
  /** Told when a host is pinned for the first time (gitopperctl prints it on stderr). */
  readonly onPin?: (hostPort: string, fingerprint: string, file: string) => void;
}

/** `host:port` of a URL with the port always written (`[::1]:2222`, `web1:443`). */
export function hostPort(url: URL): string {
  return `${url.hostname}:${url.port || (url.protocol === 'https:' ? '443' : '80')}`;
}

/** The pin check of one connection; undefined when the certificate may be used. */
function checkPin(trust: Trust, key: string, fingerprint: string): ClientError | undefined {
  const pin = trust.knownHosts.lookup(key);
  if (pin === undefined) {
    trust.knownHosts.add(key, fingerprint);
    trust.onPin?.(key, fingerprint, trust.knownHosts.file);
    return undefined;
  }
  if (pin.fingerprint === fingerprint) return undefined;
  return new ClientError(
    0,
    'CERT_CHANGED',
    `the TLS certificate of ${key} has changed: ${trust.knownHosts.file} line ${pin.line} pins ${pin.fingerprint}, the agent now shows ${fingerprint}. ` +
      'Someone may be in between, or the agent has a new certificate (state dir reset, --tls-cert changed): compare with the ' +
      `fingerprint the agent logged at start ("API TLS certificate"). To accept the new one, run \`gitopperctl forget @${key}\` (it removes line ${pin.line} of ${trust.knownHosts.file}) and run the command again.`,
  );
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
    socket.once('error', fail);
    socket.once('secureConnect', () => {
      socket.off('error', fail);
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
 * ClientError CERT_CHANGED for a pinned host showing another certificate (nothing was sent).
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
