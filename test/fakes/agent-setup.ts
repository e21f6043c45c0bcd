/**
 * The one agent setup of the core's tests: an {@link Agent} over the fakes of `ports.ts`, with
 * every dependency defaulted (fresh fakes, a ManualClock, no jitter, 60 s interval, events that
 * do nothing, hostname `h`); a test overrides only what it looks at.
 */
import { Agent, type AgentDeps } from '../../src/core/agent.js';
import type { ServiceSpec } from '../../src/config/config.js';
import type { TrackerEvents } from '../../src/core/tracker.js';
import { FakeGit, FakeMounts, FakeUnits, FakeUsers, ManualClock } from './ports.js';

/** Tracker events that do nothing. */
export const noEvents: TrackerEvents = { fetched: () => {}, reconciled: () => {}, status: () => {}, upstream: () => {} };

/** AgentDeps as the builder makes them (the defaults are these fakes; an override of its own type is the test's to know). */
export type FakeAgentDeps = AgentDeps & { git: FakeGit; mounts: FakeMounts; units: FakeUnits };

/**
 * An agent for `services` over fakes. `overrides` replace the defaults (same keys as AgentDeps);
 * the returned `deps` are what the agent got, so a test reads the fakes back from them.
 */
export function agentSetup(services: readonly ServiceSpec[], overrides: Partial<AgentDeps> = {}): { agent: Agent; deps: FakeAgentDeps } {
  const deps: FakeAgentDeps = {
    git: new FakeGit(),
    mounts: new FakeMounts(),
    units: new FakeUnits(),
    users: new FakeUsers(),
    clock: new ManualClock(),
    random: () => 0,
    intervalSeconds: 60,
    events: noEvents,
    hostname: 'h',
    ...overrides,
  } as FakeAgentDeps;
  return { agent: new Agent(services, deps), deps };
}
