/**
 * The REST API app (express 5), built from the one route table of `routes.ts` over the agent's
 * `Control` interface (`http/` depends on the core's interface only: docs/architecture.md).
 *
 * Around the table: every request is authenticated first (`auth.ts`: HTTP Message Signatures
 * with a key of `[global].keys`), then authorized from its row's `write` flag (read-only keys
 * → 403); a request with a body must be a POST; POST bodies are parsed as JSON (at most 16 KiB),
 * must match their signed Content-Digest and must be JSON objects; a known path asked with
 * another method answers 405 with `Allow` (OPTIONS answers 204 with it); any other path answers
 * 404; every error goes through `errors.ts` as `{"error":{"code","message"}}`.
 */
import express, { type NextFunction, type Request, type Response } from 'express';
import type { Control } from '../core/control.js';
import { BadRequestError } from '../core/errors.js';
import { authenticate, authorize, digestCheck, hasBody, recordDigest, type AuthLog, type AuthOptions } from './auth.js';
import { errorHandler, HttpError, type ApiLogEntry } from './errors.js';
import { ROUTES, type Route } from './routes.js';

/** Options of {@link createApiApp}. */
export interface ApiAppOptions {
  /** Called once per request that failed with a 500 (the server's fault). */
  readonly log?: (entry: ApiLogEntry) => void;
  /** Who may ask: the key ring, this agent's names, and where refusals and writes are logged. */
  readonly auth: AuthOptions;
  /**
   * Routers that authenticate requests their own way (push webhooks' HMAC, `webhook/app.ts`),
   * mounted before the signature check. Everything else needs a signed request.
   */
  readonly open?: readonly express.Router[];
}

/** Largest accepted request body. */
const BODY_LIMIT = '16kb';

/** Only POST carries a body (a GET with one is refused rather than left unchecked against its digest). */
function bodyOnlyOnPost(req: Request, _res: Response, next: NextFunction): void {
  if (hasBody(req) && req.method !== 'POST') throw new BadRequestError(`${req.method} requests take no body`);
  next();
}

/**
 * After express.json: a body that was sent must have been JSON (else 415) and an object (else 400).
 * An empty body is no body.
 */
function requireJsonObject(req: Request, _res: Response, next: NextFunction): void {
  if (req.body === undefined) {
    if (hasBody(req)) throw new HttpError('UNSUPPORTED_MEDIA_TYPE', 'request body must be JSON (Content-Type: application/json)');
  } else if (typeof req.body !== 'object' || req.body === null || Array.isArray(req.body)) {
    throw new BadRequestError('request body must be a JSON object');
  }
  next();
}

function allowed(rows: Route[]): string {
  return rows.flatMap((r) => (r.method === 'GET' ? ['GET', 'HEAD'] : [r.method])).join(', ');
}

/**
 * An express app serving {@link ROUTES} over `control`. Mount it on its own listener
 * (`app.listen(port, host)`); it does not serve `/metrics` (see `metrics-app.ts`).
 */
export function createApiApp(control: Control, opts: ApiAppOptions): express.Express {
  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);
  for (const router of opts.open ?? []) app.use(router);
  app.use(authenticate(opts.auth), bodyOnlyOnPost);
  const log: AuthLog | undefined = opts.auth.log;
  const byPath = new Map<string, Route[]>();
  for (const r of ROUTES) byPath.set(r.path, [...(byPath.get(r.path) ?? []), r]);

  for (const [path, rows] of byPath) {
    const route = app.route(path);
    for (const row of rows) {
      const handle = (req: Request, res: Response) => row.handler(control, req, res);
      if (row.method === 'GET') route.get(authorize(row.write, log), handle);
      else route.post(authorize(row.write, log), express.json({ limit: BODY_LIMIT, verify: recordDigest }), digestCheck, requireJsonObject, handle);
    }
    const allow = allowed(rows);
    route.all((req: Request, res: Response) => {
      res.set('Allow', allow);
      if (req.method === 'OPTIONS') {
        res.status(204).end();
        return;
      }
      throw new HttpError('METHOD_NOT_ALLOWED', `${req.method} is not allowed on ${req.path}; allowed: ${allow}`);
    });
  }
  app.use((req: Request) => {
    throw new HttpError('NOT_FOUND', `no route ${req.method} ${req.path}`);
  });
  app.use(errorHandler(opts.log));
  return app;
}
