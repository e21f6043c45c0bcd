/**
 * The keys of admission (ours; docs/trust-and-rollout.md) besides `verify`: `anti_rollback`,
 * `rollout` and `window`, for `config.ts`: read in `[global]` and in services (a service's own value
 * replaces `[global]`'s whole), checked, and the gate's Prometheus URL validated. Pure.
 */
import { At } from './error.js';
import { fields, optBool, optDuration, optString, optTable } from './fields.js';
import type { GateSpec, RolloutSpec } from './spec.js';
import { describeType, Problem, type Fields } from './validate.js';
import { parseWindow } from './window.js';

const ROLLOUT_KEYS = ['bake', 'gate'] as const;
const GATE_KEYS = ['prometheus', 'query', 'for'] as const;
const ROLLOUT_EXAMPLE = 'rollout = { bake = "15m", gate = { prometheus = "http://prometheus:9090", query = \'gitopper_service_failed_commit_info{service="$service",commit="$commit"}\', for = "5m" } }';

/** The `anti_rollback` key of `f`, or undefined when absent. @throws ConfigError at `at` */
export function readAntiRollback(f: Fields, at: At): boolean | undefined {
  return optBool(f, 'anti_rollback', at);
}

/** The `rollout` table of `f` (a service or `[global]`), or undefined when absent. @throws ConfigError at `at` */
export function readRollout(f: Fields, at: At): RolloutSpec | undefined {
  const raw = optTable(f, 'rollout', at, ROLLOUT_EXAMPLE);
  if (raw === undefined) return undefined;
  const rAt = new At(at.file, `${at.entry}.rollout`);
  const r = fields(raw, ROLLOUT_KEYS, rAt);
  const bakeSeconds = r.has('bake') ? durationOrZero(r, 'bake', rAt) : 0;
  const rawGate = optTable(r, 'gate', rAt, ROLLOUT_EXAMPLE);
  if (!r.has('bake') && rawGate === undefined) rAt.fail(undefined, 'sets neither bake nor gate', `write ${ROLLOUT_EXAMPLE}, or remove the key`);
  return { bakeSeconds, ...(rawGate === undefined ? {} : { gate: readGate(rawGate, new At(at.file, `${rAt.entry}.gate`)) }) };
}

/**
 * The `window` key of `f`: one window or a list of them, each checked by `parseWindow`; undefined
 * when absent. @throws ConfigError at `at`
 */
export function readWindows(f: Fields, at: At): readonly string[] | undefined {
  const v = f.get('window')?.value;
  if (v === undefined) return undefined;
  const list = typeof v === 'string' ? [v] : Array.isArray(v) && v.every((x) => typeof x === 'string') ? (v as string[]) : undefined;
  if (list === undefined || list.length === 0) {
    return at.fail('window', list ? 'is an empty list' : `expected a string or an array of strings, got ${describeType(v)}`, 'write window = "Mon-Fri 09:00-17:00 Europe/Amsterdam" or a list of such strings');
  }
  for (const w of list) at.check('window', parseWindow(w));
  return list.map((w) => w.trim());
}

function readGate(raw: Record<string, unknown>, at: At): GateSpec {
  const g = fields(raw, GATE_KEYS, at);
  const prometheus = optString(g, 'prometheus', at);
  const query = optString(g, 'query', at);
  if (prometheus === undefined || prometheus === '') at.fail('prometheus', 'is missing', 'set prometheus = "http://prometheus:9090" (the server the fleet\'s agents are scraped by)');
  at.check('prometheus', checkPrometheusUrl(prometheus!));
  if (query === undefined || query.trim() === '') at.fail('query', 'is missing', 'set query to a PromQL expression that returns series while the new commit must not spread, e.g. gitopper_service_failed_commit_info{service="$service",commit="$commit"}');
  return { prometheus: prometheus!.replace(/\/+$/, ''), query: query!, forSeconds: g.has('for') ? durationOrZero(g, 'for', at) : 0 };
}

/** A Go duration that may be zero ("0s"). */
function durationOrZero(f: Fields, name: string, at: At): number {
  const v = optString(f, name, at);
  if (v !== undefined && /^0+[smh]?$/.test(v)) return 0;
  return optDuration(f, name, at, 0);
}

/** An http(s) URL without credentials (they would show in logs and state). */
function checkPrometheusUrl(value: string): string | Problem {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return new Problem(`"${value}" is not a URL`, 'write prometheus = "http://prometheus:9090"');
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return new Problem(`"${value}" is not an http or https URL`, 'write prometheus = "http://prometheus:9090"');
  if (url.username !== '' || url.password !== '') return new Problem('holds credentials, which would show in logs and state', 'put Prometheus behind a reverse proxy on loopback, or use a URL without user:password@');
  return value;
}
