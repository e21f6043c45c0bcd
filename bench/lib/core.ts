/**
 * The agent's core driven directly (no daemon): `new Agent(services, deps)` with the real IsoGit
 * adapter (or the bench's ProposedGit), real or in-memory mounts and units (`test/fakes/ports.ts`).
 * A pass is triggered with `pull()` and ends when every service has reported its `upstream` event
 * (the tracker sends those after the fetch and every service's reconcile).
 */
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { Agent } from '../../src/agent.js';
import type { ServiceSpec } from '../../src/config.js';
import { IsoGit } from '../../src/adapters/git.js';
import { systemClock } from '../../src/adapters/clock.js';
import type { MountPort, UnitPort } from '../../src/ports.js';
import type { TrackerEvents } from '../../src/tracker.js';
import { FakeMounts, FakeUnits, FakeUsers } from '../../test/fakes/ports.js';
import { ProposedGit } from './proposed-git.js';
import { selfCpuMs } from './util.js';

export interface CoreOptions {
  readonly url: string;
  readonly dir: string;
  readonly services: number;
  readonly links: (i: number) => string[];
  /** Use the fixes of `proposed-git.ts` instead of the current adapter. */
  readonly proposed?: boolean;
  /** With `proposed`: compact the store when it holds more packs than this (0 = never). */
  readonly compactAbove?: number;
  /** Default: in-memory. */
  readonly mounts?: MountPort;
  readonly units?: UnitPort;
  /** Poll interval (default one day: passes only on pull). */
  readonly intervalSeconds?: number;
  /** Service names (default `svc<i>`). */
  readonly name?: (i: number) => string;
}

/** One timed pass. */
export interface PassTiming {
  wallMs: number;
  cpuMs: number;
  fetchMs: number;
  applied: number;
}

export class CoreRig {
  readonly agent: Agent;
  readonly git: IsoGit;
  private upstreamEvents = 0;
  private applied = 0;
  private fetchSeconds = 0;
  private waiter: (() => void) | undefined;
  readonly errors: string[] = [];

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
    };
    const state = path.join(opts.dir, 'state');
    this.git = opts.proposed ? new ProposedGit(state, opts.compactAbove ?? 0) : new IsoGit(state);
    this.agent = new Agent(specs, {
      git: this.git,
      mounts: opts.mounts ?? new FakeMounts(),
      units: opts.units ?? new FakeUnits(),
      users: new FakeUsers(),
      clock: systemClock,
      random: Math.random,
      intervalSeconds: opts.intervalSeconds ?? 24 * 3600,
      events,
      hostname: 'bench',
    });
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

  /** One pass of every service (pull now); resolves with its timings. */
  async pass(): Promise<PassTiming> {
    const applied0 = this.applied;
    this.fetchSeconds = 0;
    const done = this.waitPass();
    const cpu0 = selfCpuMs();
    const t0 = performance.now();
    this.agent.pull();
    await done;
    return { wallMs: performance.now() - t0, cpuMs: selfCpuMs() - cpu0, fetchMs: this.fetchSeconds * 1000, applied: this.applied - applied0 };
  }

  stop(): Promise<void> {
    return this.agent.stop();
  }
}
