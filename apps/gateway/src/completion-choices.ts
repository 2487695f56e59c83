import { randomUUID } from 'node:crypto';
import type { CompletionRequest } from './completion-request.ts';

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
