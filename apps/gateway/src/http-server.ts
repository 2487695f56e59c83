import type { IncomingMessage, ServerResponse } from 'node:http';
import Fastify, { LogController, type FastifyBaseLogger, type FastifyError, type FastifyInstance, type FastifyReply } from 'fastify';
import type { Logger } from 'pino';
import { parseCompletionRequest } from './completion-request.ts';
import { BatchPromptError, DEFAULT_MAX_BATCH_PROMPTS, parseCompletionBatch, type CompletionBatch } from './completion-batch.ts';
import { toBatchCompletionResponseBody, toCompletionResponseBody, type FinishedGeneration } from './completion-response.ts';
import type { CompletionService, JobView } from './completion-service.ts';
import {
  GatewayError,
  InternalGatewayError,
  InvalidRequestError,
  NotReadyError,
  PayloadTooLargeError,
  RouteNotFoundError,
  UnsupportedMediaTypeError,
} from './errors.ts';
import type { JobSubmitter } from './job-submitter.ts';
import type { ModelCatalog, ServedModel } from './model-catalog.ts';
import type { RequestDrain } from './request-drain.ts';
import { WaitAbortedError } from './pending-results.ts';
import type { Caller, RequestAuthenticator } from './request-authenticator.ts';
import { TENANT_HEADER } from './request-identity.ts';

declare module 'fastify' {
  interface FastifyRequest {
    /** Set by the authentication hook on every /v1/ route. */
    caller: Caller | null;
  }
}

const PROBE_PATHS = new Set(['/healthz', '/readyz']);

/** Request bodies above this answer 413 unless DFLEET_MAX_BODY_BYTES says otherwise. */
const DEFAULT_BODY_LIMIT_BYTES = 1_048_576;

const strictUtf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: false });

export interface HttpServerDependencies {
  service: CompletionService;
  catalog: ModelCatalog;
  submitter: JobSubmitter;
  redisPrefix: string;
  logger: Logger;
  authenticator: RequestAuthenticator;
  /** @defaultValue DEFAULT_BODY_LIMIT_BYTES */
  bodyLimitBytes?: number;
  /** Most prompts in one request (`prompt` as an array). @defaultValue DEFAULT_MAX_BATCH_PROMPTS */
  maxBatchPrompts?: number;
  /** When given, /readyz answers 503 once a shutdown began. */
  drain?: RequestDrain;
}

function sendError(reply: FastifyReply, error: GatewayError): FastifyReply {
  if (error.retryAfterSeconds !== null) void reply.header('retry-after', String(error.retryAfterSeconds));
  return reply.code(error.httpStatus).send(error.toResponseBody());
}

const bodyTooLarge = (limit: number) => new PayloadTooLargeError(`request body is larger than ${limit} bytes (DFLEET_MAX_BODY_BYTES)`, null);

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

function modelEntry(model: ServedModel) {
  return {
    id: model.name,
    object: 'model' as const,
    created: model.createdAt,
    owned_by: 'dfleet',
    dfleet: {
      max_sequence_length: model.maxSequenceLength,
      defaults: { max_tokens: model.defaults.maxNewTokens, block_length: model.defaults.blockLength },
    },
  };
}

function jobBody(view: JobView) {
  return {
    id: view.id,
    object: 'dfleet.job' as const,
    state: view.state,
    result: view.result ? toCompletionResponseBody(view.result) : null,
    error: view.error,
    progress: view.progress
      ? {
          step: view.progress.step,
          committed_tokens: view.progress.committedTokens,
          total_tokens: view.progress.totalTokens,
          partial_text: view.progress.partialText,
        }
      : null,
  };
}

/** The OpenAI-compatible HTTP API plus the jobs API and health probes. */
export function createHttpServer(deps: HttpServerDependencies): FastifyInstance {
  const { service, catalog, submitter, redisPrefix, logger, drain, authenticator } = deps;
  const bodyLimitBytes = deps.bodyLimitBytes ?? DEFAULT_BODY_LIMIT_BYTES;
  const maxBatchPrompts = deps.maxBatchPrompts ?? DEFAULT_MAX_BATCH_PROMPTS;
  const app = Fastify({
    loggerInstance: logger as FastifyBaseLogger,
    bodyLimit: bodyLimitBytes,
    // Probes run every few seconds; logging each would drown the requests that matter.
    logController: new LogController({ disableRequestLogging: (request) => PROBE_PATHS.has(request.url) }),
  });
  // Only JSON bodies, and only valid UTF-8 JSON: Fastify's own parser would turn invalid bytes
  // into U+FFFD and run a request the client never sent.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('application/json', { parseAs: 'buffer' }, (request, body, done) => {
    const charset = /;\s*charset\s*=\s*"?([^";\s]+)/i.exec(request.headers['content-type'] ?? '')?.[1];
    if (charset !== undefined && charset.toLowerCase() !== 'utf-8' && charset.toLowerCase() !== 'utf8') {
      done(new UnsupportedMediaTypeError(`Content-Type charset must be utf-8, not '${charset}'`, null));
      return;
    }
    let text: string;
    try {
      text = strictUtf8.decode(body as Buffer);
    } catch {
      done(new InvalidRequestError('request body is not valid UTF-8; send JSON encoded as UTF-8', null));
      return;
    }
    if (text.trim() === '') {
      done(new InvalidRequestError('request body is empty; send a JSON object', null));
      return;
    }
    try {
      done(null, JSON.parse(text));
    } catch (error) {
      done(new InvalidRequestError(`request body is not valid JSON: ${(error as Error).message}`, null));
    }
  });

  // A client that asks before sending (`Expect: 100-continue`, as curl does for large bodies)
  // learns of the 413 before it uploads anything; Node would otherwise say "continue" at once.
  app.server.on('checkContinue', (request: IncomingMessage, response: ServerResponse) => {
    const length = Number(request.headers['content-length']);
    if (Number.isFinite(length) && length > bodyLimitBytes) {
      const error = bodyTooLarge(bodyLimitBytes);
      response.writeHead(error.httpStatus, { 'content-type': 'application/json; charset=utf-8', connection: 'close' });
      response.end(JSON.stringify(error.toResponseBody()));
      return;
    }
    response.writeContinue();
    app.server.emit('request', request, response);
  });

  app.decorateRequest('caller', null);
  // Authentication runs before the body is read, so an unauthenticated client cannot make the
  // gateway parse a large body; probes and unknown routes need no key.
  app.addHook('onRequest', async (request) => {
    if (!request.url.startsWith('/v1/') || request.routeOptions.url === undefined) return;
    const authorization = request.headers.authorization;
    const tenant = request.headers[TENANT_HEADER];
    request.caller = await authenticator.authenticate({
      authorization,
      tenant: Array.isArray(tenant) ? tenant[0] : tenant,
    });
  });
  const callerOf = (request: { caller: Caller | null }): Caller => {
    if (request.caller === null) throw new InternalGatewayError('route reached without authentication');
    return request.caller;
  };

  app.setErrorHandler((error: FastifyError, request, reply) => {
    if (error instanceof GatewayError) return sendError(reply, error);
    const mapped = fromFastifyError(error, bodyLimitBytes);
    if (mapped instanceof InternalGatewayError) request.log.error({ err: error }, 'unexpected error in HTTP handler');
    return sendError(reply, mapped);
  });
  app.setNotFoundHandler((request, reply) =>
    sendError(
      reply,
      new RouteNotFoundError(
        `no route ${request.method} ${request.url.split('?')[0]}; see POST /v1/completions, GET /v1/models, GET|DELETE /v1/jobs/:id, GET /healthz, GET /readyz`,
      ),
    ),
  );

  app.post('/v1/completions', async (request, reply) => {
    const { tenant } = callerOf(request);
    const header = request.headers['idempotency-key'];
    const context = { idempotencyKeyHeader: typeof header === 'string' ? header : null };
    const batch = parseCompletionBatch(request.body, catalog, { ...context, tenant, maxBatchPrompts });
    const completion = batch === null ? parseCompletionRequest(request.body, catalog, context) : null;
    // A client that hangs up stops waiting; the job itself still runs and stays readable.
    const clientGone = new AbortController();
    reply.raw.on('close', () => {
      if (!reply.raw.writableEnded) clientGone.abort();
    });
    try {
      if (completion !== null) {
        const finished = await service.complete(completion, { tenant, signal: clientGone.signal });
        return reply.code(200).send(toCompletionResponseBody(finished));
      }
      const { requests, jobIds } = batch as CompletionBatch;
      const outcomes = await Promise.allSettled(requests.map((item) => service.complete(item, { tenant, signal: clientGone.signal })));
      if (clientGone.signal.aborted) return reply;
      const failedAt = outcomes.findIndex((outcome) => outcome.status === 'rejected');
      if (failedAt === -1) {
        return reply.code(200).send(toBatchCompletionResponseBody(outcomes.map((outcome) => (outcome as PromiseFulfilledResult<FinishedGeneration>).value)));
      }
      const failure = (outcomes[failedAt] as PromiseRejectedResult).reason as unknown;
      if (!(failure instanceof GatewayError)) throw failure;
      const failures = outcomes.filter((outcome) => outcome.status === 'rejected').length;
      throw new BatchPromptError(
        failedAt,
        failure,
        `prompt[${failedAt}] (job ${jobIds[failedAt]}): ${failure.message}; ${failures} of ${requests.length} prompts failed. ` +
          `This batch's jobs are ${jobIds.join(', ')}: read each with GET /v1/jobs/:id, or resubmit with the same idempotency key`,
      );
    } catch (error) {
      if (error instanceof WaitAbortedError) return reply;
      throw error;
    }
  });

  app.get('/v1/models', async () => ({ object: 'list', data: catalog.list().map(modelEntry) }));

  app.get<{ Params: { id: string } }>('/v1/models/:id', async (request) => modelEntry(catalog.get(request.params.id)));

  app.get<{ Params: { id: string } }>('/v1/jobs/:id', async (request) =>
    jobBody(await service.getJob(request.params.id, callerOf(request).tenant)),
  );

  app.delete<{ Params: { id: string } }>('/v1/jobs/:id', async (request) => {
    const outcome = await service.cancel(request.params.id, callerOf(request).tenant);
    return { id: outcome.id, object: 'dfleet.job.cancellation', cancelled: outcome.cancelled, state: outcome.state };
  });

  app.get('/healthz', async () => ({ status: 'ok' }));

  app.get('/readyz', async (_request, reply) => {
    if (drain?.draining) throw new NotReadyError('not ready: this gateway is shutting down');
    let workers: Awaited<ReturnType<JobSubmitter['liveWorkers']>>;
    try {
      await submitter.ping();
      workers = await submitter.liveWorkers();
    } catch (error) {
      throw new NotReadyError(`not ready: ${(error as Error).message}`);
    }
    if (workers.length === 0) {
      throw new NotReadyError(
        `not ready: no live worker (no heartbeat under Redis prefix '${redisPrefix}' in the last 10 s); start a worker`,
      );
    }
    return reply.code(200).send({
      status: 'ready',
      redis: 'ok',
      workers: workers.map((w) => ({ id: w.workerId, device: w.device, model: w.model, jobs_in_flight: w.jobsInFlight })),
    });
  });

  return app;
}
