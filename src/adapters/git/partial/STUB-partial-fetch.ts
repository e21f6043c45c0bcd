import type { SourceRef } from '../../../ports/git.js';
export interface PartialFetchOptions { readonly idleTimeoutMs: number; readonly signal?: AbortSignal; readonly onNotice?: (msg: string, data: object) => void }
export declare function fetchFiltered(gitdir: string, source: SourceRef, opts: PartialFetchOptions): Promise<string | undefined>;
export declare function fetchObjects(gitdir: string, source: SourceRef, oids: readonly string[], opts: PartialFetchOptions): Promise<{ bytes: number }>;
export declare function isPartialStore(gitdir: string): Promise<boolean>;
