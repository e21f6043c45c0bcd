/**
 * The agent's core driven directly (no daemon): `new Agent(services, deps)` with the real IsoGit
 * adapter constructed as the daemon constructs it ({@link DAEMON_GIT_OPTIONS}), real or in-memory
 * mounts and in-memory units (`test/fakes/ports.ts`).
 *
 * Passes are driven as in the daemon: by the poll TIMER. The rig's clock ({@link TickClock}) gives
 * real time, and the tracker's wait between polls (the only sleep as long as the interval) resolves
 * when the bench calls `tick()`: `poll()` = tick, then wait until every service has reported its
 * `upstream` event (the tracker sends those after the fetch and every service's reconcile or skip).
 * So quiet polls and the full pass every `verifyEveryPolls`-th one happen exactly as in the daemon.
 * `pull()` is `agent.pull()` (always a full pass, as `POST /do/pull`).
 */
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { Agent } from '../../src/core/agent.js';
import type { ServiceSpec } from '../../src/config/config.js';
import { IsoGit, type IsoGitOptions } from '../../src/adapters/git/iso-git.js';
import { systemClock } from '../../src/adapters/host/clock.js';
import type { Clock, MountPort, UnitPort } from '../../src/ports/host.js';
import type { TrackerEvents } from '../../src/core/tracker.js';
import { FakeMounts, FakeUnits, FakeUsers } from '../../test/fakes/ports.js';
import { selfCpuMs } from './util.js';

/**
 * `IsoGit`'s options as `src/daemon/host-ports.ts` passes them (everything else at the adapter's defaults).
 * bench/main.ts checks that the daemon's source still says so and records what it found.
 */
export const DAEMON_GIT_OPTIONS: IsoGitOptions = { fetchInChild: true };

/** Poll interval of the rig (s): only the bench's `tick()` ends the tracker's wait, never the timer. */
const INTERVAL_SECONDS = 3600;

/**
 * Real time; a sleep of at least `thresholdMs` (the tracker's jittered wait, `[d, 1.5d)`) resolves
 * on `tick()` instead of after its time. Shorter sleeps (health checks) are real. A tick given while
 * nothing sleeps is kept for the next sleep, so `tick()` right after a pass's last event never gets lost.
 */
export class TickClock implements Clock {
  private readonly sleepers = new Set<() => void>();
  private owed = 0;
  constructor(private readonly thresholdMs: number) {}
  now(): Date {
    return new Date();
  }
  sleep(ms: number, signal: AbortSignal): Promise<void> {
    if (ms < this.thresholdMs) return systemClock.sleep(ms, signal);
    return new Promise((resolve, reject) => {
      if (signal.aborted) return reject(signal.reason ?? new Error('aborted'));
      if (this.owed > 0) {
        this.owed--;
        return resolve();
      }
      const onAbort = () => {
        this.sleepers.delete(wake);
        reject(signal.reason ?? new Error('aborted'));
      };
      const wake = () => {
        signal.removeEventListener('abort', onAbort);
        this.sleepers.delete(wake);
        resolve();
      };
      signal.addEventListener('abort', onAbort, { once: true });
      this.sleepers.add(wake);
    });
  }
  /** End the current wait (or the next one): the poll timer fires. */
  tick(): void {
    if (this.sleepers.size === 0) this.owed++;
    else for (const w of [...this.sleepers]) w();
  }
}

export interface CoreOptions {
  readonly url: string;
  readonly dir: string;
  readonly services: number;
  readonly links: (i: number) => string[];
  /** Default: {@link DAEMON_GIT_OPTIONS}. */
  readonly gitOptions?: IsoGitOptions;
  /** Default: the tracker's (DEFAULT_VERIFY_EVERY), as the daemon without `--verify-every`. */
  readonly verifyEveryPolls?: number;
  /** Default: in-memory. */
  readonly mounts?: MountPort;
  readonly units?: UnitPort;
  /** Service names (default `svc<i>`). */
  readonly name?: (i: number) => string;
}

/** One timed pass. */
export interface PassTiming {
  wallMs: number;
  cpuMs: number;
  fetchMs: number;
  applied: number;
  /** Services the pass skipped (TrackerEvents.skipped). */
  skipped: number;
  /** quiet: every service skipped; full: none skipped (every service reconciled); mixed: some. */
  kind: 'quiet' | 'full' | 'mixed';
}

export class CoreRig {
  readonly agent: Agent;
  readonly git: IsoGit;
  readonly clock = new TickClock(INTERVAL_SECONDS * 1000);
  readonly notices: { msg: string; data: object }[] = [];
  readonly errors: string[] = [];
  private upstreamEvents = 0;
  private applied = 0;
  private skippedCount = 0;
  private fetchSeconds = 0;
  private waiter: (() => void) | undefined;

  constructor(readonly opts: CoreOptions) {
    const name = opts.name ?? ((i: number) => `svc${i}`);
    const specs: ServiceSpec[] = Array.from({ length: opts.services }, (_, i) => ({
      index: i,
      machine: 'bench',
      service: name(i),
      action: 'reload',
      user: '',
      package: '',
      upstream: opts.url,
      branch: 'main',
      mount: path.join(opts.dir, 'mount'),
      dirs: opts.links(i).map((link, j) => ({ local: path.join(opts.dir, 'targets', name(i), String(j)), link, file: false })),
      tokenFile: undefined,
      drift: 'report',
    }));
    const events: TrackerEvents = {
      fetched: (_s, seconds, _tip, error) => {
        this.fetchSeconds += seconds;
        if (error) this.errors.push(`fetch: ${String(error)}`);
      },
      reconciled: (service, outcome) => {
        if (outcome.applied) this.applied++;
        if (outcome.state !== 'OK') this.errors.push(`${service}: ${outcome.state} ${outcome.info}`);
      },
      status: () => {},
      upstream: () => {
        this.upstreamEvents++;
        if (this.upstreamEvents >= this.opts.services) this.waiter?.();
      },
      skipped: () => {
        this.skippedCount++;
      },
    };
    this.git = new IsoGit(path.join(opts.dir, 'state'), (msg, data) => this.notices.push({ msg, data }), opts.gitOptions ?? DAEMON_GIT_OPTIONS);
    this.agent = new Agent(specs, {
      git: this.git,
      mounts: opts.mounts ?? new FakeMounts(),
      units: opts.units ?? new FakeUnits(),
      users: new FakeUsers(),
      clock: this.clock,
      random: Math.random,
      intervalSeconds: INTERVAL_SECONDS,
      ...(opts.verifyEveryPolls !== undefined ? { verifyEveryPolls: opts.verifyEveryPolls } : {}),
      events,
      hostname: 'bench',
    });
  }

  /** Compactions the adapter reported (`onNotice('object store compacted')`). */
  get compactions(): number {
    return this.notices.filter((n) => n.msg === 'object store compacted').length;
  }

  /** Start the agent and wait for the first pass (first setup of every service); resolves with its ms. */
  async start(): Promise<number> {
    await mkdir(this.opts.dir, { recursive: true });
    const t0 = performance.now();
    const done = this.waitPass();
    this.agent.start();
    await done;
    await this.agent.ready();
    return performance.now() - t0;
  }

  private waitPass(): Promise<void> {
    this.upstreamEvents = 0;
    return new Promise((resolve) => (this.waiter = resolve));
  }

  private async timed(trigger: () => void): Promise<PassTiming> {
    const applied0 = this.applied;
    const skipped0 = this.skippedCount;
    this.fetchSeconds = 0;
    const done = this.waitPass();
    const cpu0 = selfCpuMs();
    const t0 = performance.now();
    trigger();
    await done;
    const wallMs = performance.now() - t0;
    const skipped = this.skippedCount - skipped0;
    return { wallMs, cpuMs: selfCpuMs() - cpu0, fetchMs: this.fetchSeconds * 1000, applied: this.applied - applied0, skipped, kind: skipped === 0 ? 'full' : skipped >= this.opts.services ? 'quiet' : 'mixed' };
  }

  /** One timer poll (quiet or full, as the tracker decides); resolves with its timings. */
  poll(): Promise<PassTiming> {
    return this.timed(() => this.clock.tick());
  }

  /** One pull of every service (`agent.pull()`: always a full pass); resolves with its timings. */
  pull(): Promise<PassTiming> {
    return this.timed(() => this.agent.pull());
  }

  stop(): Promise<void> {
    return this.agent.stop();
  }
}
