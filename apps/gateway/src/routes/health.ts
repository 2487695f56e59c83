import type { FastifyPluginAsync } from 'fastify';
import { NotReadyError } from '../errors.ts';
import type { JobSubmitter } from '../job-submitter.ts';
import type { RequestDrain } from '../request-drain.ts';

/** Paths of the health probes, which need no key and are not logged per request. */
export const PROBE_PATHS: ReadonlySet<string> = new Set(['/healthz', '/readyz']);

export interface HealthRoutesOptions {
  submitter: JobSubmitter;
  redisPrefix: string;
  /** When given, /readyz answers 503 once a shutdown began. */
  drain?: RequestDrain | undefined;
}

/** GET /healthz (the process answers) and GET /readyz (Redis answers and a worker is alive). */
export const healthRoutes: FastifyPluginAsync<HealthRoutesOptions> = async (app, { submitter, redisPrefix, drain }) => {
  app.get('/healthz', async () => ({ status: 'ok' }));

  app.get('/readyz', async (_request, reply) => {
    if (drain?.draining) throw new NotReadyError('not ready: this gateway is shutting down');
    let workers: Awaited<ReturnType<JobSubmitter['liveWorkers']>>;
    try {
      await submitter.ping();
      workers = await submitter.liveWorkers();
    } catch (error) {
      throw new NotReadyError(`not ready: ${(error as Error).message}`);
    }
    if (workers.length === 0) {
      throw new NotReadyError(
        `not ready: no live worker (no heartbeat under Redis prefix '${redisPrefix}' in the last 10 s); start a worker`,
      );
    }
    return reply.code(200).send({
      status: 'ready',
      redis: 'ok',
      workers: workers.map((w) => ({
        id: w.workerId,
        device: w.device,
        model: w.model,
        jobs_in_flight: w.jobsInFlight,
      })),
    });
  });
};
