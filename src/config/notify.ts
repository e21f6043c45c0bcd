/**
 * The top-level `[[notify]]` targets (ours; docs/trust-and-rollout.md, "Notifications"; docs/config.md):
 * each a URL that receives a JSON event (signed with HMAC-SHA256 like a GitHub webhook) when a service's
 * state changes, as a plain JSON event, a Slack incoming-webhook body or a Matrix hookshot body. Read,
 * checked and (stage two) resolved against the config file, for `config.ts`. Pure.
 */
import { At, type ConfigProblems } from './error.js';
import { fields, optDuration, optString } from './fields.js';
import { describeType, isTable, resolveFromConfig, type Fields } from './validate.js';

/**
 * The events a target can receive, as they appear in the event's `event` field and in `events = [...]`:
 * a pass applied a new commit, the service went BROKEN or DIFF (or its reason changed), the health check
 * rolled it back, a commit was refused (signature, anti-rollback) or held (window, bake, gate), an operator
 * froze or unfroze it, and it recovered from BROKEN/DIFF.
 */
export const NOTIFY_EVENTS = ['applied', 'BROKEN', 'DIFF', 'AUTO-ROLLBACK', 'refused', 'held', 'freeze', 'unfreeze', 'recovered'] as const;
/** One of {@link NOTIFY_EVENTS}. */
export type NotifyEventName = (typeof NOTIFY_EVENTS)[number];

/** Body formats: gitopper's signed JSON event, a Slack incoming-webhook body, a Matrix hookshot body. */
export const NOTIFY_FORMATS = ['json', 'slack', 'matrix'] as const;
/** One of {@link NOTIFY_FORMATS}. */
export type NotifyFormat = (typeof NOTIFY_FORMATS)[number];

/** Placeholders of a target's `link` template, replaced by the event's values (URL-encoded). */
export const LINK_PLACEHOLDERS = ['host', 'service', 'commit', 'event'] as const;

/** One `[[notify]]` entry after defaults. */
export interface NotifySpec {
  /** Zero-based position in the file's `notify` array, for messages. */
  readonly index: number;
  /** Where events are POSTed: an http(s) URL (credentials in it are sent as HTTP Basic auth, RFC 7617). */
  readonly url: string;
  /**
   * The target's name in metrics (label `target`) and logs: `name` when set, else the URL's origin
   * (`https://hooks.example:8443`): never its credentials, path or query, which may hold a token
   * (Slack and hookshot URLs carry theirs in the path). Unique among the targets.
   */
  readonly label: string;
  /** File holding the HMAC-SHA256 key (read at each send; trailing newline dropped); absolute after parsing. Required for `json`. */
  readonly secretFile?: string;
  readonly format: NotifyFormat;
  /** The events sent; absent = all of {@link NOTIFY_EVENTS}. */
  readonly events?: readonly NotifyEventName[];
  /** The services whose events are sent; absent = all. */
  readonly services?: readonly string[];
  /** Per request, seconds (default 10). */
  readonly timeoutSeconds: number;
  /** Attempts after the first failed one (default 5; exponential backoff with jitter between them). */
  readonly retries: number;
  /** Events waiting at most (default 1000); when full the oldest is dropped (and counted). */
  readonly queue: number;
  /** Template of the event's `link`: `$host`, `$service`, `$commit`, `$event` are replaced (URL-encoded); absent = no link. */
  readonly link?: string;
}

const NOTIFY_KEYS = ['name', 'url', 'secret_file', 'format', 'events', 'services', 'timeout', 'retries', 'queue', 'link'] as const;
const EXAMPLE = '[[notify]] with url = "https://hooks.example/gitopper" and secret_file = "notify.secret"';
/** Default seconds per request. */
const DEFAULT_TIMEOUT = 10;
/** Default retries after a failed attempt. */
const DEFAULT_RETRIES = 5;
const MAX_RETRIES = 20;
/** Default queue bound per target. */
const DEFAULT_QUEUE = 1000;
const MAX_QUEUE = 100_000;

/** Label of `[[notify]]` entry `i` for messages: `notify[1] "ops-slack"`, or `notify[1]`. */
function notifyEntry(i: number, name: unknown): string {
  return typeof name === 'string' && name !== '' ? `notify[${i}] ${JSON.stringify(name)}` : `notify[${i}]`;
}

/**
 * Stage one: the document's top-level `notify` value (`raw`, undefined when absent) → the targets, paths as
 * written. Every problem goes to `problems` (read at `top` for the value itself, at `notify[i]` for an
 * entry); an entry with a problem is left out. Checks: an array of tables; known keys; `url` set and
 * http(s); `format` one of {@link NOTIFY_FORMATS}; `secret_file` set for `json`; `events` from
 * {@link NOTIFY_EVENTS} (case-insensitive), `services` strings, neither empty; `timeout` a positive Go
 * duration; `retries` 0 to 20; `queue` 1 to 100000; `link` an http(s) URL; labels unique (two targets on one origin need `name`).
 */
export function readNotify(raw: unknown, top: At, problems: ConfigProblems): NotifySpec[] {
  if (raw === undefined) return [];
  const list = problems.attempt(() => {
    if (isTable(raw)) top.fail('notify', 'expected an array of tables, got a single table', 'write [[notify]] (double brackets) above each target');
    if (!Array.isArray(raw) || !raw.every(isTable)) top.fail('notify', `expected an array of tables, got ${describeType(raw)}`, `write ${EXAMPLE}`);
    return raw;
  }, []);
  const out: NotifySpec[] = [];
  list.forEach((entry, i) => {
    const at = new At(top.file, notifyEntry(i, entry.name));
    const spec = problems.attempt(() => readTarget(fields(entry, NOTIFY_KEYS, at), i, at), undefined);
    if (spec === undefined) return;
    const clash = out.find((o) => o.label === spec.label);
    if (clash) {
      problems.attempt(() => at.fail(spec.label.includes('://') ? 'url' : 'name', `names the same target as notify[${clash.index}] (${spec.label})`, 'give each target its own name = "..." (the label of its metrics)'), undefined);
      return;
    }
    out.push(spec);
  });
  return out;
}

/** Stage two: `secret_file` resolved against the config `file`'s directory. */
export function resolveNotify(spec: NotifySpec, file: string): NotifySpec {
  return spec.secretFile === undefined ? spec : { ...spec, secretFile: resolveFromConfig(file, spec.secretFile) };
}

function readTarget(f: Fields, index: number, at: At): NotifySpec {
  const url = optString(f, 'url', at);
  if (url === undefined || url === '') at.fail('url', 'is missing or empty', 'set url = "https://hooks.example/gitopper" (the receiver)');
  const parsed = httpUrl(url);
  if (parsed === undefined) at.fail('url', 'is not an http(s) URL', 'write url = "https://hooks.example/gitopper"');
  const name = optString(f, 'name', at);
  if (name !== undefined && !/^[\w.@-]{1,64}$/.test(name)) at.fail('name', `"${name}" is not a usable target name`, 'use 1 to 64 letters, digits and . _ - @, e.g. name = "ops-slack"');
  const format = optString(f, 'format', at) ?? 'json';
  if (!(NOTIFY_FORMATS as readonly string[]).includes(format)) {
    at.fail('format', `"${format}" is not a notification format`, 'use format = "json" (signed event, the default), "slack" (incoming webhook) or "matrix" (hookshot generic webhook)');
  }
  const secretFile = optString(f, 'secret_file', at) || undefined;
  if (format === 'json' && secretFile === undefined) {
    at.fail('secret_file', 'is required for format = "json" (the receiver verifies the X-Hub-Signature-256 header with it)', 'set secret_file = "notify.secret" (a file holding a random secret shared with the receiver)');
  }
  const events = optList(f, 'events', at, 'events = ["BROKEN", "AUTO-ROLLBACK"]')?.map((e) => {
    const known = NOTIFY_EVENTS.find((n) => n.toLowerCase() === e.toLowerCase());
    return known ?? at.fail('events', `"${e}" is not an event`, `use some of ${NOTIFY_EVENTS.map((n) => JSON.stringify(n)).join(', ')}`);
  });
  const services = optList(f, 'services', at, 'services = ["grafana-server"]');
  const link = optString(f, 'link', at);
  if (link !== undefined && !/^https?:\/\/\S+$/i.test(link)) at.fail('link', 'is not an http(s) URL template', 'write link = "https://grafana.example/d/gitopper?var-host=$host&var-service=$service"');
  return {
    index,
    url: url!,
    label: name ?? parsed!.origin,
    ...(secretFile === undefined ? {} : { secretFile }),
    format: format as NotifyFormat,
    ...(events === undefined ? {} : { events: [...new Set(events)] }),
    ...(services === undefined ? {} : { services }),
    timeoutSeconds: optDuration(f, 'timeout', at, DEFAULT_TIMEOUT),
    retries: optInt(f, 'retries', at, DEFAULT_RETRIES, 0, MAX_RETRIES),
    queue: optInt(f, 'queue', at, DEFAULT_QUEUE, 1, MAX_QUEUE),
    ...(link === undefined ? {} : { link }),
  };
}

/** `value` as an http(s) URL with a host, or undefined. */
function httpUrl(value: string | undefined): URL | undefined {
  if (value === undefined) return undefined;
  try {
    const u = new URL(value);
    return (u.protocol === 'http:' || u.protocol === 'https:') && u.hostname !== '' ? u : undefined;
  } catch {
    return undefined;
  }
}

/** Field `name`: a non-empty array of non-empty strings, or undefined when absent. */
function optList(f: Fields, name: string, at: At, example: string): string[] | undefined {
  const v = f.get(name)?.value;
  if (v === undefined) return undefined;
  if (!Array.isArray(v) || !v.every((x) => typeof x === 'string' && x !== '')) at.fail(name, `expected an array of names, got ${describeType(v)}`, `write ${example}`);
  if (v.length === 0) at.fail(name, 'is empty, so nothing would be sent', `remove the key to send everything, or list what to send: ${example}`);
  return v as string[];
}

/** Field `name`: a whole number from `min` to `max`; `fallback` when absent. */
function optInt(f: Fields, name: string, at: At, fallback: number, min: number, max: number): number {
  const v = f.get(name)?.value ?? fallback;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) {
    // TOML integers beyond 2^53 arrive as BigInt, which JSON.stringify cannot write
    const got = ['number', 'bigint', 'boolean'].includes(typeof v) ? String(v) : typeof v === 'string' ? JSON.stringify(v) : describeType(v);
    at.fail(name, `expected a whole number from ${min} to ${max}, got ${got}`, `write ${name} = ${fallback}`);
  }
  return v as number;
}
