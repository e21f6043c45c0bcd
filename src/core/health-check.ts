/**
 * Health checks after an apply (issue "Beyond every peer"): the unit stays active for the grace
 * period (not failed, not restarting in a loop), then the `exec` command exits 0 and/or the `http`
 * URL answers 2xx, each with `retries` attempts of at most `timeout`. Pure logic over the ports.
 */
import type { HealthSpec } from '../config/config.js';
import type { Clock, CommandPort, Owner, ProbePort, UnitPort } from '../ports/host.js';

/** The ports a health check needs. */
export interface HealthDeps {
  readonly units: UnitPort;
  readonly commands: CommandPort;
  readonly probe: ProbePort;
  readonly clock: Clock;
}

/** A failed check: what kind (a metric label) and why. */
export interface HealthFailure {
  readonly kind: 'unit' | 'exec' | 'http';
  readonly reason: string;
}

/** How often the unit is looked at during the grace period, milliseconds. */
const POLL_MS = 250;
/** Pause between attempts, milliseconds. */
const RETRY_PAUSE_MS = 1000;

/**
 * Run the checks of `health` for `unit` (undefined = no unit to watch: `action = ""`). Resolves
 * undefined when healthy, else the first failure.
 * `signal` stops it early (resolves with the state so far).
 */
export async function checkHealth(health: HealthSpec, unit: string | undefined, owner: Owner | undefined, cwd: string, deps: HealthDeps, signal: AbortSignal = new AbortController().signal): Promise<HealthFailure | undefined> {
  const unitFailure = unit === undefined ? undefined : await watchUnit(unit, health.graceSeconds, deps, signal);
  if (unitFailure) return { kind: 'unit', reason: unitFailure };
  if (health.exec && health.exec.length > 0) {
    const argv = health.exec;
    const why = await attempts(health, deps, signal, async () => {
      const r = await deps.commands.run(argv, { cwd, owner, env: {}, timeoutSeconds: health.timeoutSeconds });
      if (r.code === 0 && !r.timedOut) return undefined;
      const how = r.timedOut ? `timed out after ${health.timeoutSeconds}s` : r.code === null ? `killed by ${r.signal}` : `exit ${r.code}`;
      const tail = r.output.trim().split('\n').slice(-1)[0] ?? '';
      return `${argv[0]} ${how}${tail ? `: ${tail}` : ''}`;
    });
    if (why) return { kind: 'exec', reason: `health command ${why}` };
  }
  if (health.http) {
    const url = health.http;
    const why = await attempts(health, deps, signal, async () => {
      const status = await deps.probe.get(url, health.timeoutSeconds);
      return status >= 200 && status < 300 ? undefined : `answered ${status}`;
    });
    if (why) return { kind: 'http', reason: `health URL ${url} ${why}` };
  }
  return undefined;
}

/** Watch the unit for `graceSeconds`: a failure reason, or undefined when it stayed active. */
async function watchUnit(unit: string, graceSeconds: number, deps: HealthDeps, signal: AbortSignal): Promise<string | undefined> {
  const first = await deps.units.status(unit);
  const end = deps.clock.now().getTime() + graceSeconds * 1000;
  for (let s = first; ; ) {
    if (s.activeState === 'failed') return `${unit} failed after the change (${s.subState})`;
    if (s.nRestarts > first.nRestarts) return `${unit} restarted ${s.nRestarts - first.nRestarts} time(s) after the change`;
    if (s.activeState !== 'active' && s.activeState !== 'reloading' && s.activeState !== 'activating') return `${unit} is ${s.activeState} (${s.subState}) after the change`;
    if (deps.clock.now().getTime() >= end || signal.aborted) break;
    await deps.clock.sleep(Math.min(POLL_MS, Math.max(1, end - deps.clock.now().getTime())), signal).catch(() => undefined);
    s = await deps.units.status(unit);
  }
  const last = await deps.units.status(unit);
  return last.activeState === 'active' || last.activeState === 'reloading' ? undefined : `${unit} is ${last.activeState} (${last.subState}) at the end of the grace period`;
}

/** Up to `retries` attempts of `once` (which returns a reason or undefined); the last reason when all fail. */
async function attempts(health: HealthSpec, deps: HealthDeps, signal: AbortSignal, once: () => Promise<string | undefined>): Promise<string | undefined> {
  let why: string | undefined;
  for (let i = 0; i < Math.max(1, health.retries); i++) {
    if (i > 0) await deps.clock.sleep(RETRY_PAUSE_MS, signal).catch(() => undefined);
    try {
      why = await once();
    } catch (err) {
      why = (err as Error).message;
    }
    if (why === undefined || signal.aborted) return why;
  }
  return `${why} (${Math.max(1, health.retries)} attempts)`;
}
