import { randomUUID } from 'node:crypto';
import type { CompletionRequest } from './completion-request.ts';
import { requestIdFor } from './request-identity.ts';

/** Seeds are uint32 on the gRPC side: seed + index wraps there rather than leaving the range. */
const SEED_RANGE = 4_294_967_296;

/**
 * One request per choice asked for (`n`): choice i decodes with seed `seed + i` (so at
 * temperature 0 with a deterministic strategy the choices may agree), under an idempotency key
 * derived from the request's key and the index, so a retry with the same key names the same jobs.
 * `n` = 1 is the request itself: its job id is what it was before `n` existed.
 */
export function expandChoices(request: CompletionRequest): CompletionRequest[] {
  const { n } = request.reply;
  if (n === 1) return [request];
  const clientKey = request.idempotencyKey;
  const key = clientKey ?? `choices-${randomUUID()}`;
  return Array.from({ length: n }, (_, index) => ({
    ...request,
    options: { ...request.options, seed: (request.options.seed + index) % SEED_RANGE },
    idempotencyKey: `${key}#n${index}`,
    idempotencyKeyIsFresh: clientKey === null || request.idempotencyKeyIsFresh === true,
  }));
}

/**
 * The choices' requests with their job ids known before anything is enqueued, as a stream needs
 * for its first chunk and its `x-request-id`: a request without a key gets a fresh one.
 */
export function choicesWithJobIds(
  request: CompletionRequest,
  tenant: string,
): { requests: CompletionRequest[]; jobIds: string[] } {
  const keyed: CompletionRequest =
    request.idempotencyKey === null
      ? { ...request, idempotencyKey: `stream-${randomUUID()}`, idempotencyKeyIsFresh: true }
      : request;
  const requests = expandChoices(keyed);
  return { requests, jobIds: requests.map((one) => requestIdFor(tenant, one.idempotencyKey)) };
}
