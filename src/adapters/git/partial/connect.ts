/**
 * A protocol-v2 client (`../transport/v2/client.ts`) for one source: a `PipeTransport` for SSH and
 * local upstreams, node's http plugin for http(s); every request under the inactivity timeout
 * (`../transport/http.ts`). For https, credentials become an `Authorization: Basic` header (from
 * `token_file`, read now, as `../fetch.ts` does through isomorphic-git's `onAuth`, or from the
 * URL's userinfo of a bootstrap `-U` URL): calling the plugin directly, there is no `onAuth`.
 */
import http from 'isomorphic-git/http/node';
import type { SourceRef } from '../../../ports/git.js';
import { readToken } from '../transport/token.js';
import { withIdleTimeout, type TimedHttpClient } from '../transport/http.js';
import { openPipe } from '../transport/pipe.js';
import { V2Client } from '../transport/v2/client.js';

/** Options of {@link connect}. */
export interface ConnectOptions {
  /** Inactivity timeout per request, ms; 0 = none. */
  readonly idleTimeoutMs: number;
  /** Aborts every request at once. */
  readonly signal?: AbortSignal | undefined;
}

/** A client and what to do when done with it. */
export interface Connection {
  readonly client: V2Client;
  /** The timed plugin: its `timeout` is the timeout or abort that ended a request, if one did. */
  readonly timed: TimedHttpClient;
  /** Ends the transport's processes (SSH, local). Never throws. */
  close(): Promise<void>;
}

/**
 * A protocol-v2 client for `source` (see the file comment).
 * @throws UpstreamError for an invalid upstream (or token_file with SSH); `token_file … is empty` or
 *   the read error of an unreadable token file
 */
export async function connect(source: SourceRef, opts: ConnectOptions): Promise<Connection> {
  const pipe = openPipe(source);
  const timed = withIdleTimeout(pipe ?? http, source.upstream, opts.idleTimeoutMs, opts.signal);
  let url = pipe?.url ?? source.upstream;
  const headers: Record<string, string> = {};
  if (!pipe) {
    const u = new URL(source.upstream);
    let cred: { username: string; password?: string } | undefined;
    if (u.username !== '' || u.password !== '') cred = { username: decodeURIComponent(u.username), password: decodeURIComponent(u.password) };
    u.username = '';
    u.password = '';
    url = u.toString();
    if (source.tokenFile !== undefined) cred = await readToken(source.tokenFile);
    if (cred) headers.Authorization = `Basic ${Buffer.from(`${cred.username}:${cred.password ?? ''}`).toString('base64')}`;
  }
  // http(s): each command is a stateless POST, so the capabilities seen before are reused (a pipe
  // starts a process per command anyway, and reads its advertisement)
  const client = new V2Client({ http: timed, url: url.replace(/\/+$/, ''), upstream: source.upstream, headers, tokenFile: source.tokenFile, reuseCapabilities: !pipe });
  return { client, timed, close: async () => pipe?.close() };
}

/** `p`, except that a timeout or abort recorded by `c.timed` wins over the error it caused. */
export async function timed<T>(c: Connection, p: Promise<T>): Promise<T> {
  try {
    return await p;
  } catch (err) {
    throw c.timed.timeout ?? err;
  }
}
