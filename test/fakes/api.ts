/**
 * The REST API server as the auth, rate-limit and fuzz tests run it (not a test file itself):
 * loopback, plain HTTP (`--insecure-http`), host `limos`, keys given as key files, and a log that
 * records every line for assertions.
 */
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { after, before } from 'node:test';
import type { Control } from '../../src/core/control.js';
import { fixedKeys } from '../../src/http/keyring.js';
import { startApiServer, type ApiServerOptions } from '../../src/http/server.js';

/** A recorded log line: the data fields, `msg`, and with `levels` its `level`. */
export type LogLine = Record<string, unknown> & { msg: string; level?: string };

/** A logger whose lines land in `lines` (with `levels: true`, each carries `level`: info, warn, error). */
export function recordingLog(opts: { levels?: boolean } = {}): { lines: LogLine[]; log: ApiServerOptions['log'] } {
  const lines: LogLine[] = [];
  const put = (level: string) => (d: Record<string, unknown>, msg: string) => void lines.push({ ...d, msg, ...(opts.levels ? { level } : {}) });
  return { lines, log: { info: put('info'), warn: put('warn'), error: put('error') } };
}

/** What {@link apiServerPerFile} serves; `port` is set by its `before` hook. */
export interface TestApi {
  port: number;
  /** `http://127.0.0.1:<port>` */
  base: string;
  server: Server;
}

/**
 * Register this test file's `before`/`after` hooks: the API server for `control` on 127.0.0.1 (a
 * free port, plain HTTP, host `limos`), its state in `<dir>/state`, the key files `keys` and `log`;
 * `open` routes go before the signature check (the push webhook).
 */
export function apiServerPerFile(control: Control, dir: string, keys: readonly { path: string; ro: boolean }[], log: ApiServerOptions['log'], open?: ApiServerOptions['open']): TestApi {
  const api = {} as TestApi;
  before(async () => {
    api.server = await startApiServer(control, { addr: '127.0.0.1:0', insecureHttp: true, stateDir: path.join(dir, 'state'), hosts: ['limos'], keys: fixedKeys(keys), log, ...(open ? { open } : {}) });
    api.port = (api.server.address() as AddressInfo).port;
    api.base = `http://127.0.0.1:${api.port}`;
  });
  after(() => new Promise<void>((resolve) => api.server.close(() => resolve())));
  return api;
}
