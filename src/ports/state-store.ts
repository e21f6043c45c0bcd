/**
 * Durable state, as the core needs it: what survives a restart per service, and the store that
 * keeps it (port: `src/adapters/state/` implements it). Nothing here does I/O.
 */

/** What survives a restart for one service (FREEZE/ROLLBACK with reason, who, when; history). */
export interface PersistedService {
  readonly state: string;
  readonly info: string;
  /** ISO 8601. */
  readonly since: string;
  readonly commit: string;
  readonly frozen: { readonly by: string; readonly at: string; readonly reason: string; readonly rollback?: string; readonly auto?: { readonly mode: 'freeze' | 'retry-next-commit'; readonly bad: string } } | undefined;
  /** The last commit that deployed and passed its health check (rollback target); absent = unknown. */
  readonly lastGood?: string;
  readonly history: readonly PersistedHistory[];
}

/** One history row as stored (times as ISO 8601). */
export interface PersistedHistory {
  readonly commit: string;
  readonly time: string;
  readonly trigger: string;
  readonly state: string;
  readonly info: string;
  readonly seconds: number;
  readonly by?: string;
}

/** The whole state file's content. */
export interface PersistedState {
  readonly version: 1;
  readonly services: Readonly<Record<string, PersistedService>>;
}

/** Durable state (the state file under `--state-dir`). */
export interface StateStore {
  /**
   * The saved state, or undefined when there is none. A corrupt or unreadable file is reported
   * through the adapter's notice channel, kept aside, and undefined is returned (never silently reset).
   */
  load(): Promise<PersistedState | undefined>;
  /** Replace the saved state atomically (temp file, fsync, rename). Throws on I/O failure. */
  save(state: PersistedState): Promise<void>;
}
