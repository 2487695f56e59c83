import { toBatchObject } from '../batches/batch-objects.ts';
import type { BatchRecord } from '../batches/batch-store.ts';
import type { WebhookDeliveries } from './webhook-deliveries.ts';
import { eventIdFor, type WebhookEvent, type WebhookEventType, type WebhookSource } from './webhook-delivery.ts';

const EVENT_TYPE_OF: Partial<Record<BatchRecord['status'], WebhookEventType>> = {
  completed: 'batch.completed',
  failed: 'batch.failed',
  expired: 'batch.expired',
  cancelled: 'batch.cancelled',
};

/**
 * Queues the webhook of a batch that reached a final status, its event built now (the batch object
 * as GET /v1/batches/:id answers it). The event id is the batch's, so announcing twice delivers once.
 */
export async function queueBatchEvent(deliveries: WebhookDeliveries, batch: BatchRecord): Promise<void> {
  const type = EVENT_TYPE_OF[batch.status];
  if (batch.webhookUrl === null || type === undefined) return;
  const source: WebhookSource = { kind: 'batch', batchId: batch.id };
  const eventId = eventIdFor(source);
  const event: WebhookEvent = {
    id: eventId,
    object: 'event',
    created_at: Math.floor(Date.now() / 1_000),
    type,
    data: toBatchObject(batch),
  };
  await deliveries.add({ eventId, tenant: batch.tenant, url: batch.webhookUrl, source, event: JSON.stringify(event) });
}
