import { createHmac } from 'node:crypto';

/** Standard Webhooks secrets are `whsec_` followed by the base64 of the key. */
const SECRET_PREFIX = 'whsec_';
/** The spec asks for 24 to 64 random bytes. */
const MIN_KEY_BYTES = 24;
const MAX_KEY_BYTES = 64;
const BASE64 = /^[A-Za-z0-9+/]+={0,2}$/;

/** The HMAC key a `whsec_…` secret encodes; null with the reason when it is not one. */
export function webhookKeyOf(secret: string): { key: Buffer } | { problem: string } {
  if (!secret.startsWith(SECRET_PREFIX)) return { problem: `must start with ${SECRET_PREFIX} (Standard Webhooks)` };
  const encoded = secret.slice(SECRET_PREFIX.length);
  if (!BASE64.test(encoded)) return { problem: `must be ${SECRET_PREFIX} followed by base64` };
  const key = Buffer.from(encoded, 'base64');
  if (key.length < MIN_KEY_BYTES || key.length > MAX_KEY_BYTES) {
    return {
      problem: `must encode ${MIN_KEY_BYTES} to ${MAX_KEY_BYTES} random bytes, not ${key.length} (openssl rand -base64 32)`,
    };
  }
  return { key };
}

/** The three headers of one signed delivery attempt. */
export interface WebhookSignatureHeaders {
  'webhook-id': string;
  'webhook-timestamp': string;
  'webhook-signature': string;
}

/**
 * Signs a body the Standard Webhooks way: `v1,` + base64 HMAC-SHA256 over `id.timestamp.body`.
 * The id stays the same over retries (receivers dedupe on it); the timestamp is each attempt's,
 * so receivers can refuse replays older than their tolerance (the reference uses 5 minutes).
 */
export function signWebhook(
  key: Buffer,
  message: { id: string; timestampSeconds: number; body: string },
): WebhookSignatureHeaders {
  const timestamp = String(message.timestampSeconds);
  const signature = createHmac('sha256', key).update(`${message.id}.${timestamp}.${message.body}`).digest('base64');
  return { 'webhook-id': message.id, 'webhook-timestamp': timestamp, 'webhook-signature': `v1,${signature}` };
}
