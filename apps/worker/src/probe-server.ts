import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

/** A Prometheus registry as the server reads it (prom-client's Registry is one). */
export interface MetricsSource {
  readonly contentType: string;
  metrics(): Promise<string>;
}

/** The worker's one HTTP server: probes for Kubernetes and /metrics for Prometheus. */
export interface ProbeServer {
  readonly port: number;
  /** /readyz answers 503 from now on: the worker is draining. */
  markDraining(): void;
  close(): Promise<void>;
}

/**
 * GET /healthz: 200 while the main event loop answers; a loop blocked long enough to fail the
 * probe is one that cannot renew BullMQ job locks either, so restarting the worker is right.
 * GET /readyz: 200 while the worker claims jobs, 503 once it drains. Started only after the
 * model loaded and the worker claims jobs, so a refused connection means "still starting".
 * GET /metrics: the worker's Prometheus metrics (one server, so one port to open and scrape).
 */
export async function startProbeServer(host: string, port: number, metrics: MetricsSource): Promise<ProbeServer> {
  let draining = false;
  const server: Server = createServer((request, response) => {
    const reply = (status: number, body: object) => {
      response.writeHead(status, { 'content-type': 'application/json' });
      response.end(JSON.stringify(body));
    };
    if (request.method !== 'GET') return reply(405, { status: 'method_not_allowed' });
    if (request.url === '/healthz') return reply(200, { status: 'ok' });
    if (request.url === '/readyz')
      return draining ? reply(503, { status: 'draining' }) : reply(200, { status: 'ready' });
    if (request.url === '/metrics') {
      metrics.metrics().then(
        (text) => {
          response.writeHead(200, { 'content-type': metrics.contentType });
          response.end(text);
        },
        (error: Error) => reply(500, { status: 'metrics_failed', message: error.message }),
      );
      return;
    }
    return reply(404, { status: 'not_found', paths: ['/healthz', '/readyz', '/metrics'] });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  return {
    port: (server.address() as AddressInfo).port,
    markDraining: () => {
      draining = true;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
