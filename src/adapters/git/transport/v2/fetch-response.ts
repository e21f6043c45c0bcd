/**
 * The response of a protocol-v2 `fetch` (git's Documentation/gitprotocol-v2.txt, "fetch" → "Response"):
 * sections (`acknowledgments`, `shallow-info`, `wanted-refs`, `packfile-uris`, `packfile`) separated by
 * delim-pkts; the `packfile` section is side-band-64k multiplexed (gitprotocol-pack.txt: the first
 * byte of each pkt-line is the band: 1 pack data, 2 progress, 3 fatal error) and ends with a flush-pkt.
 */
import { lineOf, type PktReader } from './pkt.js';

/** Receives the pack data in order, as it arrives; the fetch waits for each call (back-pressure). */
export type PackSink = (chunk: Buffer) => Promise<void>;

/**
 * Read a `fetch` response from `reader`: skip the sections before `packfile`, hand its band-1 data
 * to `sink`, ignore progress (band 2). Resolves with the number of pack bytes.
 * @throws `fail(problem)` for an `ERR` line, a band-3 message, a response without a pack, or an
 *   unknown band
 */
export async function readPackfileResponse(reader: PktReader, sink: PackSink, fail: (problem: string) => Error): Promise<number> {
  for (;;) {
    const header = await reader.read();
    if (header === undefined) throw fail('the answer ended before the pack');
    const name = lineOf(header);
    if (name === undefined) {
      if (header.kind === 'delim') continue;
      throw fail('the answer has no pack (the server did not take "done")');
    }
    if (name.startsWith('ERR ')) throw fail(`the server refused: ${name.slice(4)}`);
    if (name === 'packfile') return readPack(reader, sink, fail);
    // any other section (acknowledgments, shallow-info, wanted-refs, packfile-uris): its lines are skipped
    let p = await reader.read();
    while (p !== undefined && p.kind === 'data') p = await reader.read();
    if (p === undefined) throw fail(`the answer ended in section ${name}`);
    if (p.kind !== 'delim') throw fail(`the answer ended after section ${name} without a pack`);
  }
}

/** The side-band data of a `packfile` section up to its flush-pkt (or response-end). */
async function readPack(reader: PktReader, sink: PackSink, fail: (problem: string) => Error): Promise<number> {
  let bytes = 0;
  for (;;) {
    const p = await reader.read();
    if (p === undefined) throw fail('the answer ended inside the pack');
    if (p.kind !== 'data') return bytes;
    const band = p.payload[0];
    if (band === 1) {
      const data = p.payload.subarray(1);
      bytes += data.length;
      await sink(data);
    } else if (band === 3) {
      throw fail(`the server failed: ${p.payload.subarray(1).toString('utf8').trim()}`);
    } else if (band !== 2) {
      const text = p.payload.toString('utf8');
      throw fail(text.startsWith('ERR ') ? `the server refused: ${text.slice(4).trim()}` : `unknown side-band ${band}`);
    }
  }
}
