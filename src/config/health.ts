/**
 * A service's `hooks`, `health` and `auto_rollback` keys (ours; docs/health-and-hooks.md): their spec
 * types, defaults and checks, for `config.ts`. Pure.
 */
import type { At } from './error.js';
import { fields, optDuration, optString, optStrings, optTable } from './fields.js';
import { checkLink, describeType, type Fields } from './validate.js';

/** A service's `hooks` table. Paths are repository paths (relative, inside the repo). */
export interface HooksSpec {
  readonly pre: readonly string[];
  readonly post: readonly string[];
  /** Per hook, seconds (default 60). */
  readonly timeoutSeconds: number;
}

/** A service's `health` table. */
export interface HealthSpec {
  /** Program and arguments run as the service's user, no shell; absent = no command check. */
  readonly exec?: readonly string[];
  /** URL that must answer 2xx; absent = no HTTP check. */
  readonly http?: string;
  /** Per attempt, seconds (default 30). */
  readonly timeoutSeconds: number;
  /** Attempts per check before it fails (default 3). */
  readonly retries: number;
  /** The unit must stay active (not failed, not restarting) this long after the action, seconds (default 5). */
  readonly graceSeconds: number;
}

/** Values of a service's `auto_rollback` key. */
export const AUTO_ROLLBACK_MODES = ['freeze', 'retry-next-commit'] as const;
/** One of {@link AUTO_ROLLBACK_MODES}. */
export type AutoRollbackMode = (typeof AUTO_ROLLBACK_MODES)[number];

const HOOK_KEYS = ['pre', 'post', 'timeout'] as const;
const HEALTH_KEYS = ['exec', 'http', 'timeout', 'retries', 'grace'] as const;

/** The service's `auto_rollback` key: one of {@link AUTO_ROLLBACK_MODES}, `freeze` when absent. */
export function mergeAutoRollback(s: Fields, at: At): AutoRollbackMode {
  const autoRollback = optString(s, 'auto_rollback', at) ?? 'freeze';
  if (!(AUTO_ROLLBACK_MODES as readonly string[]).includes(autoRollback)) {
    at.fail('auto_rollback', `"${autoRollback}" is not an auto_rollback mode`, 'use auto_rollback = "freeze" (stay on the good commit until an operator unfreezes, the default) or "retry-next-commit"');
  }
  return autoRollback as AutoRollbackMode;
}

/** The service's raw `hooks` table (for {@link mergeHooks}), or undefined when absent. */
export function hooksTable(s: Fields, at: At): Record<string, unknown> | undefined {
  return optTable(s, 'hooks', at, 'hooks = { pre = ["ci/check.sh"], post = ["ci/notify.sh"], timeout = "60s" }');
}

/** The service's raw `health` table (for {@link mergeHealth}), or undefined when absent. */
export function healthTable(s: Fields, at: At): Record<string, unknown> | undefined {
  return optTable(s, 'health', at, 'health = { http = "http://127.0.0.1:3000/health", timeout = "30s", retries = 3 }');
}

/** `hooks` (ours): repository paths checked like `link`; timeout a Go duration (default 60s). */
export function mergeHooks(raw: Record<string, unknown>, at: At): HooksSpec {
  const h = fields(raw, HOOK_KEYS, at);
  const paths = (name: 'pre' | 'post') => (optStrings(h, name, at) ?? []).map((p, i) => at.check(`${name}[${i}]`, checkLink(p)));
  return { pre: paths('pre'), post: paths('post'), timeoutSeconds: optDuration(h, 'timeout', at, 60) };
}

/** `health` (ours): exec (array, or a string split on blanks; no shell), http(s) URL, timeout 30s, retries 3, grace 5s. */
export function mergeHealth(raw: Record<string, unknown>, at: At): HealthSpec {
  const h = fields(raw, HEALTH_KEYS, at);
  const execRaw = h.get('exec')?.value;
  let exec: string[] | undefined;
  if (typeof execRaw === 'string') exec = execRaw.trim().split(/\s+/).filter((x) => x !== '');
  else if (execRaw !== undefined) exec = optStrings(h, 'exec', at);
  if (exec !== undefined && (exec.length === 0 || !exec[0]!.startsWith('/'))) {
    at.fail('exec', 'must name a program by absolute path', 'write exec = ["/usr/bin/curl", "-fsS", "http://127.0.0.1:3000/"] (no shell is used)');
  }
  const http = optString(h, 'http', at);
  if (http !== undefined && !/^https?:\/\/[^\s]+$/.test(http)) at.fail('http', `"${http}" is not an http(s) URL`, 'write http = "http://127.0.0.1:3000/health"');
  const retriesRaw = h.get('retries')?.value ?? 3;
  if (typeof retriesRaw !== 'number' || !Number.isInteger(retriesRaw) || retriesRaw < 1 || retriesRaw > 100) {
    // TOML integers beyond 2^53 arrive as BigInt, which JSON.stringify cannot write
    const got = typeof retriesRaw === 'string' ? JSON.stringify(retriesRaw) : ['number', 'bigint', 'boolean'].includes(typeof retriesRaw) ? String(retriesRaw) : describeType(retriesRaw);
    at.fail('retries', `expected a whole number from 1 to 100, got ${got}`, 'write retries = 3');
  }
  return {
    ...(exec ? { exec } : {}),
    ...(http ? { http } : {}),
    timeoutSeconds: optDuration(h, 'timeout', at, 30),
    retries: retriesRaw as number,
    graceSeconds: optDuration(h, 'grace', at, 5),
  };
}
