/**
 * What the agent exports, read from a real registry (the metrics module the daemon uses), and the
 * series names a PromQL expression reads. Shared by the alert-rule and dashboard tests.
 */
import { Metrics } from '../../src/telemetry/metrics.js';

/**
 * Every series name a scrape of the agent can show: each registered metric's name, and for
 * histograms and summaries their `_bucket`/`_sum`/`_count` series. The metrics that appear only
 * after an event (config load, state-file write) are registered first, so the set is complete.
 */
export async function exportedSeries(): Promise<Set<string>> {
  const m = new Metrics({ version: '0.0.0-test', processMetrics: true });
  m.configLoaded(true, new Date());
  m.stateWritten(true);
  const names = new Set<string>();
  for (const metric of await m.registry.getMetricsAsJSON()) {
    names.add(metric.name);
    const type = String(metric.type);
    if (type === 'histogram') for (const s of ['_bucket', '_sum', '_count']) names.add(metric.name + s);
    if (type === 'summary') for (const s of ['_sum', '_count']) names.add(metric.name + s);
  }
  return names;
}

/** PromQL words that are not series names (operators, modifiers, literals). */
const KEYWORDS = new Set(['and', 'or', 'unless', 'bool', 'offset', 'by', 'without', 'on', 'ignoring', 'group_left', 'group_right', 'inf', 'nan', 'atan2']);

/**
 * The series names `expr` reads: identifiers that are not functions or aggregations (followed by
 * `(`), not keywords, not label names (inside `{…}`, or in `by/without/on/ignoring/group_*(…)`),
 * and not inside strings or `[…]` ranges. `{__name__="x"}` selectors are not understood (they
 * throw). Grafana variables (`$__rate_interval`, `$instance`) are dropped first.
 */
export function seriesOf(expr: string): string[] {
  if (expr.includes('__name__')) throw new Error(`__name__ selectors are not understood: ${expr}`);
  const s = expr
    .replace(/"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`/g, '""') // string literals
    .replace(/\$\{[^}]*\}|\$\w+/g, ' ') // Grafana variables
    .replace(/\{[^}]*\}/g, ' ') // label matchers
    .replace(/\[[^\]]*\]/g, ' ') // ranges and subqueries
    .replace(/\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, ' '); // label lists
  const out = new Set<string>();
  for (const m of s.matchAll(/[a-zA-Z_:][a-zA-Z0-9_:]*/g)) {
    const word = m[0];
    const before = s[m.index - 1];
    if (before !== undefined && /[0-9.]/.test(before)) continue; // 1e3, 5m, 0.95
    if (KEYWORDS.has(word.toLowerCase())) continue;
    if (/^\s*\(/.test(s.slice(m.index + word.length))) continue; // a function or aggregation
    out.add(word);
  }
  return [...out].sort();
}
