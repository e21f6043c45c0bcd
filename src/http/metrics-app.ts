/**
 * The metrics listener (`-m`, express): `GET /metrics` serves a private registry in the Prometheus
 * text format 0.0.4, `GET /healthz` answers 200 `ok` while the process serves HTTP (liveness).
 * Open without authentication, as Prometheus and health checkers expect.
 */
import express from 'express';
import type { Registry } from 'prom-client';

/** An express app answering `GET /metrics` from `registry` and `GET /healthz`; every other path is 404. */
export function metricsApp(registry: Registry): express.Express {
  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);
  app.get('/metrics', async (_req, res) => {
    res.set('Cache-Control', 'no-store');
    res.type(registry.contentType).send(await registry.metrics());
  });
  app.get('/healthz', (_req, res) => {
    res.set('Cache-Control', 'no-store');
    res.type('text/plain').send('ok');
  });
  return app;
}
