/**
 * The API listener: HTTPS with the operator's or a self-made certificate (`tls.ts`), or plain
 * HTTP with `--insecure-http` on a loopback address only; the app of `app.ts` with the key ring
 * of `[global].keys` (`keyring.ts`) and this agent's names for the signed target URI.
 */
import { createServer as createHttpServer, type Server } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import os from 'node:os';
import type { Router } from 'express';
import type { Control } from '../control.js';
import { isLoopback, splitAddr } from '../flags.js';
import { createApiApp } from './app.js';
import { KeyRing, type KeySource } from './keyring.js';
import { serverTls } from './tls.js';

/** The logger the server writes to (pino's fits). */
export interface ServerLog {
  info(data: Record<string, unknown>, msg: string): void;
  warn(data: Record<string, unknown>, msg: string): void;
  error(data: Record<string, unknown>, msg: string): void;
}

/** Options of {@link startApiServer}. */
export interface ApiServerOptions {
  /** `-s`: `host:port`, `:port` for all interfaces. */
  readonly addr: string;
  /** Serve plain HTTP (loopback `addr` only). */
  readonly insecureHttp: boolean;
  readonly tlsCert?: string;
  readonly tlsKey?: string;
  /** Where the self-signed certificate is kept (`<stateDir>/tls/`). */
  readonly stateDir: string;
  /** This agent's names (`-h` and the hostname): accepted in the signed target URI, put in the self-signed certificate. */
  readonly hosts: readonly string[];
  /** The `[global].keys` list (e.g. `keysOfConfig(configFile)`). */
  readonly keys: KeySource;
  readonly log: ServerLog;
  /** Routers with their own authentication (webhooks), served before the signature check. */
  readonly open?: readonly Router[];
}

/**
 * A predicate for the host of a signed target URI: one of `hosts`, a DNS name whose first label
 * is a dotless one of them (`web1` → `web1.example.net`), `localhost`, or an address of one of
 * this machine's interfaces.
 */
export function ownNames(hosts: readonly string[]): (host: string) => boolean {
  const names = hosts.map((h) => h.toLowerCase());
  return (host) => {
    if (host === '') return false;
    if (host === 'localhost' || isLoopback(host)) return true;
    if (names.some((n) => host === n || (!n.includes('.') && host.startsWith(`${n}.`)))) return true;
    const addrs = Object.values(os.networkInterfaces()).flatMap((l) => (l ?? []).map((a) => a.address.toLowerCase()));
    return addrs.includes(host.replace(/^::ffff:/, ''));
  };
}

/**
 * Builds and starts the API listener; resolves once it listens (after logging `listening` with
 * `what: "api"`, the address and the scheme). Rejects when `--insecure-http` names a
 * non-loopback address, the TLS material cannot be had, or the address cannot be bound.
 */
export async function startApiServer(control: Control, opts: ApiServerOptions): Promise<Server> {
  const { host, port } = splitAddr(opts.addr);
  if (opts.insecureHttp && !isLoopback(host)) throw new Error(`--insecure-http is allowed on a loopback address only, not on ${opts.addr}`);
  const keys = new KeyRing(opts.keys, (msg, data) => (msg === 'keys loaded' ? opts.log.info(data, msg) : opts.log.warn(data, msg)));
  await keys.refresh(true);
  if ((await keys.all()).length === 0) opts.log.error({}, 'no usable key in [global].keys: every API request will be refused');
  const app = createApiApp(control, {
    log: (e) => opts.log.error({ err: e.err, method: e.method, path: e.path }, e.msg),
    auth: { keys, names: ownNames(opts.hosts), log: opts.log },
    ...(opts.open === undefined ? {} : { open: opts.open }),
  });
  let server: Server;
  let scheme: 'http' | 'https';
  if (opts.insecureHttp) {
    server = createHttpServer(app);
    scheme = 'http';
    opts.log.warn({ addr: opts.addr }, 'serving the API over plain HTTP (--insecure-http): loopback only');
  } else {
    const tls = await serverTls({ stateDir: opts.stateDir, names: opts.hosts, ...(opts.tlsCert === undefined ? {} : { certFile: opts.tlsCert }), ...(opts.tlsKey === undefined ? {} : { keyFile: opts.tlsKey }) });
    server = createHttpsServer({ cert: tls.cert, key: tls.key, minVersion: 'TLSv1.2' }, app) as unknown as Server;
    scheme = 'https';
    opts.log.info({ fingerprint: tls.fingerprint, cert: tls.certFile, origin: tls.origin }, 'API TLS certificate (SHA-256 fingerprint: compare with what gitopperctl pins)');
  }
  server.requestTimeout = 30_000;
  server.headersTimeout = 10_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host === '' ? undefined : host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  server.on('error', (err) => opts.log.error({ err: err.message }, 'API listener error'));
  opts.log.info({ addr: server.address(), what: 'api', scheme }, 'listening');
  return server;
}
