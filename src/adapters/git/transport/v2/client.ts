/**
 * A git protocol-v2 client of `git-upload-pack` over an isomorphic-git `HttpClient` (node's for
 * http(s), a `PipeTransport` for SSH and local upstreams), for what isomorphic-git 1.44 lacks: the
 * `filter` of a partial clone. References: git's Documentation/gitprotocol-v2.txt (capability
 * advertisement, `ls-refs`, `fetch`), gitprotocol-http.txt (smart HTTP: `GET info/refs`,
 * `POST git-upload-pack`, the `Git-Protocol` header) and gitprotocol-common.txt (pkt-line).
 *
 * Each command is one stateless request (`POST …/git-upload-pack`, body: `command=<c>`, capabilities,
 * delim-pkt, arguments, flush-pkt), as over smart HTTP. The `fetch` response is parsed by
 * `fetch-response.ts`; its pack data is handed to a sink as it arrives (never held whole).
 */
import type { GitHttpResponse, HttpClient } from 'isomorphic-git';
import { DELIM_PKT, FLUSH_PKT, PktLineError, PktReader, lineOf, pkt } from './pkt.js';
import { GitProtocolError, statusProblem } from './errors.js';
import { readPackfileResponse, type PackSink } from './fetch-response.js';

/** The capability advertisement of a v2 server: each capability and its value (`fetch` → `shallow filter`). */
export interface V2Capabilities {
  readonly caps: ReadonlyMap<string, string>;
}

/** True when the v2 server's `fetch` command advertises `feature` (e.g. `filter`). */
export function fetchFeature(c: V2Capabilities, feature: string): boolean {
  const v = c.caps.get('fetch');
  return v !== undefined && v.split(' ').includes(feature);
}

/** What {@link V2Client.fetch} asks for. */
export interface FetchRequest {
  /** Object ids (40 hex) wanted. */
  readonly wants: readonly string[];
  /** Object ids the store has (commits): the server leaves out what they reach. */
  readonly haves?: readonly string[];
  /** A filter-spec (e.g. `blob:none`); the server must advertise `fetch=… filter`. */
  readonly filter?: string;
}

/** Where and how {@link V2Client} talks. */
export interface V2ClientOptions {
  /** The plugin (already wrapped with the idle timeout). */
  readonly http: HttpClient;
  /** Base URL of the repository: requests go to `<url>/info/refs…` and `<url>/git-upload-pack`. */
  readonly url: string;
  /** The upstream as configured, for error messages (masked). */
  readonly upstream: string;
  /** Extra headers of every request (`Authorization`). */
  readonly headers?: Readonly<Record<string, string>>;
  /** The token file the credentials came from, for the message of a 401. */
  readonly tokenFile?: string | undefined;
  /**
   * Reuse the capabilities this process last got from this `url` (no `GET info/refs`): for http(s),
   * where every command is a stateless POST anyway. Any failed request forgets them, so the next
   * client asks again (a server whose configuration changed is seen at the next try).
   */
  readonly reuseCapabilities?: boolean;
}

/** Capabilities by upstream URL, as last advertised to this process ({@link V2ClientOptions.reuseCapabilities}). */
const known = new Map<string, V2Capabilities | undefined>();

const V2_HEADER = { 'Git-Protocol': 'version=2' } as const;

/** A protocol-v2 session with one upstream: {@link capabilities} first, then commands. */
export class V2Client {
  private advertised: V2Capabilities | undefined;

  constructor(private readonly o: V2ClientOptions) {}

  /**
   * `GET info/refs?service=git-upload-pack` with `Git-Protocol: version=2`: the server's capabilities,
   * or undefined when it answered a v0/v1 ref advertisement (it does not speak v2).
   * @throws GitProtocolError for an HTTP status other than 200 or a malformed answer; the plugin's errors
   */
  async capabilities(): Promise<V2Capabilities | undefined> {
    if (this.o.reuseCapabilities && known.has(this.o.url)) return (this.advertised = known.get(this.o.url));
    const caps = await this.discover();
    if (this.o.reuseCapabilities) known.set(this.o.url, caps);
    return caps;
  }

  /** The capability advertisement itself (see {@link capabilities}). */
  private async discover(): Promise<V2Capabilities | undefined> {
    const what = 'GET info/refs';
    const res = await this.o.http.request({ url: `${this.o.url}/info/refs?service=git-upload-pack`, method: 'GET', headers: { ...this.o.headers, ...V2_HEADER } });
    const reader = this.checked(res, what);
    try {
      let p = await reader.read();
      // smart HTTP may put `# service=git-upload-pack` + flush-pkt first (gitprotocol-http.txt)
      if (p !== undefined && lineOf(p)?.startsWith('# service=')) {
        p = await reader.read();
        if (p?.kind === 'flush') p = await reader.read();
      }
      if (p === undefined || lineOf(p) !== 'version 2') return undefined;
      const caps = new Map<string, string>();
      for (p = await reader.read(); p !== undefined && p.kind === 'data'; p = await reader.read()) {
        const line = lineOf(p)!;
        const eq = line.indexOf('=');
        caps.set(eq < 0 ? line : line.slice(0, eq), eq < 0 ? '' : line.slice(eq + 1));
      }
      this.advertised = { caps };
      return this.advertised;
    } catch (err) {
      throw this.malformed(err, what);
    } finally {
      await reader.close();
    }
  }

  /**
   * `ls-refs` with `ref-prefix` for each of `prefixes`: ref name → object id. Only refs whose names
   * start with one of `prefixes` are returned (the server may send more).
   * @throws GitProtocolError as {@link capabilities}, or for an `ERR` line
   */
  async lsRefs(prefixes: readonly string[]): Promise<Map<string, string>> {
    const what = 'POST git-upload-pack (ls-refs)';
    const reader = await this.command('ls-refs', prefixes.map((p) => `ref-prefix ${p}\n`), what);
    const refs = new Map<string, string>();
    try {
      for (let p = await reader.read(); p !== undefined && p.kind === 'data'; p = await reader.read()) {
        const line = lineOf(p)!;
        if (line.startsWith('ERR ')) throw new GitProtocolError(`the server refused: ${line.slice(4)}`, { upstream: this.o.upstream, request: what });
        const m = /^([0-9a-f]{40,64}) (\S+)/.exec(line);
        if (m && prefixes.some((x) => m[2]!.startsWith(x))) refs.set(m[2]!, m[1]!);
      }
      return refs;
    } catch (err) {
      throw this.malformed(err, what);
    } finally {
      await reader.close();
    }
  }

  /**
   * `fetch` of `req` (with `ofs-delta`, `no-progress` and `done`: one round, no negotiation): the pack
   * data goes to `sink` as it arrives. Resolves with the number of pack bytes received.
   * @throws GitProtocolError for an `ERR` line, a side-band error (channel 3) or a malformed answer;
   *   Error when `req.filter` is set and the server did not advertise `fetch=… filter`
   */
  async fetch(req: FetchRequest, sink: PackSink): Promise<number> {
    const what = 'POST git-upload-pack (fetch)';
    if (req.filter !== undefined && (!this.advertised || !fetchFeature(this.advertised, 'filter'))) throw new Error('the server cannot filter (no fetch=filter capability)');
    const args = ['ofs-delta\n', 'no-progress\n'];
    if (req.filter !== undefined) args.push(`filter ${req.filter}\n`);
    for (const w of req.wants) args.push(`want ${w}\n`);
    for (const h of req.haves ?? []) args.push(`have ${h}\n`);
    args.push('done\n');
    const reader = await this.command('fetch', args, what);
    try {
      return await readPackfileResponse(reader, sink, (problem) => new GitProtocolError(problem, { upstream: this.o.upstream, request: what }));
    } catch (err) {
      throw this.malformed(err, what);
    } finally {
      await reader.close();
    }
  }

  /** POST one command; the response's pkt-lines. A failure forgets the reused capabilities. */
  private async command(name: string, args: readonly string[], what: string): Promise<PktReader> {
    try {
      return await this.post(name, args, what);
    } catch (err) {
      known.delete(this.o.url);
      throw err;
    }
  }

  private async post(name: string, args: readonly string[], what: string): Promise<PktReader> {
    const caps = [`command=${name}\n`];
    const format = this.advertised?.caps.get('object-format');
    if (format !== undefined) caps.push(`object-format=${format.split(' ')[0]}\n`);
    const body = Buffer.concat([...caps.map((c) => pkt(c)), DELIM_PKT, ...args.map((a) => pkt(a)), FLUSH_PKT]);
    const res = await this.o.http.request({
      url: `${this.o.url}/git-upload-pack`,
      method: 'POST',
      headers: { ...this.o.headers, ...V2_HEADER, 'Content-Type': 'application/x-git-upload-pack-request', Accept: 'application/x-git-upload-pack-result' },
      body: [body] as unknown as AsyncIterableIterator<Uint8Array>, // an array: node's plugin sends it with a Content-Length
    });
    return this.checked(res, what);
  }

  /** The response's body as pkt-lines, after checking its status. */
  private checked(res: GitHttpResponse, what: string): PktReader {
    if (res.statusCode !== 200) {
      void Promise.resolve(res.body?.return?.()).catch(() => undefined);
      throw new GitProtocolError(statusProblem(res.statusCode, res.statusMessage, this.o.tokenFile), { upstream: this.o.upstream, request: what, status: res.statusCode });
    }
    if (!res.body) throw new GitProtocolError('empty answer', { upstream: this.o.upstream, request: what });
    return new PktReader(res.body);
  }

  private malformed(err: unknown, what: string): unknown {
    known.delete(this.o.url); // whatever went wrong, the next client asks the server again
    return err instanceof PktLineError ? new GitProtocolError(`not a git answer: ${err.message}`, { upstream: this.o.upstream, request: what }) : err;
  }
}
