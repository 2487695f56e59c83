import type { FastifyPluginAsync } from 'fastify';
import type { Registry } from 'prom-client';

export interface MetricsRoutesOptions {
  registry: Registry;
}

/**
 * GET /metrics in Prometheus text format. Like the probes it needs no API key: Prometheus and
 * KEDA scrape it from inside the cluster, and it holds fleet-wide counts only (no tenant, prompt
 * or key). Keep it off the public ingress (deploy/README.md).
 */
export const metricsRoutes: FastifyPluginAsync<MetricsRoutesOptions> = async (app, { registry }) => {
  // A scrape every few seconds would drown the requests that matter in the request log.
  app.get('/metrics', { logLevel: 'warn' }, async (_request, reply) =>
    reply.type(registry.contentType).send(await registry.metrics()),
  );
};
