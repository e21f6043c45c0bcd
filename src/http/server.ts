/**
 * The API listener: HTTPS with the operator's or a self-made certificate (`tls.ts`), or plain
 * HTTP with `--insecure-http` on a loopback address only; the app of `app.ts` with the key ring
 * of `[global].keys` (`keyring.ts`) and this agent's names for the signed target URI. Size limits
 * before the app: request line and headers {@link MAX_HEADER_BYTES} (431), request target
 * {@link MAX_URL_BYTES} (414); what node refuses itself is answered in the API's JSON error shape.
 */
import { createServer as createHttpServer, STATUS_CODES, type RequestListener, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import os from 'node:os';
import type { Duplex } from 'node:stream';
import type { Router } from 'express';
import type { Control } from '../core/control.js';
import { createApiApp } from './app.js';
import { httpStatus } from './errors.js';
import type { HttpCode } from '../errors/gitopper-error.js';
import { KeyRing, type KeySource } from './keyring.js';
import { isLoopback, splitAddr } from './listen-address.js';
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
  /** The `[global].keys` list (the daemon's `KeyList`, set to the list of each accepted config). */
  readonly keys: KeySource;
  readonly log: ServerLog;
  /** Routers with their own authentication (webhooks), served before the signature check. */
  readonly open?: readonly Router[];
}

/** Most bytes of a request's line and headers together (node's default, made explicit): more → 431. */
export const MAX_HEADER_BYTES = 16 * 1024;

/** Longest request target (path and query), in bytes: more → 414. The longest API URL is about 320. */
export const MAX_URL_BYTES = 4096;

const errorBody = (code: string, message: string) => JSON.stringify({ error: { code, message } });

/** Writes a whole `{"error":…}` answer on a socket node took over from HTTP, and closes it; the status is `code`'s (`errors.ts`). */
function rawAnswer(socket: Duplex, code: HttpCode, message: string): void {
  const status = httpStatus(code);
  const body = errorBody(code, message);
  socket.end(`HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\ncontent-type: application/json; charset=utf-8\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`);
}

/** Answers `res` with a whole `{"error":…}` body and closes the connection after it. */
/** Answers `{"error":…}` with `code`'s status (`errors.ts`) and closes the connection. */
function jsonAnswer(res: ServerResponse, code: HttpCode, message: string): void {
  const status = httpStatus(code);
  const body = errorBody(code, message);
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(body), connection: 'close' }).end(body);
}

/**
 * The API listener's request handler: `app` behind the checks node's parser leaves to it: a
 * request target longer than {@link MAX_URL_BYTES} → 414 URI_TOO_LONG; an HTTP/1.1 request without
 * `Host` → 400 (RFC 9112 §3.2; node's own check answers without a body, so the server is created
 * with `requireHostHeader: false` and this one answers instead).
 */
export function guardRequests(app: RequestListener): RequestListener {
  return (req, res) => {
    const refuse = (code: HttpCode, message: string) => jsonAnswer(res, code, message);
    if ((req.url ?? '').length > MAX_URL_BYTES) refuse('URI_TOO_LONG', `the request target is ${(req.url ?? '').length} bytes; at most ${MAX_URL_BYTES}`);
    else if (req.httpVersion === '1.1' && req.headers.host === undefined) refuse('BAD_REQUEST', 'an HTTP/1.1 request needs a Host header');
    else app(req, res);
  };
}

/**
 * Makes `server` answer in the API's `{"error":{"code","message"}}` shape what node answers
 * before any handler runs, then close the connection: request line and headers over
 * `maxHeaderSize` → 431 HEADERS_TOO_LARGE, a request that does not parse → 400 BAD_REQUEST,
 * too slow → 408 REQUEST_TIMEOUT, an `Expect` other than 100-continue → 417, CONNECT → 405.
 */
export function answerOutsideApp(server: Server): void {
  server.on('clientError', (err: Error & { code?: string }, socket: Duplex) => {
    const answering = (socket as Duplex & { _httpMessage?: { headersSent?: boolean } })._httpMessage?.headersSent === true;
    if (err.code === 'ECONNRESET' || !socket.writable || answering) {
      socket.destroy();
      return;
    }
    if (err.code === 'HPE_HEADER_OVERFLOW') rawAnswer(socket, 'HEADERS_TOO_LARGE', `the request line and headers exceed ${MAX_HEADER_BYTES} bytes`);
    else if (err.code === 'ERR_HTTP_REQUEST_TIMEOUT') rawAnswer(socket, 'REQUEST_TIMEOUT', 'the request was not received in time');
    else if (err.code === 'HPE_CHUNK_EXTENSIONS_OVERFLOW') rawAnswer(socket, 'PAYLOAD_TOO_LARGE', 'chunk extensions are too large');
    else rawAnswer(socket, 'BAD_REQUEST', `malformed HTTP request (${err.code ?? 'parse error'})`);
  });
  server.on('checkExpectation', (req, res) => jsonAnswer(res, 'EXPECTATION_FAILED', `cannot meet Expect: ${String(req.headers.expect).slice(0, 80)}`));
  server.on('connect', (_req, socket: Duplex) => rawAnswer(socket, 'METHOD_NOT_ALLOWED', 'CONNECT is not allowed'));
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
  const limits = { maxHeaderSize: MAX_HEADER_BYTES, requireHostHeader: false };
  if (opts.insecureHttp) {
    server = createHttpServer(limits, guardRequests(app));
    scheme = 'http';
    opts.log.warn({ addr: opts.addr }, 'serving the API over plain HTTP (--insecure-http): loopback only');
  } else {
    const tls = await serverTls({ stateDir: opts.stateDir, names: opts.hosts, ...(opts.tlsCert === undefined ? {} : { certFile: opts.tlsCert }), ...(opts.tlsKey === undefined ? {} : { keyFile: opts.tlsKey }) });
    server = createHttpsServer({ ...limits, cert: tls.cert, key: tls.key, minVersion: 'TLSv1.2' }, guardRequests(app)) as unknown as Server;
    scheme = 'https';
    opts.log.info({ fingerprint: tls.fingerprint, cert: tls.certFile, origin: tls.origin }, 'API TLS certificate (SHA-256 fingerprint: compare with what gitopperctl pins)');
  }
  server.requestTimeout = 30_000;
  server.headersTimeout = 10_000;
  answerOutsideApp(server);
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
