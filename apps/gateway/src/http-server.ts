import cors from '@fastify/cors';
import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import { DEFAULT_MAX_BATCH_PROMPTS } from './completion-batch.ts';
import type { BatchApi } from './batches/batch-api.ts';
import { batchRoutes } from './batches/batch-routes.ts';
import { fileRoutes } from './batches/file-routes.ts';
import type { CompletionService } from './completion-service.ts';
import { authenticateApiRequests } from './http-hooks/authentication.ts';
import { refuseLargeBodiesBeforeUpload } from './http-hooks/body-limit.ts';
import { replyWithGatewayErrors } from './http-hooks/error-replies.ts';
import { REQUEST_ID_HEADER, requestIdOf, sendRequestIds } from './http-hooks/request-id.ts';
import { acceptStrictJsonBodies } from './http-hooks/strict-json-body.ts';
import type { JobSubmitter } from './job-submitter.ts';
import type { ModelCatalog } from './model-catalog.ts';
import type { RequestAuthenticator } from './request-authenticator.ts';
import type { RequestDrain } from './request-drain.ts';
import { chatCompletionRoutes } from './routes/chat-completions.ts';
import { completionRoutes } from './routes/completions.ts';
import { healthRoutes, PROBE_PATHS } from './routes/health.ts';
import { jobRoutes } from './routes/jobs.ts';
import { metricsRoutes } from './routes/metrics.ts';
import { modelRoutes } from './routes/models.ts';
import { playgroundRoutes } from './routes/playground.ts';

/** Request bodies above this answer 413 unless DFLEET_MAX_BODY_BYTES says otherwise. */
const DEFAULT_BODY_LIMIT_BYTES = 1_048_576;

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
  /** Origins browsers may call from (`*` = any); null or absent = no CORS headers. */
  corsOrigins?: readonly string[] | null;
  /** /v1/files and /v1/batches. */
  batchApi: BatchApi;
  /** Largest upload to /v1/files (DFLEET_MAX_FILE_BYTES), which the body limit does not bound. */
  maxFileBytes: number;
}

/**
 * The OpenAI-compatible HTTP API plus the jobs API, health probes and the playground page. The hooks apply to every
 * route and are installed first; each route group is a plugin that inherits them.
 */
export function createHttpServer(deps: HttpServerDependencies): FastifyInstance {
  const { service, catalog, submitter, redisPrefix, drain } = deps;
  const bodyLimitBytes = deps.bodyLimitBytes ?? DEFAULT_BODY_LIMIT_BYTES;
  const app = Fastify({
    loggerInstance: deps.logger as FastifyBaseLogger,
    bodyLimit: bodyLimitBytes,
    // Probes run every few seconds; logging each would drown the requests that matter.
    logController: new LogController({ disableRequestLogging: (request) => PROBE_PATHS.has(request.url) }),
    // genReqId reads x-request-id itself, keeping a client's id only when it is a plain token.
    requestIdHeader: false,
    genReqId: requestIdOf,
  });
  sendRequestIds(app);
  const corsOrigins = deps.corsOrigins ?? null;
  if (corsOrigins !== null) {
    app.register(cors, {
      origin: corsOrigins.includes('*') ? '*' : [...corsOrigins],
      methods: ['GET', 'POST', 'DELETE'],
      exposedHeaders: [REQUEST_ID_HEADER, 'retry-after'],
      maxAge: 600,
    });
  }
  acceptStrictJsonBodies(app);
  refuseLargeBodiesBeforeUpload(app, bodyLimitBytes, { path: '/v1/files', limitBytes: deps.maxFileBytes });
  authenticateApiRequests(app, deps.authenticator);
  replyWithGatewayErrors(app, bodyLimitBytes);

  const maxBatchPrompts = deps.maxBatchPrompts ?? DEFAULT_MAX_BATCH_PROMPTS;
  app.register(completionRoutes, { service, catalog, maxBatchPrompts });
  app.register(chatCompletionRoutes, { service, catalog });
  app.register(modelRoutes, { catalog });
  app.register(jobRoutes, { service });
  app.register(fileRoutes, { api: deps.batchApi, maxFileBytes: deps.maxFileBytes });
  app.register(batchRoutes, { api: deps.batchApi });
  app.register(metricsRoutes, { submitter, logger: deps.logger });
  app.register(healthRoutes, { submitter, redisPrefix, drain });
  app.register(playgroundRoutes);
  return app;
}
