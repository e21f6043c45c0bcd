/**
 * The configured branch is fetched whatever the upstream's `HEAD` says.
 *
 * isomorphic-git's `fetch` needs to know the remote's default branch: it takes it from the
 * `symref=HEAD:<ref>` capability of the ref advertisement, or else from an advertised `HEAD` line,
 * and throws `NotFoundError: Could not find HEAD.` when there is neither. git's `upload-pack`
 * advertises neither when `HEAD` is dangling: a bare repository made with `git init --bare` (HEAD →
 * `refs/heads/master`) into which only `main` was pushed. git itself fetches a named branch from
 * such a repository, and so must we (the config names the branch; `HEAD` is irrelevant to us).
 *
 * {@link withDefaultHead} wraps an isomorphic-git `http` plugin (node's for http(s), a `PipeTransport`
 * for SSH and local upstreams): when the protocol-v1 advertisement of `git-upload-pack` has no
 * `HEAD`, it adds `symref=HEAD:<the configured branch>` to the capabilities of the first ref line.
 * Nothing else of the advertisement changes, and an advertisement with a `HEAD` passes untouched.
 * Pack format reference: git's Documentation/gitprotocol-pack.txt ("Reference Discovery") and
 * gitprotocol-common.txt (pkt-line).
 */
import type { GitHttpRequest, GitHttpResponse, HttpClient } from 'isomorphic-git';

/**
 * `client`, except that a ref advertisement of `git-upload-pack` without `HEAD` gets
 * `symref=HEAD:<branchRef>` (see the file comment). The advertisement's body is read whole (it is
 * the list of refs; bounded by what the upstream advertises) before it is handed on.
 * @param branchRef the full ref fetched, e.g. `refs/heads/main`
 */
export function withDefaultHead(client: HttpClient, branchRef: string): HttpClient {
  return {
    request: async (req: GitHttpRequest): Promise<GitHttpResponse> => {
      const res = await client.request(req);
      const get = (req.method ?? 'GET').toUpperCase() === 'GET';
      if (!get || !isUploadPackAdvertisement(req.url) || res.statusCode !== 200 || !res.body) return res;
      const chunks: Uint8Array[] = [];
      for await (const chunk of res.body) chunks.push(chunk);
      const body = adoptHead(Buffer.concat(chunks), branchRef);
      return { ...res, body: oneChunk(body) };
    },
  };
}

/**
 * The advertisement `advert` (pkt-lines, protocol v1, with or without the smart-HTTP
 * `# service=` preamble) with ` symref=HEAD:<branchRef>` appended to the capabilities of its first
 * ref line, when it advertises no `HEAD` line and no `symref=HEAD:` capability. Returned unchanged
 * when it already has one, has no ref line (an empty repository), or is not well-formed pkt-lines
 * (isomorphic-git then reports the malformed answer itself).
 */
export function adoptHead(advert: Buffer, branchRef: string): Buffer {
  let first: { start: number; len: number; nul: number } | undefined;
  let off = 0;
  while (off < advert.length) {
    if (off + 4 > advert.length) return advert;
    const hex = advert.toString('latin1', off, off + 4);
    if (!/^[0-9a-f]{4}$/i.test(hex)) return advert;
    const len = parseInt(hex, 16);
    if (len === 0 || len === 1 || len === 2) {
      off += 4; // flush, delim, response-end
      continue;
    }
    if (len < 4 || off + len > advert.length) return advert;
    const text = advert.toString('latin1', off + 4, off + len);
    if (!text.startsWith('#')) {
      const nul = text.indexOf('\0');
      const refPart = (nul >= 0 ? text.slice(0, nul) : text).replace(/\n$/, '');
      if (refPart.slice(41) === 'HEAD') return advert;
      if (nul >= 0) {
        if (/(^| )symref=HEAD:/.test(text.slice(nul + 1))) return advert;
        first ??= { start: off, len, nul };
      }
    }
    off += len;
  }
  if (!first || /^0{40} /.test(advert.toString('latin1', first.start + 4, first.start + 45))) return advert;
  const line = advert.subarray(first.start + 4, first.start + first.len);
  const newline = line[line.length - 1] === 0x0a;
  const payload = Buffer.concat([newline ? line.subarray(0, -1) : line, Buffer.from(` symref=HEAD:${branchRef}${newline ? '\n' : ''}`, 'latin1')]);
  const header = Buffer.from((payload.length + 4).toString(16).padStart(4, '0'), 'latin1');
  return Buffer.concat([advert.subarray(0, first.start), header, payload, advert.subarray(first.start + first.len)]);
}

/** True for `…/info/refs?service=git-upload-pack` (the ref advertisement of a fetch). */
function isUploadPackAdvertisement(url: string): boolean {
  try {
    const u = new URL(url);
    return u.pathname.endsWith('/info/refs') && u.searchParams.get('service') === 'git-upload-pack';
  } catch {
    return false;
  }
}

/** A response body of one chunk. */
async function* oneChunk(body: Uint8Array): AsyncIterableIterator<Uint8Array> {
  yield body;
}
