import { createHash, randomUUID } from 'node:crypto';
import { TENANT_PATTERN } from '@dfleet/api-keys';
import { InvalidRequestError } from './errors.ts';

/** HTTP header (and gRPC metadata key) naming the tenant a request belongs to. */
export const TENANT_HEADER = 'x-dfleet-tenant';
export const DEFAULT_TENANT = 'default';

/** The tenant from a header or metadata value; absent means the default tenant. */
export function parseTenant(value: string | string[] | undefined): string {
  const tenant = Array.isArray(value) ? value[0] : value;
  if (tenant === undefined || tenant === '') return DEFAULT_TENANT;
  if (!TENANT_PATTERN.test(tenant)) {
    throw new InvalidRequestError(`${TENANT_HEADER} must be 1 to 128 letters, digits, "_", "." or "-"`, TENANT_HEADER);
  }
  return tenant;
}

/**
 * The request id, which is also the BullMQ job id. With an idempotency key it is derived from
 * tenant and key, so a resubmission names the same job; the tenant cannot contain ':', so the
 * separator keeps ("a", "b:c") and ("a:b", "c") apart.
 */
export function requestIdFor(tenant: string, idempotencyKey: string | null): string {
  if (idempotencyKey === null) return `cmpl-${randomUUID()}`;
  const digest = createHash('sha256').update(`${tenant}:${idempotencyKey}`).digest('hex');
  return `idem-${digest.slice(0, 32)}`;
}

/** Whether the id was derived from an idempotency key, so another request may name the same job. */
export function isIdempotentRequestId(requestId: string): boolean {
  return requestId.startsWith('idem-');
}
