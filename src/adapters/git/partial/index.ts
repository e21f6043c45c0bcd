/**
 * Partial fetch for the object stores (git's partial clone with `blob:none`, written around
 * isomorphic-git, which has none): {@link fetchFiltered} brings a branch's commits and trees,
 * {@link fetchObjects} the blobs a checkout needs, {@link isPartialStore} tells a store recorded as
 * a partial clone. docs/daemon.md "Object stores" says what is fetched when.
 */
export { fetchFiltered } from './fetch-filtered.js';
export { fetchObjects, ObjectFetchError, OBJECTS_PER_BATCH } from './fetch-objects.js';
export { isPartialStore } from './store-config.js';
export type { PartialFetchOptions } from './options.js';
