import { createBullBoard } from '@bull-board/api';
import { BullMQAdapter } from '@bull-board/api/bullMQAdapter';
import { FastifyAdapter } from '@bull-board/fastify';
import type { Queue } from 'bullmq';
import type { FastifyPluginAsync } from 'fastify';
import { ADMIN_CHALLENGE, type AdminKey } from '../admin/admin-key.ts';
import { AdminAuthenticationError } from '../errors.ts';

/** Where the dashboard lives; its pages, scripts and API are all under it. */
export const QUEUE_DASHBOARD_PATH = '/admin/queues';

export interface QueueDashboardOptions {
  readonly adminKey: AdminKey;
  /** Every BullMQ queue this gateway owns. */
  readonly queues: readonly Queue[];
}

/**
 * Bull Board at /admin/queues, every request of it behind DFLEET_ADMIN_KEY. A refusal carries
 * `WWW-Authenticate`, so a browser asks for the key itself; it is answered from the hook, not
 * thrown, because the board's plugin installs an error handler of its own for its routes.
 */
export const queueDashboardRoutes: FastifyPluginAsync<QueueDashboardOptions> = async (app, options) => {
  app.addHook('onRequest', async (request, reply) => {
    try {
      options.adminKey.check(request.headers.authorization);
    } catch (error) {
      if (!(error instanceof AdminAuthenticationError)) throw error;
      return reply
        .code(error.httpStatus)
        .header('www-authenticate', ADMIN_CHALLENGE)
        .header('cache-control', 'no-store')
        .send(error.toResponseBody());
    }
  });
  const board = new FastifyAdapter();
  createBullBoard({
    queues: options.queues.map((queue) => new BullMQAdapter(queue)),
    serverAdapter: board,
    options: { uiConfig: { boardTitle: 'dfleet queues' } },
  });
  board.setBasePath(QUEUE_DASHBOARD_PATH);
  await app.register(board.registerPlugin(), { prefix: QUEUE_DASHBOARD_PATH });
};
