/**
 * The bench's git server in its own process (so its CPU never counts as the agent's): the test
 * rig's smart-HTTP server over `argv[2]`, plus a control listener answering
 * `GET /count?since=N` with the requests seen since mark N and the server's CPU so far.
 * Prints one JSON line `{ "git": port, "ctl": port }` when listening.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { startGitServer } from '../test/rig/git-server.js';
import { childCpuMs, selfCpuMs } from './lib/util.js';

// bytes the git server sends (response bodies of git-http-backend), counted below the rig's server
let bytesOut = 0;
const CTL = Symbol('ctl');
const origWrite = http.ServerResponse.prototype.write;
const origEnd = http.ServerResponse.prototype.end;
const size = (chunk: unknown) => (typeof chunk === 'string' ? Buffer.byteLength(chunk) : chunk instanceof Uint8Array ? chunk.byteLength : 0);
http.ServerResponse.prototype.write = function (this: http.ServerResponse & { [CTL]?: boolean }, chunk: unknown, ...rest: unknown[]) {
  if (!this[CTL]) bytesOut += size(chunk);
  return (origWrite as (...a: unknown[]) => boolean).call(this, chunk, ...rest);
} as typeof origWrite;
http.ServerResponse.prototype.end = function (this: http.ServerResponse & { [CTL]?: boolean }, chunk?: unknown, ...rest: unknown[]) {
  if (!this[CTL] && typeof chunk !== 'function') bytesOut += size(chunk);
  return (origEnd as (...a: unknown[]) => http.ServerResponse).call(this, chunk, ...rest);
} as typeof origEnd;

const root = process.argv[2];
if (!root) throw new Error('usage: gitserver-child ROOT');
const server = await startGitServer({ root });
const port = Number(new URL(server.url('x')).port);
const ctl = http.createServer((req, res) => {
  (res as unknown as Record<symbol, boolean>)[CTL] = true;
  const url = new URL(req.url ?? '/', 'http://127.0.0.1');
  const since = Number(url.searchParams.get('since') ?? 0);
  const seen = server.requests.slice(since);
  const body = {
    mark: server.requests.length,
    requests: seen.length,
    gets: seen.filter((r) => r.method === 'GET').length,
    posts: seen.filter((r) => r.method === 'POST').length,
    uploadPack: seen.filter((r) => r.service === 'git-upload-pack').length,
    paths: seen.map((r) => `${r.method} ${r.path}${r.query ? `?${r.query}` : ''}`),
    cpuMs: selfCpuMs() + childCpuMs(),
    bytesOut,
  };
  res.writeHead(200, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
});
await new Promise<void>((resolve) => ctl.listen(0, '127.0.0.1', resolve));
process.stdout.write(`${JSON.stringify({ git: port, ctl: (ctl.address() as AddressInfo).port })}\n`);
process.on('SIGTERM', () => void server.close().then(() => process.exit(0)));
