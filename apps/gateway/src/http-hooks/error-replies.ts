import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import {
  GatewayError,
  GenerationFailedError,
  GenerationTimeoutError,
  JobCancelledError,
  InternalGatewayError,
  InvalidRequestError,
  RouteNotFoundError,
  UnsupportedMediaTypeError,
} from '../errors.ts';
import { bodyTooLarge } from './body-limit.ts';
import { setJobRequestId } from './request-id.ts';
import { shouldRetry } from './retry-advice.ts';

/** Called with the code of every error reply (metrics). */
export type ErrorReplyObserver = (code: string) => void;

function sendError(request: FastifyRequest, reply: FastifyReply, error: GatewayError): FastifyReply {
  if (error.retryAfterSeconds !== null) void reply.header('retry-after', String(error.retryAfterSeconds));
  // An error about a job names it, as a success does: the job is what GET /v1/jobs/:id reads.
  const inner = error.cause instanceof GatewayError ? error.cause : error;
  if (
    inner instanceof GenerationTimeoutError ||
    inner instanceof GenerationFailedError ||
    inner instanceof JobCancelledError
  ) {
    setJobRequestId(reply, inner.jobId);
  }
  const retry = shouldRetry(request, error);
  if (retry !== null) void reply.header('x-should-retry', retry);
  return reply.code(error.httpStatus).send(error.toResponseBody());
}

/** Fastify's own failures (body too large, wrong media type) in the OpenAI error shape. */
function fromFastifyError(error: FastifyError, bodyLimitBytes: number): GatewayError {
  switch (error.code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return bodyTooLarge(bodyLimitBytes);
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
    case 'FST_ERR_CTP_INVALID_CONTENT_LENGTH':
      return error.statusCode === 415
        ? new UnsupportedMediaTypeError('Content-Type must be application/json', null)
        : new InvalidRequestError(error.message, null);
    default:
      if (error.statusCode !== undefined && error.statusCode >= 400 && error.statusCode < 500) {
        return new InvalidRequestError(error.message, null);
      }
      return new InternalGatewayError('internal error; see the gateway log', null);
  }
}

/**
 * Answers every failure, a GatewayError, one of Fastify's own or an unknown route, in the OpenAI
 * error shape with the error's status (and Retry-After); logs only the unexpected ones.
 */
export function replyWithGatewayErrors(
  app: FastifyInstance,
  bodyLimitBytes: number,
  onErrorReply: ErrorReplyObserver,
): void {
  const send = (request: FastifyRequest, reply: FastifyReply, error: GatewayError) => {
    onErrorReply(error.code);
    return sendError(request, reply, error);
  };
  app.setErrorHandler((error: FastifyError, request, reply) => {
    if (error instanceof GatewayError) return send(request, reply, error);
    const mapped = fromFastifyError(error, bodyLimitBytes);
    if (mapped instanceof InternalGatewayError) request.log.error({ err: error }, 'unexpected error in HTTP handler');
    return send(request, reply, mapped);
  });
  // Not counted: a path no route serves is no request of the API (scanners would fill the metric).
  app.setNotFoundHandler((request, reply) =>
    sendError(
      request,
      reply,
      new RouteNotFoundError(
        `no route ${request.method} ${request.url.split('?')[0]}; see POST /v1/completions, POST /v1/chat/completions, GET /v1/models, ` +
          'GET|DELETE /v1/jobs/:id, POST|GET /v1/files, GET /v1/files/:id[/content], DELETE /v1/files/:id, POST|GET /v1/batches, GET /v1/batches/:id, POST /v1/batches/:id/cancel, GET /healthz, GET /readyz, GET /playground',
      ),
    ),
  );
}
