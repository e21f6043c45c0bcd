/**
 * The `/metrics` endpoint (express) for Prometheus: serves a private registry, text format 0.0.4.
 * Open without authentication, as Prometheus expects.
 */
import express from 'express';
import type { Registry } from 'prom-client';

/** An express app answering `GET /metrics` from `registry`; every other path is 404. */
export function metricsApp(registry: Registry): express.Express {
  const app = express();
  app.disable('x-powered-by');
  app.get('/metrics', async (_req, res) => {
    res.type(registry.contentType).send(await registry.metrics());
  });
  return app;
}
