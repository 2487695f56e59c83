import { randomUUID } from 'node:crypto';
import type { FastifyInstance, FastifyReply } from 'fastify';
import type { IncomingMessage } from 'node:http';

export const REQUEST_ID_HEADER = 'x-request-id';

/** An incoming id is kept only when it is safe to log and to echo in a header. */
const INCOMING_REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

/**
 * Fastify's `genReqId`: the client's own `x-request-id` when it is a plain token, else a new one.
 * (Fastify's `requestIdHeader` would take any value the client sends, unchecked.)
 */
export function requestIdOf(request: IncomingMessage): string {
  const incoming = request.headers[REQUEST_ID_HEADER];
  if (typeof incoming === 'string' && INCOMING_REQUEST_ID.test(incoming)) return incoming;
  return `req-${randomUUID()}`;
}

/**
 * Every response carries `x-request-id`: the request's id from the start (so errors, 401s and
 * unknown routes have it too), replaced by the job id once a route knows it.
 */
export function sendRequestIds(app: FastifyInstance): void {
  app.addHook('onRequest', async (request, reply) => {
    void reply.header(REQUEST_ID_HEADER, request.id);
  });
}

/** The job that answers this request: its id is what GET /v1/jobs/:id and the logs know it by. */
export function setJobRequestId(reply: FastifyReply, jobId: string): void {
  void reply.header(REQUEST_ID_HEADER, jobId);
}
