/**
 * isomorphic-git's pack reads, hooked from outside through the `cache` object it is handed.
 *
 * isomorphic-git 1.44 keeps, in `cache[PackfileCache]` (a module-private Symbol), a Map from `.idx`
 * path to the promise of a `GitPackIndex`. `readObjectPacked` then does `p.pack = fs.read(packFile)`
 * (the whole `.pack`, copied) and `p._checksumVerification = verifyPackfile(pack, …)` (a SHA-1 of all
 * of it), once per cache, i.e. once per pass. Here the cache is a Proxy that swaps that Map, when
 * isomorphic-git stores it, for a {@link HookedMap}: when `readPackIndex` stores a new index promise,
 * a reaction is registered on it at once, so it runs before any code that awaits the index
 * (`readPackIndex` returns the very promise it stored; promise reactions run in registration order).
 * That reaction sets `p.pack` to a {@link PackReader} (one object's bytes per read, by offset) and
 * `p._checksumVerification` to `verifyPackOnce` (once per pack file per process), started lazily.
 *
 * One index per pack file, however it is reached: every service's checkout reaches the store's packs
 * through its own `.git/objects` symlink, and isomorphic-git keys the Map by path, so 100 services
 * sharing a pass parsed and kept 100 copies of each index (a Map of hex object ids per copy: at 600
 * services, mid-setup, 6,000 indexes in a 126 MiB live heap; 37 MiB with one per pack file). The {@link HookedMap} keys by the
 * pack directory's real path instead (resolved once per directory per cache; a directory that cannot
 * be resolved keeps its own path), so every path of one pack file finds the same index and reader.
 *
 * Failing safe: the hook attaches only when everything is as described (the Symbol's description,
 * an empty Map, an index object with `offsets`, `packfileSha`, no `pack` yet, and a `readSlice` whose
 * only use of the pack is `pack.slice(start)`); otherwise isomorphic-git does what it does unhooked.
 */
import { realpathSync } from 'node:fs';
import path from 'node:path';
import { PackReader } from './pack-reader.js';
import { verifyPackOnce } from './verify.js';

/** A hooked cache for isomorphic-git, and the means to release what it opened. */
export interface PackHook {
  /** Hand this to isomorphic-git as `cache` (any key may be stored in it, as in a plain object). */
  readonly cache: object;
  /** Close the file descriptors of the packs read through `cache` (idempotent; later reads still work, opening per read). */
  close(): void;
  /** Packs this cache has attached a reader to (0 when isomorphic-git's internals did not match). */
  readonly packsHooked: () => number;
}

/**
 * A new cache object for isomorphic-git whose pack reads go through {@link PackReader}s; see the
 * module doc for how and when it falls back to isomorphic-git's own behaviour. Never throws.
 */
export function hookedCache(): PackHook {
  const readers: PackReader[] = [];
  let closed = false;
  const attach = (filename: string, idx: unknown) => {
    if (closed || !filename.endsWith('.idx') || !isHookable(idx)) return;
    const packFile = `${filename.slice(0, -'idx'.length)}pack`;
    const reader = new PackReader(packFile, filename);
    readers.push(reader);
    const sha = idx.packfileSha;
    idx.pack = Promise.resolve(reader);
    idx._checksumVerification = lazy(() => verifyPackOnce(packFile, sha));
  };
  const cache = new Proxy({} as Record<PropertyKey, unknown>, {
    set(target, prop, value) {
      const swap = typeof prop === 'symbol' && prop.description === 'PackfileCache' && value instanceof Map && value.size === 0 && value.constructor === Map;
      target[prop] = swap ? new HookedMap(attach) : value;
      return true;
    },
  });
  return {
    cache,
    close() {
      closed = true;
      for (const r of readers) r.close();
    },
    packsHooked: () => readers.length,
  };
}

/**
 * The Map isomorphic-git stores its index promises in (keyed by `.idx` path), noticing each one as it
 * is stored, and keyed by the pack directory's real path (see the module doc): `get`, `has`, `set`
 * and `delete` with any path of one pack file reach one entry.
 */
class HookedMap extends Map<unknown, unknown> {
  /** Directory as isomorphic-git names it → its real path (or itself when that cannot be resolved). */
  private readonly dirs = new Map<string, string>();

  constructor(private readonly onIndex: (filename: string, idx: unknown) => void) {
    super();
  }

  override get(key: unknown): unknown {
    return super.get(this.canonical(key));
  }

  override has(key: unknown): boolean {
    return super.has(this.canonical(key));
  }

  override delete(key: unknown): boolean {
    return super.delete(this.canonical(key));
  }

  /** Map's `set`; a stored promise gets the attaching reaction first (its failure is isomorphic-git's to report). */
  override set(key: unknown, value: unknown): this {
    const k = this.canonical(key);
    if (typeof k === 'string' && value instanceof Promise && !super.has(k)) {
      value.then(
        (idx) => {
          try {
            this.onIndex(k, idx);
          } catch {
            // leave the index as isomorphic-git made it: it reads the pack itself
          }
        },
        () => {},
      );
    }
    return super.set(k, value);
  }

  /** `key` with its directory replaced by the directory's real path (other keys unchanged). */
  private canonical(key: unknown): unknown {
    if (typeof key !== 'string') return key;
    const dir = path.dirname(key);
    let real = this.dirs.get(dir);
    if (real === undefined) {
      try {
        real = realpathSync(dir);
      } catch {
        real = dir; // missing or unreadable: isomorphic-git's own read reports it
      }
      this.dirs.set(dir, real);
    }
    return real === dir ? key : path.join(real, path.basename(key));
  }
}

/** What the hook relies on of a `GitPackIndex`. */
type HookableIndex = { pack: unknown; _checksumVerification: unknown; packfileSha: string };

/** True when `idx` is a `GitPackIndex` as isomorphic-git 1.44 makes it, not yet reading its pack. */
function isHookable(idx: unknown): idx is HookableIndex {
  if (typeof idx !== 'object' || idx === null) return false;
  const p = idx as Record<string, unknown>;
  return p.pack == null && p._checksumVerification === undefined && p.offsets instanceof Map
    && typeof p.packfileSha === 'string' && /^[0-9a-f]{40}$/.test(p.packfileSha) && readsOneSlice(p.readSlice);
}

const checked = new WeakMap<object, boolean>();

/** True when `fn`'s source uses the pack only as `pack.slice(start)` (isomorphic-git 1.44's `readSlice`). */
function readsOneSlice(fn: unknown): boolean {
  if (typeof fn !== 'function') return false;
  let ok = checked.get(fn);
  if (ok === undefined) {
    const uses = [...Function.prototype.toString.call(fn).matchAll(/\bpack\s*(\.\s*\w+|\[)/g)].map((m) => m[1]!.replace(/\s/g, ''));
    ok = uses.length > 0 && uses.every((u) => u === '.slice') && /\bpack\.slice\(start\)/.test(Function.prototype.toString.call(fn));
    checked.set(fn, ok);
  }
  return ok;
}

/** A promise-like that calls `fn` at the first `then` (an unawaited check never runs, never rejects unhandled). */
function lazy(fn: () => Promise<void>): PromiseLike<void> & { catch: Promise<void>['catch']; finally: Promise<void>['finally'] } {
  let p: Promise<void> | undefined;
  const run = () => (p ??= fn());
  return {
    then: (ok, err) => run().then(ok, err),
    catch: (err) => run().catch(err),
    finally: (f) => run().finally(f),
  };
}
