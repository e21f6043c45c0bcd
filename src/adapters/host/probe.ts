/** ProbePort with Node's fetch (health-check URLs); redirects are not followed. */
import type { ProbePort } from '../../ports/host.js';

/** HTTP GET with a timeout. */
export class FetchProbe implements ProbePort {
  async get(url: string, timeoutSeconds: number): Promise<number> {
    const res = await fetch(url, { redirect: 'manual', signal: AbortSignal.timeout(timeoutSeconds * 1000) });
    await res.arrayBuffer().catch(() => undefined);
    return res.status;
  }
}
