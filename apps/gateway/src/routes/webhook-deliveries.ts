import type { FastifyPluginAsync } from 'fastify';
import { z } from 'zod';
import { InvalidRequestError, WebhooksNotConfiguredError } from '../errors.ts';
import { callerOf } from '../http-hooks/authentication.ts';
import type { JobSubmitter } from '../job-submitter.ts';
import type { WebhookDeliveries } from '../webhooks/webhook-deliveries.ts';

export interface WebhookDeliveryRoutesOptions {
  /** null: the gateway has no webhook secret, and these routes say so. */
  deliveries: WebhookDeliveries | null;
  /** For the Redis budget and 503s of the request path. */
  submitter: JobSubmitter;
}

const MAX_LIMIT = 100;
const listQuerySchema = z.object({
  status: z
    .literal('failed', {
      error: 'status must be failed: undeliverable events are listed; GET /v1/webhooks/deliveries/:id reads any one',
    })
    .default('failed'),
  limit: z.coerce
    .number({ error: `limit must be an integer between 1 and ${MAX_LIMIT}` })
    .int({ error: `limit must be an integer between 1 and ${MAX_LIMIT}` })
    .min(1, { error: `limit must be an integer between 1 and ${MAX_LIMIT}` })
    .max(MAX_LIMIT, { error: `limit must be an integer between 1 and ${MAX_LIMIT}` })
    .default(20),
});

const EVENT_ID = /^evt_[A-Za-z0-9._-]{1,160}$/;

function checkEventId(id: string): void {
  if (!EVENT_ID.test(id)) {
    throw new InvalidRequestError(
      'a delivery id is its event id: evt_ followed by letters, digits, ".", "_" or "-"',
      'id',
    );
  }
}

/** The caller's webhook deliveries: the undeliverable ones listed, one read, a failed one sent again. */
export const webhookDeliveryRoutes: FastifyPluginAsync<WebhookDeliveryRoutesOptions> = async (
  app,
  { deliveries, submitter },
) => {
  const configured = (): WebhookDeliveries => {
    if (deliveries === null) throw new WebhooksNotConfiguredError(null);
    return deliveries;
  };

  app.get('/v1/webhooks/deliveries', async (request) => {
    const parsed = listQuerySchema.safeParse(request.query ?? {});
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      throw new InvalidRequestError(issue?.message ?? 'invalid query', String(issue?.path[0] ?? 'status'));
    }
    const { tenant } = callerOf(request);
    const data = await submitter.withRedis('list webhook deliveries', () =>
      configured().listFailed(tenant, parsed.data.limit),
    );
    return { object: 'list', data };
  });

  app.get<{ Params: { id: string } }>('/v1/webhooks/deliveries/:id', async (request) => {
    checkEventId(request.params.id);
    const { tenant } = callerOf(request);
    return submitter.withRedis('read the webhook delivery', () => configured().get(request.params.id, tenant));
  });

  app.post<{ Params: { id: string } }>('/v1/webhooks/deliveries/:id/retry', async (request, reply) => {
    checkEventId(request.params.id);
    const { tenant } = callerOf(request);
    const view = await submitter.withRedis('retry the webhook delivery', () =>
      configured().retry(request.params.id, tenant),
    );
    return reply.code(202).send(view);
  });
};
