/**
 * Git, as the core needs it (ports: small interfaces the core talks through; adapters in
 * `src/adapters/git/` implement them, tests implement them with fakes). Nothing here does I/O.
 * The adapter's object cache stays inside the adapter: no method takes one.
 */
import type { Owner } from './host.js';

/** Where a service's upstream lives: one fetch per distinct value per pass. */
export interface SourceRef {
  /** http(s) URL, SSH (`ssh://user@host[:port]/path`, `user@host:path`) or local (`/path`, `file:///path`) upstream. */
  readonly upstream: string;
  readonly branch: string;
  /** Absolute path of a file holding a token for https, read at every fetch; undefined = anonymous. */
  readonly tokenFile: string | undefined;
  /** SSH upstreams: absolute path of the private (deploy) key; undefined = ssh's default identities. */
  readonly sshKey?: string | undefined;
  /** SSH upstreams: absolute path of the only known_hosts file trusted; undefined = the system's default files. */
  readonly knownHosts?: string | undefined;
}

/** One service's sparse checkout: `dir` = `<mount>/<service>`, holding only `links`. */
export interface CheckoutRef extends SourceRef {
  /** Absolute directory of the checkout (gitopper: `<mount>/<service>`). */
  readonly dir: string;
  /** Repository paths to materialise (the service's `dirs[].link`). */
  readonly links: readonly string[];
  /**
   * Absolute path of the age identity file (`age_identity`): `X.age` files under the links are
   * decrypted into `X` at checkout (docs/trust-and-rollout.md); undefined = none are.
   */
  readonly ageIdentity?: string | undefined;
}

/**
 * Git, as the core needs it. Every method throws on failure (the tracker turns that into DIFF).
 * Implementations serialise work per repository themselves.
 */
export interface GitPort {
  /** Fetch `branch` of `upstream` into the shared object store; returns the tip commit id (40 hex). */
  fetch(source: SourceRef): Promise<string>;
  /**
   * Make sure the checkout directory is a repository wired to the shared object store of its
   * upstream; creates it when missing. Throws when `dir` holds something that is not ours.
   */
  prepare(checkout: CheckoutRef, owner: Owner | undefined): Promise<void>;
  /**
   * True when the object store of `source.upstream` has `commit` (a commit object, full id), without
   * fetching: a frozen service's pinned commit is deployed from the store before the first fetch,
   * or after it when the store lacks it (an emptied or new `--state-dir`).
   * Throws on read errors other than "not there".
   */
  has(source: SourceRef, commit: string): Promise<boolean>;
  /** The deployed commit (the checkout's HEAD), or undefined before the first checkout. */
  deployed(checkout: CheckoutRef): Promise<string | undefined>;
  /**
   * Repository paths under `checkout.links` that differ between commits `from` and `to`, found by
   * comparing tree ids under each link (equal subtrees are never descended).
   */
  changedPaths(checkout: CheckoutRef, from: string, to: string): Promise<string[]>;
  /**
   * Write the links' files at `commit` into the checkout (sparse, forced) and move HEAD there.
   * `deployed` is the checkout's HEAD as the caller read it ({@link deployed}; undefined before the
   * first checkout): the files changed since it are written aside and swapped in.
   */
  checkout(checkout: CheckoutRef, deployed: string | undefined, commit: string, owner: Owner | undefined): Promise<void>;
  /** Move HEAD to `commit` without touching files (a change outside the links). */
  markDeployed(checkout: CheckoutRef, commit: string): Promise<void>;
  /**
   * The full id of the commit whose id starts with `prefix` (4–40 hex) and that is `tip` or one of
   * its ancestors; undefined when no such commit exists or the prefix is ambiguous.
   */
  findInHistory(source: SourceRef, tip: string, prefix: string): Promise<string | undefined>;
  /**
   * True when `ancestor` is `descendant` or one of its ancestors (git merge-base --is-ancestor), both
   * full ids in `source`'s object store: a new tip that is not a descendant of the deployed commit is
   * a force-push to older or unrelated history (anti-rollback). Throws when either cannot be read.
   */
  isAncestor(source: SourceRef, ancestor: string, descendant: string): Promise<boolean>;
  /**
   * The links of `checkout` that commit `commit` lacks (sorted): a rollback target without them
   * would empty the live directories they are mounted on. Throws when the commit cannot be read.
   */
  missingLinks(checkout: CheckoutRef, commit: string): Promise<string[]>;
  /**
   * Drift: repository paths under the links whose files in the checkout differ from `head`, the
   * deployed commit as {@link deployed} returned it (modified, deleted, or added and not ignored by a
   * `.gitignore`), sorted.
   */
  drift(checkout: CheckoutRef, head: string): Promise<string[]>;
  /**
   * The paths among `paths` whose file in the checkout already is `commit`'s version (same content,
   * or absent on both sides), sorted: a local edit that equals what `commit` brings is no clash
   * (a checkout cut short before HEAD moved, or an operator who applied the same change by hand).
   */
  matching(checkout: CheckoutRef, commit: string, paths: readonly string[]): Promise<string[]>;
  /**
   * Put `head`'s version of `paths` back (`head`: the deployed commit as {@link deployed} returned it;
   * a path the commit lacks is removed). Throws for a path outside the links.
   */
  restore(checkout: CheckoutRef, head: string, paths: readonly string[], owner: Owner | undefined): Promise<void>;
}

/** Writes paths of a commit into a scratch directory (for `pre` hooks). */
export interface StagePort {
  /**
   * Replace `dest` with the files under `paths` at `commit` (repository layout kept), owned by
   * `owner`. Paths the commit lacks are skipped. Throws on git or I/O failure.
   */
  stage(checkout: CheckoutRef, commit: string, paths: readonly string[], dest: string, owner: Owner | undefined): Promise<void>;
}

/** One object store under `<state-dir>/upstreams/` (one per upstream). */
export interface StoreEntry {
  /** Directory name, e.g. `gitopper-config-1a2b3c4d.git`. */
  readonly name: string;
  /** When a fetch last used the store (or, for a store never marked, when its directory last changed). */
  readonly lastUsed: Date;
}

/** The object stores, as the store sweep needs them (`store-sweep.ts`). */
export interface StoresPort {
  /** Every store there is, in any order; empty when there is none. Throws on I/O failures other than a missing directory. */
  list(): Promise<StoreEntry[]>;
  /** The store name of `upstream` (as {@link list} names it). */
  nameOf(upstream: string): string;
  /** True when store `name` has commit `commit` (full id). Throws on read errors other than "not there". */
  contains(name: string, commit: string): Promise<boolean>;
  /** Delete store `name` (after any fetch into it finished). Throws on I/O failure. */
  remove(name: string): Promise<void>;
}
