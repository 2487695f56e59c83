import cors from '@fastify/cors';
import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import type { AdminKey } from './admin/admin-key.ts';
import type { Queue } from 'bullmq';
import type { Registry } from 'prom-client';
import { DEFAULT_MAX_BATCH_PROMPTS } from './completion-batch.ts';
import type { BatchApi } from './batches/batch-api.ts';
import { batchRoutes } from './batches/batch-routes.ts';
import { fileRoutes } from './batches/file-routes.ts';
import type { CompletionService } from './completion-service.ts';
import { authenticateApiRequests } from './http-hooks/authentication.ts';
import { refuseLargeBodiesBeforeUpload } from './http-hooks/body-limit.ts';
import { replyWithGatewayErrors } from './http-hooks/error-replies.ts';
import { REQUEST_ID_HEADER, requestIdOf, sendRequestIds } from './http-hooks/request-id.ts';
import { logOneLinePerRequest } from './http-hooks/request-log.ts';
import { traceCompletionRequests } from './http-hooks/request-spans.ts';
import { acceptStrictJsonBodies } from './http-hooks/strict-json-body.ts';
import type { JobSubmitter } from './job-submitter.ts';
import type { ModelCatalog } from './model-catalog.ts';
import type { RequestAuthenticator } from './request-authenticator.ts';
import type { RequestDrain } from './request-drain.ts';
import type { RequestMetrics } from './request-metrics.ts';
import { chatCompletionRoutes } from './routes/chat-completions.ts';
import { completionRoutes } from './routes/completions.ts';
import { healthRoutes, PROBE_PATHS } from './routes/health.ts';
import { jobRoutes } from './routes/jobs.ts';
import { metricsRoutes } from './routes/metrics.ts';
import { modelRoutes } from './routes/models.ts';
import type { StreamSettings } from './routes/openai-stream.ts';
import { playgroundRoutes } from './routes/playground.ts';
import { QUEUE_DASHBOARD_PATH, queueDashboardRoutes } from './routes/queue-dashboard.ts';
import { webhookDeliveryRoutes } from './routes/webhook-deliveries.ts';
import type { WebhookDeliveries } from './webhooks/webhook-deliveries.ts';

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
  /** See DFLEET_STREAM_KEEPALIVE_MS; null = none. @defaultValue null */
  streamKeepAliveMs?: number | null;
  /** The registry GET /metrics serves. */
  metricsRegistry: Registry;
  /** Counts error replies by code. */
  requestMetrics: RequestMetrics;
  /** When given, /readyz answers 503 once a shutdown began. */
  drain?: RequestDrain;
  /** Origins browsers may call from (`*` = any); null or absent = no CORS headers. */
  corsOrigins?: readonly string[] | null;
  /**
   * The queue dashboard, behind DFLEET_ADMIN_KEY, over every BullMQ queue this gateway uses;
   * null or absent = no dashboard (404).
   */
  queueDashboard?: { adminKey: AdminKey; queues: readonly Queue[] } | null;
  /** Webhook deliveries of the gateway's tenants; null or absent = no webhook secret. */
  webhookDeliveries?: WebhookDeliveries | null;
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
    // Fastify's two lines per request (incoming, completed) become one: logOneLinePerRequest.
    logController: new LogController({ disableRequestLogging: true }),
    // genReqId reads x-request-id itself, keeping a client's id only when it is a plain token.
    requestIdHeader: false,
    genReqId: requestIdOf,
  });
  sendRequestIds(app);
  // Probes run every few seconds and the dashboard polls: logging each at info would drown the
  // requests that matter. A refused dashboard login is not quiet: it may be someone guessing the key.
  logOneLinePerRequest(app, {
    isQuiet: (path, status) => PROBE_PATHS.has(path) || (path.startsWith(QUEUE_DASHBOARD_PATH) && status < 400),
  });
  traceCompletionRequests(app);
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
  const countFailure = (code: string) => deps.requestMetrics.failed(code);
  replyWithGatewayErrors(app, bodyLimitBytes, countFailure);

  const maxBatchPrompts = deps.maxBatchPrompts ?? DEFAULT_MAX_BATCH_PROMPTS;
  const streaming: StreamSettings = { onStreamError: countFailure, keepAliveMs: deps.streamKeepAliveMs ?? null };
  app.register(completionRoutes, { service, catalog, maxBatchPrompts, streaming });
  app.register(chatCompletionRoutes, { service, catalog, streaming });
  app.register(modelRoutes, { catalog });
  app.register(jobRoutes, { service });
  app.register(metricsRoutes, { registry: deps.metricsRegistry });
  app.register(webhookDeliveryRoutes, { deliveries: deps.webhookDeliveries ?? null, submitter });
  app.register(fileRoutes, { api: deps.batchApi, maxFileBytes: deps.maxFileBytes });
  app.register(batchRoutes, { api: deps.batchApi });
  app.register(healthRoutes, { submitter, redisPrefix, drain });
  app.register(playgroundRoutes);
  if (deps.queueDashboard) {
    app.register(queueDashboardRoutes, deps.queueDashboard);
  }
  return app;
}
