/**
 * The REST API's contract, shared by the daemon (`src/http/`) and the client (`src/ctl/client.ts`,
 * `gitopperctl`): JSON shapes, route paths, and the value formats inside them. Imports nothing.
 *
 * Source: gitopper's `proto/proto.go` (docs/api.md, "Routes" and "Compatibility with gitopper"). The gitopper field
 * names (`machines[].machine/actual`, `services[].service/hash/state/stateinfo/change`) and route
 * names never change; fields added here (`commit`, `upstream`, `branch`, `by`, history, errors)
 * sit beside them, so a gitopper-era client keeps working.
 */

/** One row of `GET /list/machine` (gitopper `proto.ListMachine`). */
export interface WireMachine {
  /** A machine name from the config (`[[services]] machine`) that this host acts as. */
  readonly machine: string;
  /** The host's real hostname. */
  readonly actual: string;
}

/** Body of `GET /list/machine`: `{"machines":[{"machine","actual"}]}`. */
export interface ListMachines {
  readonly machines: WireMachine[];
}

/** One service (gitopper `proto.ListService`) plus this project's extra fields. */
export interface WireService {
  readonly service: string;
  /** First 8 hex digits of the deployed commit ({@link shortHash}); "" before the first checkout. */
  readonly hash: string;
  /** One of `OK FREEZE ROLLBACK BROKEN DIFF` (kept a string: a newer server may add states). */
  readonly state: string;
  /** Reason for the state: BROKEN/DIFF cause, `ROLLBACK: <hash>`, the freeze reason; "" when OK. */
  readonly stateinfo: string;
  /** Last real state transition, RFC 1123 in UTC ({@link formatChange}). */
  readonly change: string;
  /** Added: the full deployed commit id ("" before the first checkout). */
  readonly commit?: string;
  /** Added: the git upstream URL the service tracks. */
  readonly upstream?: string;
  /** Added: the tracked branch. */
  readonly branch?: string;
  /** Added: the branch's tip as the agent's last successful fetch found it (absent before the first); ≠ `commit` means behind the upstream. */
  readonly tip?: string;
  /** Added: who froze or rolled back, when frozen: the signing key as `"<fingerprint> <comment>"` (`SHA256:… miek@limos`). */
  readonly by?: string;
  /** Added: repository paths under the service's links whose files differ from the deployed commit (local edits). */
  readonly drift?: readonly string[];
}

/**
 * Body of `GET /list/service[/<service>]` and of freeze/unfreeze/rollback:
 * `{"services":[{"service","hash","state","stateinfo","change"}]}`.
 */
export interface ListServices {
  readonly services: WireService[];
}

/** One deployment attempt (added by this project; gitopper has no history). */
export interface WireHistoryEntry {
  /** Full commit id the pass aimed at. */
  readonly commit: string;
  /** First 8 hex digits of `commit`. */
  readonly hash: string;
  /** When the pass ran, RFC 3339 (`2022-11-18T09:14:52.000Z`). */
  readonly time: string;
  /** Why: `startup`, `poll`, `pull`, `rollback` or `unfreeze`. */
  readonly trigger: string;
  /** State the service ended in. */
  readonly state: string;
  readonly stateinfo: string;
  /** Wall time of the pass in seconds. */
  readonly seconds: number;
  /** Who asked (the signing key as `"<fingerprint> <comment>"`); absent for timer passes. */
  readonly by?: string;
}

/** Body of `GET /list/history/<service>`, newest first. */
export interface ListHistory {
  readonly history: WireHistoryEntry[];
}

/** Body of `POST /do/pull[/<service>]` (HTTP 202): the pull was queued, not yet run. */
export interface PullAccepted {
  readonly accepted: true;
  /** The service pulled, or absent when all were. */
  readonly service?: string;
}

/** Optional body of `POST /do/freeze/<service>`. */
export interface FreezeRequest {
  /** Why, shown as the state info; at most {@link MAX_REASON} characters. */
  readonly reason?: string;
}

/** Body of every error answer: `{"error":{"code","message"}}`. */
export interface WireError {
  readonly error: {
    /**
     * Stable code: `UNKNOWN_SERVICE`, `BAD_REQUEST`, `CONFLICT`, `NOT_FOUND`, `METHOD_NOT_ALLOWED`,
     * `PAYLOAD_TOO_LARGE`, `INTERNAL`; 401 `UNKNOWN_KEY`, `BAD_SIGNATURE`, `STALE_SIGNATURE`,
     * `REPLAYED_NONCE`, … (docs/security.md); 403 `READ_ONLY_KEY`; …
     */
    readonly code: string;
    readonly message: string;
  };
}

/** Service names the API accepts in a path (systemd unit names, templates with `@` included). */
export const SERVICE_NAME = /^[A-Za-z0-9:_.@\-]{1,255}$/;
/** Commit hashes the API accepts for rollback: 4–40 hex digits, an abbreviation or a full id. */
export const COMMIT_HASH = /^[0-9a-fA-F]{4,40}$/;
/** Longest freeze reason, in characters. */
export const MAX_REASON = 1024;

const seg = (s: string): string => encodeURIComponent(s);

/**
 * Concrete request paths (gitopper's route names, docs/api.md "Routes"), each segment URI-encoded.
 * `listService()` and `pull()` without a name address every service.
 */
export const routes = {
  listMachine: (): string => '/list/machine',
  listService: (service?: string): string => (service === undefined ? '/list/service' : `/list/service/${seg(service)}`),
  history: (service: string): string => `/list/history/${seg(service)}`,
  freeze: (service: string): string => `/do/freeze/${seg(service)}`,
  unfreeze: (service: string): string => `/do/unfreeze/${seg(service)}`,
  rollback: (service: string, hash: string): string => `/do/rollback/${seg(service)}/${seg(hash)}`,
  pull: (service?: string): string => (service === undefined ? '/do/pull' : `/do/pull/${seg(service)}`),
} as const;

/** gitopper's `hash` field: the first 8 characters of a commit id ("" stays ""). */
export function shortHash(commit: string): string {
  return commit.slice(0, 8);
}

/**
 * gitopper's `change` field: RFC 1123 in UTC, e.g. `Fri, 18 Nov 2022 09:14:52 UTC`
 * (Go's `time.RFC1123` of a UTC time; JavaScript's `toUTCString` says `GMT` instead).
 */
export function formatChange(when: Date): string {
  return when.toUTCString().replace(/GMT$/, 'UTC');
}

/** Parses a `change` value back to a Date; undefined when it is not one. */
export function parseChange(change: string): Date | undefined {
  const m = /^\w{3}, (\d{2} \w{3} \d{4} \d{2}:\d{2}:\d{2}) (UTC|GMT)$/.exec(change);
  if (!m) return undefined;
  const t = Date.parse(`${m[1]} GMT`);
  return Number.isNaN(t) ? undefined : new Date(t);
}
