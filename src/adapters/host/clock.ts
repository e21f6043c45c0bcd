/** The real clock (Clock port) over `node:timers/promises`. */
import { setTimeout as sleep } from 'node:timers/promises';
import type { Clock } from '../../ports/host.js';

/** Wall-clock time; `sleep` rejects with an AbortError when the signal aborts. */
export const systemClock: Clock = {
  now: () => new Date(),
  sleep: async (ms: number, signal: AbortSignal) => {
    await sleep(ms, undefined, { signal });
  },
};
