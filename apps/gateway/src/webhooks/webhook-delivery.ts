import { z } from 'zod';

/** The BullMQ queue of webhook deliveries, under the fleet's prefix; every gateway with a secret works it. */
export const WEBHOOKS_QUEUE = 'webhooks';

/** Event types, after OpenAI's webhook events (`batch.completed`, …). */
const WEBHOOK_EVENT_TYPES = [
  'completion.completed',
  'completion.failed',
  'batch.completed',
  'batch.failed',
  'batch.expired',
  'batch.cancelled',
] as const;
export type WebhookEventType = (typeof WEBHOOK_EVENT_TYPES)[number];

/** What a receiver gets, as JSON: the same id on every retry (`webhook-id` too). */
export interface WebhookEvent {
  id: string;
  object: 'event';
  /** Epoch seconds when the event was first built. */
  created_at: number;
  type: WebhookEventType;
  /** The completion response body (or the failed job), or the batch object. */
  data: Record<string, unknown>;
}

const lastAttemptSchema = z.object({
  at: z.number(),
  /** HTTP status of the receiver's answer; null when it gave none. */
  status: z.number().nullable(),
  error: z.string().nullable(),
});
export type DeliveryAttempt = z.output<typeof lastAttemptSchema>;

/** What the event is about: a completion job (built when the job ends), or a batch (built when it is queued). */
const sourceSchema = z.discriminatedUnion('kind', [
  z.object({
    kind: z.literal('completion'),
    jobId: z.string(),
    /** The body the request would have been answered with, had it waited. */
    object: z.enum(['text_completion', 'chat.completion']),
    echo: z.boolean(),
  }),
  z.object({ kind: z.literal('batch'), batchId: z.string() }),
]);
export type WebhookSource = z.output<typeof sourceSchema>;

/** A delivery job's data (validated when a gateway reads it back). */
export const webhookDeliverySchema = z.object({
  eventId: z.string(),
  tenant: z.string(),
  url: z.string(),
  source: sourceSchema,
  /** The event's JSON as first sent: every retry sends these bytes. Absent until the job ends. */
  event: z.string().optional(),
  lastAttempt: lastAttemptSchema.optional(),
  /** POSTs made so far, over retries. */
  attempts: z.number().optional(),
});
export type WebhookDelivery = z.output<typeof webhookDeliverySchema>;

/**
 * The event (and delivery) id of a source. One per source, so a resubmission with the same idempotency
 * key, or a second gateway adding it, is the same delivery (BullMQ dedupes by job id; ids hold no `:`).
 */
export function eventIdFor(source: WebhookSource): string {
  return `evt_${source.kind === 'completion' ? source.jobId : source.batchId}`;
}

/** A tenant's undeliverable events by failure time, so listing them reads that tenant's alone. Braces: see tenantWaitingKey. */
export function failedDeliveriesKey(prefix: string, tenant: string): string {
  return `${prefix}:{tenant:${tenant}}:webhooks-failed`;
}
