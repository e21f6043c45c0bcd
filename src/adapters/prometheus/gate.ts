/**
 * The rollout gate's Prometheus client (GatePort): one instant query over Prometheus's HTTP API
 * (`GET <base>/api/v1/query?query=…`, prometheus.io/docs/prometheus/latest/querying/api/), with a
 * timeout. Only an instant vector is a valid answer; anything else throws, and the gate holds
 * (fails closed).
 */
import type { GateResult, GatePort } from '../../ports/trust.js';

/** Per-query timeout, milliseconds. */
export const GATE_TIMEOUT_MS = 10_000;

/** The shape of a successful instant query answer (the fields read here). */
interface QueryAnswer {
  readonly status?: string;
  readonly error?: string;
  readonly data?: { readonly resultType?: string; readonly result?: readonly { readonly metric?: Record<string, string>; readonly value?: readonly [number, string] }[] };
}

/** GatePort over `fetch`. */
export class PrometheusGate implements GatePort {
  /** @param timeoutMs per query (default {@link GATE_TIMEOUT_MS}) */
  constructor(private readonly timeoutMs = GATE_TIMEOUT_MS) {}

  /**
   * See {@link GatePort.query}. Throws with Prometheus's own error text for a bad query (HTTP 400/422),
   * with the status for other non-2xx answers, and for a result type other than `vector`.
   */
  async query(prometheus: string, query: string): Promise<GateResult> {
    const url = `${prometheus}/api/v1/query?${new URLSearchParams({ query })}`;
    const res = await fetch(url, { signal: AbortSignal.timeout(this.timeoutMs), headers: { accept: 'application/json' } });
    const text = await res.text();
    let body: QueryAnswer;
    try {
      body = JSON.parse(text) as QueryAnswer;
    } catch {
      throw new Error(`Prometheus answered HTTP ${res.status} with no JSON`);
    }
    if (!res.ok || body.status !== 'success') throw new Error(`Prometheus answered HTTP ${res.status}: ${body.error ?? 'no error text'}`);
    if (body.data?.resultType !== 'vector') throw new Error(`the gate query must return an instant vector, not a ${body.data?.resultType ?? 'missing'} result`);
    const result = body.data.result ?? [];
    return { series: result.length, sample: result.slice(0, 3).map(describe) };
  }
}

/** `{a="b",…} value`, as Prometheus prints a sample. */
function describe(s: { readonly metric?: Record<string, string>; readonly value?: readonly [number, string] }): string {
  const labels = Object.entries(s.metric ?? {}).map(([k, v]) => `${k}=${JSON.stringify(v)}`).join(',');
  return `{${labels}} ${s.value?.[1] ?? ''}`.trim();
}
