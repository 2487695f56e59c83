import { UnrecoverableError, type Job } from 'bullmq';
import type { Logger } from 'pino';
import { postWebhook } from './webhook-sender.ts';
import type { WebhookSettings } from './webhook-settings.ts';
import { signWebhook } from './webhook-signature.ts';
import {
  webhookDeliverySchema,
  type DeliveryAttempt,
  type WebhookDelivery,
  type WebhookEvent,
} from './webhook-delivery.ts';

/** An event's type and data once its source has finished; null while it has not. */
export type EventBuilder = (delivery: WebhookDelivery) => Promise<Pick<WebhookEvent, 'type' | 'data'> | null>;

export interface DeliveryAttemptDependencies {
  settings: WebhookSettings;
  buildEvent: EventBuilder;
  /** Records an event no attempt delivered, for the tenant's failed list, before BullMQ fails it. */
  recordUndeliverable(delivery: WebhookDelivery): Promise<void>;
  logger: Logger;
}

/**
 * One attempt of a delivery job: builds and freezes the event on the first, signs it with this
 * attempt's timestamp, POSTs it, and records the outcome in the job. Throws on anything but a 2xx,
 * so BullMQ retries with backoff; UnrecoverableError on the last attempt and on 410 Gone.
 */
export async function attemptDelivery(
  job: Job<WebhookDelivery>,
  deps: DeliveryAttemptDependencies,
): Promise<{ status: number }> {
  const { settings, logger } = deps;
  let delivery = webhookDeliverySchema.parse(job.data);
  if (delivery.event === undefined) {
    const built = await deps.buildEvent(delivery);
    if (built === null) throw new Error(`the source of ${delivery.eventId} has not finished yet`);
    const event: WebhookEvent = { id: delivery.eventId, object: 'event', created_at: nowSeconds(), ...built };
    // Frozen before the first POST: every retry, from any gateway, sends the same bytes.
    delivery = { ...delivery, event: JSON.stringify(event) };
    await job.updateData(delivery);
  }
  const body = delivery.event as string;
  const headers = signWebhook(settings.key, { id: delivery.eventId, timestampSeconds: nowSeconds(), body });
  const outcome = await postWebhook(delivery.url, body, { ...headers }, settings);
  const status = outcome.kind === 'answered' ? outcome.status : null;
  const delivered = status !== null && status >= 200 && status < 300;
  const lastAttempt: DeliveryAttempt = {
    at: Date.now(),
    status,
    error:
      outcome.kind === 'no_answer'
        ? outcome.error
        : delivered
          ? null
          : `the receiver answered HTTP ${outcome.status}, not 2xx`,
  };
  await job.updateData({ ...delivery, lastAttempt, attempts: (delivery.attempts ?? 0) + 1 });
  const attempt = job.attemptsMade + 1;
  if (delivered) {
    logger.debug({ eventId: delivery.eventId, attempt }, 'webhook delivered');
    return { status };
  }

  // 410 Gone: the receiver says the endpoint is no more (Standard Webhooks), so retrying is pointless.
  const last = status === 410 || attempt >= (job.opts.attempts ?? 1);
  const message = `${delivery.url}: ${lastAttempt.error}`;
  if (last) {
    await deps.recordUndeliverable(delivery);
    logger.warn({ eventId: delivery.eventId, tenant: delivery.tenant, error: message }, 'webhook undeliverable');
    throw new UnrecoverableError(message);
  }
  logger.info({ eventId: delivery.eventId, attempt, error: message }, 'webhook attempt failed');
  throw new Error(message);
}

function nowSeconds(): number {
  return Math.floor(Date.now() / 1_000);
}
