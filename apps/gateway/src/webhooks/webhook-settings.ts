import type { WebhookHostPolicy } from './webhook-url.ts';

/** The gateway's webhook configuration (DFLEET_WEBHOOK_*), present when it has a secret. */
export interface WebhookSettings {
  /** HMAC key decoded from DFLEET_WEBHOOK_SECRET; every gateway of a fleet has the same one. */
  readonly key: Buffer;
  readonly hostPolicy: WebhookHostPolicy;
  /** Bound on one POST, connect to answer. */
  readonly timeoutMs: number;
  /** POSTs before an event is undeliverable. */
  readonly attempts: number;
  /** First retry delay; doubled each time (BullMQ exponential backoff, 20% jitter). */
  readonly backoffMs: number;
}
