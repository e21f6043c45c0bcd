/**
 * `POST /hook`: push webhooks (GitHub, Gitea/Forgejo, GitLab) that trigger an immediate pass of the
 * services tracking the pushed (repository, branch). Authenticated by the forge's own signature
 * (see src/http/webhook/push.ts), not by operator keys; refusals are WebhookErrors (statuses from
 * `src/http/errors.ts`: 401, 400, 202 for an ignored event; 503 HOOK_SECRET_UNAVAILABLE) and logged by the caller.
 */
import { readFile } from 'node:fs/promises';
import express from 'express';
import { httpStatus } from '../errors.js';
import { verifyPush, WebhookError, type Push } from './push.js';

/** What the webhook route needs of the agent and the daemon. */
export interface WebhookDeps {
  /** Trigger a pass of every service whose upstream is `urls` (any of them) on `branch`; returns their names. */
  pullPushed(urls: readonly string[], branch: string): string[];
  /** The shared secret, read at each request (so rotation needs no restart); "" = webhooks off. */
  secret(): Promise<string>;
  /** Told about every request's outcome (for the log). Must not throw. */
  log(entry: { status: number; forge?: string; branch?: string; services?: string[]; reason?: string; remote?: string }): void;
}

/**
 * The webhook secret of `[global].hook_secret_file`: the daemon pushes the file named by each
 * config it accepts ({@link set}); {@link read} reads it at each request, so rotating the secret
 * needs no restart.
 */
export class WebhookSecret {
  /** @param file the absolute path of the config accepted at start; undefined: webhooks off */
  constructor(private file: string | undefined) {}

  /** Take the `hook_secret_file` of a newly accepted config (undefined: webhooks off). */
  set(file: string | undefined): void {
    this.file = file;
  }

  /** The secret: the file's content without surrounding whitespace; "" without a file. Rejects when the file cannot be read. */
  async read(): Promise<string> {
    return this.file === undefined ? '' : (await readFile(this.file, 'utf8')).trim();
  }
}

/** Largest accepted webhook body (GitHub sends up to 25 MB; pushes are far smaller). */
const LIMIT = '5mb';

/** An express router serving `POST /hook`. */
export function webhookRouter(deps: WebhookDeps): express.Router {
  const router = express.Router();
  // not express's automatic `200 POST` answer to OPTIONS: leave it to the signed API (401 unsigned)
  router.options('/hook', (_req, _res, next) => next('router'));
  router.post('/hook', express.raw({ type: () => true, limit: LIMIT }), async (req, res) => {
    const body = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
    const headers = Object.fromEntries(Object.entries(req.headers).map(([k, v]) => [k, Array.isArray(v) ? v[0] : v]));
    let secret: string;
    try {
      secret = await deps.secret();
    } catch (err) {
      const status = httpStatus('HOOK_SECRET_UNAVAILABLE');
      deps.log({ status, reason: `cannot read the webhook secret: ${(err as Error).message}` });
      res.status(status).json({ error: { code: 'HOOK_SECRET_UNAVAILABLE', message: 'the webhook secret cannot be read on this host' } });
      return;
    }
    let push: Push;
    try {
      push = verifyPush(headers, body, secret);
    } catch (err) {
      const e = err instanceof WebhookError ? err : new WebhookError('BAD_REQUEST', (err as Error).message);
      const status = httpStatus(e.code);
      deps.log({ status, reason: e.message, remote: req.socket.remoteAddress ?? '' });
      res.status(status).json(e.code === 'WEBHOOK_IGNORED' ? { accepted: false, reason: e.message } : { error: { code: e.code, message: e.message } });
      return;
    }
    const services = deps.pullPushed(push.urls, push.branch);
    deps.log({ status: 202, forge: push.forge, branch: push.branch, services, remote: req.socket.remoteAddress ?? '' });
    res.status(202).json({ accepted: true, services });
  });
  return router;
}
