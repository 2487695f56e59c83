import type { FastifyRequest } from 'fastify';
import { type GatewayError, GenerationTimeoutError, JobCancelledError } from '../errors.ts';

/**
 * OpenAI's SDKs retry 408, 409, 429 and 5xx on their own (twice by default) and obey
 * `x-should-retry`. They send no idempotency key unless the caller sets one, so a retry of a
 * request without a key is a new job: after a 504 that would decode the same prompt again while
 * the first job still runs. `false` where a retry cannot help: a timeout without a key (the job
 * runs on; read it with GET /v1/jobs/:id), and a job someone cancelled (409, which the SDKs
 * take for a lock timeout).
 * @returns the header's value, or null to leave the client's own policy alone.
 */
export function shouldRetry(request: FastifyRequest, error: GatewayError): 'false' | null {
  if (error instanceof JobCancelledError) return 'false';
  if (error instanceof GenerationTimeoutError && !sentIdempotencyKey(request)) return 'false';
  return null;
}

function sentIdempotencyKey(request: FastifyRequest): boolean {
  if (typeof request.headers['idempotency-key'] === 'string') return true;
  const body = request.body;
  return (
    typeof body === 'object' &&
    body !== null &&
    typeof (body as Record<string, unknown>)['idempotency_key'] === 'string'
  );
}
