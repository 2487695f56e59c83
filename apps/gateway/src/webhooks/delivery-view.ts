import type { Job } from 'bullmq';
import {
  webhookDeliverySchema,
  type WebhookDelivery,
  type WebhookEvent,
  type WebhookEventType,
} from './webhook-delivery.ts';

/** A delivery as the API shows it (GET /v1/webhooks/deliveries…). */
export interface DeliveryView {
  id: string;
  object: 'dfleet.webhook_delivery';
  url: string;
  /** null until the event is built (its source still runs). */
  type: WebhookEventType | null;
  status: 'pending' | 'delivered' | 'failed';
  attempts: number;
  created_at: number;
  last_attempt_at: number | null;
  last_status: number | null;
  last_error: string | null;
  job_id: string | null;
  batch_id: string | null;
}

/** @param state the delivery job's BullMQ state. */
export function viewOf(job: Job<WebhookDelivery>, state: string): DeliveryView {
  const delivery = webhookDeliverySchema.parse(job.data);
  const type = delivery.event === undefined ? null : (JSON.parse(delivery.event) as WebhookEvent).type;
  const last = delivery.lastAttempt;
  return {
    id: delivery.eventId,
    object: 'dfleet.webhook_delivery',
    url: delivery.url,
    type,
    status: state === 'completed' ? 'delivered' : state === 'failed' ? 'failed' : 'pending',
    attempts: delivery.attempts ?? 0,
    created_at: Math.floor(job.timestamp / 1_000),
    last_attempt_at: last ? Math.floor(last.at / 1_000) : null,
    last_status: last?.status ?? null,
    last_error: last?.error ?? null,
    job_id: delivery.source.kind === 'completion' ? delivery.source.jobId : null,
    batch_id: delivery.source.kind === 'batch' ? delivery.source.batchId : null,
  };
}
