/**
 * The lazy half of a partial clone: exactly the objects a store lacks (the blobs under a service's
 * links), fetched by id over protocol v2 (`want <oid>`, no filter; v2 serves any object the server
 * has, git's Documentation/gitprotocol-v2.txt "fetch"), in batches, each batch one promisor pack
 * with an empty `.promisor` file (git's format for a lazy fetch).
 */
import type { SourceRef } from '../../../ports/git.js';
import { redactUpstream } from '../../../upstream/upstream.js';
import { GitopperError } from '../../../errors/gitopper-error.js';
import { connect, timed } from './connect.js';
import type { PartialFetchOptions } from './options.js';
import { PackWriter } from './pack-writer.js';
import { ensurePartialStore } from './store-config.js';

/** Wants per `fetch` request. */
export const OBJECTS_PER_BATCH = 1000;

/** {@link fetchObjects} could not bring the objects: names how many, the upstream (masked) and why. */
export class ObjectFetchError extends GitopperError {
  readonly code = 'GIT_TRANSPORT';
  constructor(override readonly data: { readonly upstream: string; readonly objects: number; readonly reason: string }) {
    super(`cannot fetch ${data.objects} missing object${data.objects === 1 ? '' : 's'} from ${redactUpstream(data.upstream)}: ${data.reason}`);
  }
}

/**
 * Fetch exactly `oids` (40 hex; blobs, or any objects: a commit or tree brings what it reaches) into
 * the store `gitdir` as promisor packs, {@link OBJECTS_PER_BATCH} wants per request. Resolves with
 * the pack bytes received. An empty `oids` asks nothing.
 * @throws ObjectFetchError when the upstream is unreachable, does not speak protocol v2, refuses an
 *   object (`not our ref`), or a pack lacks one of the objects asked; its `cause` is the error met
 */
export async function fetchObjects(gitdir: string, source: SourceRef, oids: readonly string[], opts: PartialFetchOptions): Promise<{ bytes: number }> {
  const wanted = [...new Set(oids)];
  if (wanted.length === 0) return { bytes: 0 };
  const fail = (reason: string, cause?: unknown) => Object.assign(new ObjectFetchError({ upstream: source.upstream, objects: wanted.length, reason }), cause === undefined ? {} : { cause });
  let c;
  try {
    c = await connect(source, opts);
  } catch (err) {
    throw fail((err as Error).message, err);
  }
  const conn = c;
  let bytes = 0;
  try {
    await timed(conn, (async () => {
      if (!(await conn.client.capabilities())) throw fail('it does not speak git protocol v2');
      await ensurePartialStore(gitdir, source);
      for (let i = 0; i < wanted.length; i += OBJECTS_PER_BATCH) {
        const batch = wanted.slice(i, i + OBJECTS_PER_BATCH);
        const w = await PackWriter.open(gitdir);
        try {
          bytes += await conn.client.fetch({ wants: batch }, w.write);
          const got = new Set((await w.finish('')).oids);
          const lacking = batch.filter((o) => !got.has(o));
          if (lacking.length > 0) throw fail(`the answer lacks ${lacking.length} of them (e.g. ${lacking[0]})`);
        } catch (err) {
          await w.abort();
          throw err;
        }
      }
    })());
    return { bytes };
  } catch (err) {
    throw err instanceof ObjectFetchError ? err : fail((err as Error).message, err);
  } finally {
    await conn.close();
  }
}
