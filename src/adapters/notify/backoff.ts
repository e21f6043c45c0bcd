/**
 * The wait before a notification is tried again: exponential backoff with jitter, p-retry's formula with
 * `randomize` (`round((1 + random) × base × 2^(n-1))`, capped), computed here so a test can give it a
 * fake random source and clock. Pure.
 */

/** Wait before the first retry, milliseconds. */
export const BACKOFF_BASE_MS = 1000;
/** Longest wait between two attempts, milliseconds. */
export const BACKOFF_CAP_MS = 60_000;

/**
 * Milliseconds to wait after failed attempt number `attempt` (1 = the first), with `random` uniform in
 * [0, 1): in [base × 2^(attempt-1), 2 × base × 2^(attempt-1)), at most `capMs`.
 */
export function backoffMs(attempt: number, random: () => number, baseMs = BACKOFF_BASE_MS, capMs = BACKOFF_CAP_MS): number {
  const exp = baseMs * 2 ** Math.max(0, attempt - 1);
  return Math.min(capMs, Math.round((1 + random()) * exp));
}
