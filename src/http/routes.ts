/**
 * The REST API as one table: each row is `{ method, path, write, handler }`, served by
 * `app.ts` (docs/architecture.md, "One operator request"). `write` marks rows that change or trigger
 * something: `auth.ts` `authorize` refuses them to read-only keys (403). Paths are gitopper's route
 * names (docs/api.md, "Routes") plus `/list/history/:service`; bodies are the shapes of `src/api/wire.ts`.
 *
 * Handlers validate path parameters and bodies before touching the agent, so bad input answers
 * 400 (BadRequestError), never 500; the agent's own errors pass through to `errors.ts`.
 */
import type { Request, Response } from 'express';
import type { Actor, Control, HistoryEntry, ServiceInfo } from '../core/control.js';
import { BadRequestError } from '../core/errors.js';
import { principalOf } from './auth.js';
import {
  COMMIT_HASH,
  MAX_REASON,
  SERVICE_NAME,
  formatChange,
  shortHash,
  type ListHistory,
  type ListMachines,
  type ListServices,
  type PullAccepted,
  type WireHistoryEntry,
  type WireService,
} from '../api/wire.js';

/** One row of the route table. `path` uses express 5 syntax (`/:service`). */
export interface Route {
  readonly method: 'GET' | 'POST';
  readonly path: string;
  /** True for rows that change state or start work (every POST). */
  readonly write: boolean;
  /** Answers the request; may throw the errors of `src/core/errors.ts` (sync or async). */
  readonly handler: (control: Control, req: Request, res: Response) => void | Promise<void>;
}

/**
 * Who is asking, for history and logs: the key that signed the request, as
 * `"<fingerprint> <comment>"` (`SHA256:… miek@limos`; the comment of its line in the key file).
 * Set by the auth middleware (`auth.ts`, docs/security.md "What is signed"); throws when it did not run.
 */
export function actorOf(req: Request): Actor {
  return { by: principalOf(req).by };
}

/** A ServiceInfo in gitopper's `services[]` shape plus the added fields (`src/api/wire.ts`). */
export function toWireService(s: ServiceInfo): WireService {
  return {
    service: s.service,
    hash: shortHash(s.commit),
    state: s.state,
    stateinfo: s.info,
    change: formatChange(s.since),
    commit: s.commit,
    upstream: s.upstream,
    branch: s.branch,
    ...(s.tip === undefined ? {} : { tip: s.tip }),
    ...(s.by === undefined ? {} : { by: s.by }),
    drift: s.drift ?? [],
  };
}

/** A HistoryEntry in the `history[]` shape (`time` RFC 3339). */
export function toWireHistory(h: HistoryEntry): WireHistoryEntry {
  return {
    commit: h.commit,
    hash: shortHash(h.commit),
    time: h.time.toISOString(),
    trigger: h.trigger,
    state: h.state,
    stateinfo: h.info,
    seconds: h.seconds,
    ...(h.by === undefined ? {} : { by: h.by }),
  };
}

const quote = (v: string): string => JSON.stringify(v.length > 80 ? `${v.slice(0, 80)}…` : v);

/** The `:service` parameter, checked against SERVICE_NAME. Throws BadRequestError. */
export function serviceParam(req: Request): string {
  const v = String(req.params.service ?? '');
  if (!SERVICE_NAME.test(v)) {
    throw new BadRequestError(`invalid service name ${quote(v)}: want 1–255 of A–Z a–z 0–9 : _ . @ -`, { service: v });
  }
  return v;
}

/** The `:hash` parameter, checked against COMMIT_HASH. Throws BadRequestError. */
export function hashParam(req: Request): string {
  const v = String(req.params.hash ?? '');
  if (!COMMIT_HASH.test(v)) throw new BadRequestError(`invalid commit hash ${quote(v)}: want 4–40 hexadecimal digits`, { hash: v });
  return v;
}

/** The freeze body `{"reason"?: string}` (absent body = no reason). Throws BadRequestError. */
export function freezeReason(req: Request): string | undefined {
  const body = req.body as Record<string, unknown> | undefined;
  if (body === undefined) return undefined;
  const extra = Object.keys(body).filter((k) => k !== 'reason');
  if (extra.length > 0) throw new BadRequestError(`unknown body field ${quote(extra[0]!)}: only "reason" is accepted`, { field: extra[0] });
  const reason = body.reason;
  if (reason === undefined) return undefined;
  if (typeof reason !== 'string') throw new BadRequestError('"reason" must be a string', { field: 'reason' });
  if (reason.length > MAX_REASON) throw new BadRequestError(`"reason" is ${reason.length} characters; at most ${MAX_REASON}`, { field: 'reason' });
  return reason;
}

const services = (list: ServiceInfo[]): ListServices => ({ services: list.map(toWireService) });

/** Every route of the API, in the order express matches them. */
export const ROUTES: readonly Route[] = [
  {
    method: 'GET',
    path: '/list/machine',
    write: false,
    handler: (c, _req, res) => {
      const actual = c.hostname();
      const body: ListMachines = { machines: c.machines().map((machine) => ({ machine, actual })) };
      res.json(body);
    },
  },
  { method: 'GET', path: '/list/service', write: false, handler: (c, _req, res) => void res.json(services(c.services())) },
  {
    method: 'GET',
    path: '/list/service/:service',
    write: false,
    handler: (c, req, res) => void res.json(services([c.service(serviceParam(req))])),
  },
  {
    method: 'GET',
    path: '/list/history/:service',
    write: false,
    handler: (c, req, res) => {
      const body: ListHistory = { history: c.history(serviceParam(req)).map(toWireHistory) };
      res.json(body);
    },
  },
  {
    method: 'POST',
    path: '/do/freeze/:service',
    write: true,
    handler: async (c, req, res) => {
      const name = serviceParam(req);
      res.json(services([await c.freeze(name, actorOf(req), freezeReason(req))]));
    },
  },
  {
    method: 'POST',
    path: '/do/unfreeze/:service',
    write: true,
    handler: async (c, req, res) => void res.json(services([await c.unfreeze(serviceParam(req), actorOf(req))])),
  },
  {
    method: 'POST',
    path: '/do/rollback/:service/:hash',
    write: true,
    handler: async (c, req, res) => {
      const name = serviceParam(req);
      res.json(services([await c.rollback(name, hashParam(req), actorOf(req))]));
    },
  },
  {
    method: 'POST',
    path: '/do/pull',
    write: true,
    handler: (c, req, res) => {
      c.pull(undefined, actorOf(req));
      const body: PullAccepted = { accepted: true };
      res.status(202).json(body);
    },
  },
  {
    method: 'POST',
    path: '/do/pull/:service',
    write: true,
    handler: (c, req, res) => {
      const service = serviceParam(req);
      c.pull(service, actorOf(req));
      const body: PullAccepted = { accepted: true, service };
      res.status(202).json(body);
    },
  },
];
