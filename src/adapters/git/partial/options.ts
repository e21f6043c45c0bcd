/** Options shared by the partial fetches (`fetch-filtered.ts`, `fetch-objects.ts`). */

/** Options of `fetchFiltered` and `fetchObjects`. */
export interface PartialFetchOptions {
  /** Inactivity timeout per request, ms (`../transport/http.ts`); 0 = none. */
  readonly idleTimeoutMs: number;
  /** Aborts the fetch at once (the daemon stops, or an overall deadline). */
  readonly signal?: AbortSignal;
  /**
   * Told what is worth a log line: `upstream cannot filter` (data `{ upstream, reason }`, the upstream
   * masked), each time `fetchFiltered` returns undefined (the caller falls back to a full fetch and
   * logs it once).
   */
  readonly onNotice?: (msg: string, data: object) => void;
  /**
   * `fetchFiltered` only: the branch's tip (40 hex) as the upstream advertised it a moment ago (the
   * protocol-v1 `GET info/refs` of `../fetch.ts`), so `ls-refs` is not asked again. A tip that moved
   * meanwhile is fetched as given; the next pass sees the newer one.
   */
  readonly knownTip?: string;
}
