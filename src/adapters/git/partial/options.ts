/** Options shared by the partial fetches (`fetch-filtered.ts`, `fetch-objects.ts`). */

/** Options of `fetchFiltered` and `fetchObjects`. */
export interface PartialFetchOptions {
  /** Inactivity timeout per request, ms (`../transport/http.ts`); 0 = none. */
  readonly idleTimeoutMs: number;
  /** Aborts the fetch at once (the daemon stops, or an overall deadline). */
  readonly signal?: AbortSignal;
  /**
   * Told what is worth a log line: `upstream cannot filter` (with `{ upstream, reason }`, the upstream
   * masked) when {@link PartialFetchOptions} callers must fall back to a full fetch.
   */
  readonly onNotice?: (msg: string, data: object) => void;
}
