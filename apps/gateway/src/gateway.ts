import { pino, type Logger } from 'pino';
import { createRedisConnection, describeJobFailure } from '@dfleet/queue';
import { Queue } from 'bullmq';
import { AdminKey } from './admin/admin-key.ts';
import { BatchApi } from './batches/batch-api.ts';
import { BATCHES_QUEUE } from './batches/batch-keys.ts';
import { toBatchObject, type BatchObject } from './batches/batch-objects.ts';
import { BatchRunner, type BatchJobData } from './batches/batch-runner.ts';
import { startCallbackServer } from './callback-server.ts';
import { CompletionService } from './completion-service.ts';
import type { GatewayConfig } from './config.ts';
import { createGenerationGrpcServer } from './generation-grpc-server.ts';
import { bindInsecure, formatHostPort, shutdownGrpcServer } from './grpc-binding.ts';
import { addServerReflection, GrpcHealth } from './grpc-introspection.ts';
import { createHttpServer } from './http-server.ts';
import { JobSubmitter } from './job-submitter.ts';
import { loadServedModel, ModelCatalog } from './model-catalog.ts';
import { PendingResults } from './pending-results.ts';
import { createGatewayMetrics } from './gateway-metrics.ts';
import { RedisRateLimiter } from './rate-limiter.ts';
import { ApiKeyAuthenticator, OpenAccess, type RequestAuthenticator } from './request-authenticator.ts';
import { RequestDrain } from './request-drain.ts';
import { RequestMetrics } from './request-metrics.ts';
import { WorkerPresence } from './worker-presence.ts';
import { queueBatchEvent } from './webhooks/batch-event.ts';
import { completionEventBuilder } from './webhooks/completion-event.ts';
import { WebhookDeliveries } from './webhooks/webhook-deliveries.ts';

export interface RunningGateway {
  /** e.g. http://127.0.0.1:8080 */
  httpUrl: string;
  /** host:port of the public GenerationService. */
  grpcAddress: string;
  /** host:port workers call back on (DFLEET_CALLBACK_HOST and the bound callback port). */
  callbackAddress: string;
  /** The line `dfleet up` and tests wait for on stdout. */
  readinessLine: string;
  /**
   * Stops accepting requests, lets in-flight ones finish for up to `graceMs` (default
   * config.shutdownTimeoutMs), then closes everything. Safe to call more than once.
   */
  close(graceMs?: number): Promise<void>;
}

export interface StartGatewayOptions {
  /** Defaults to pino JSON on stderr at config.logLevel, keeping stdout for the readiness line. */
  logger?: Logger;
  /**
   * Called once when a batch this gateway's runner drove reaches a final status (completed,
   * failed, expired, cancelled), after that status is in Redis. A no-op by default; errors are
   * logged. Not called again if this gateway dies between the status write and the call. The
   * batch is in the API's shape; `owner.tenant` is the tenant it belongs to.
   */
  onBatchFinished?: (batch: BatchObject, owner: { tenant: string }) => void | Promise<void>;
}

/**
 * Starts the HTTP API, the public gRPC service and the WorkerCallback server. Redis need not be up:
 * requests then answer 503 until it is.
 */
export async function startGateway(config: GatewayConfig, options: StartGatewayOptions = {}): Promise<RunningGateway> {
  const logger = options.logger ?? pino({ level: config.logLevel, base: { service: 'gateway' } }, pino.destination(2));
  const catalog = new ModelCatalog([await loadServedModel(config.modelDir)]);
  const pending = new PendingResults();
  const submitter = new JobSubmitter(
    {
      redis: config.redisTarget,
      prefix: config.redisPrefix,
      redisTimeoutMs: config.redisTimeoutMs,
      replicaAcks: config.redisReplicaAcks,
      logger,
    },
    {
      waitsFor: (jobId) => pending.isUnsettled(jobId),
      completed: (jobId, result) => pending.settle(jobId, { kind: 'completed', result, workerId: result.workerId }),
      failed: (jobId, reason) => pending.settle(jobId, { kind: 'failed', ...describeJobFailure(reason) }),
    },
  );

  const started: (() => Promise<void>)[] = [async () => submitter.close(), async () => pending.close()];
  const closeStarted = async () => {
    for (const stop of started.reverse()) await stop().catch(() => undefined);
  };
  try {
    const authenticator = createAuthenticator(config, submitter, logger);
    started.push(async () => authenticator.close());

    const callback = await startCallbackServer(pending, logger, config.host, config.callbackPort);
    started.push(() => shutdownGrpcServer(callback.server, 0));
    const callbackAddress = formatHostPort(config.callbackHost, callback.port);

    const deliveries =
      config.webhooks === null
        ? null
        : new WebhookDeliveries({
            redis: config.redisTarget,
            prefix: config.redisPrefix,
            settings: config.webhooks,
            logger,
          });
    if (deliveries) started.push(() => deliveries.close());

    const drain = new RequestDrain();
    const metrics = createGatewayMetrics((types) => submitter.countJobs(types), logger);
    const requestMetrics = new RequestMetrics(metrics.metrics);
    const service = new CompletionService({
      submitter,
      pending,
      callbackAddress,
      requestTimeoutMs: config.requestTimeoutMs,
      logger,
      drain,
      workerPresence: new WorkerPresence({ listLiveWorkers: () => submitter.liveWorkers() }),
      metrics: requestMetrics,
      waitingJobLimits: {
        maxWaitingJobs: config.maxWaitingJobs,
        maxWaitingJobsPerTenant: config.maxWaitingJobsPerTenant,
      },
      ...(deliveries && config.webhooks ? { webhooks: { deliveries, hostPolicy: config.webhooks.hostPolicy } } : {}),
    });
    deliveries?.start(completionEventBuilder(service, catalog));

    const batchQueueRedis = createRedisConnection(config.redisTarget, 'producer');
    batchQueueRedis.on('error', () => undefined);
    const batchQueue = new Queue<BatchJobData>(BATCHES_QUEUE, {
      connection: batchQueueRedis,
      prefix: config.redisPrefix,
    });
    batchQueue.on('error', () => undefined);
    started.push(async () => {
      await batchQueue.close().catch(() => undefined);
      batchQueueRedis.disconnect();
    });
    const batchApi = new BatchApi({
      submitter,
      queue: batchQueue,
      prefix: config.redisPrefix,
      maxFileBytes: config.batches.maxFileBytes,
      maxFilesPerTenant: config.batches.maxFilesPerTenant,
      webhookHosts: config.webhooks?.hostPolicy ?? null,
    });
    const onBatchFinished = options.onBatchFinished ?? (() => undefined);
    const batchRunner =
      config.batches.runners === 0
        ? null
        : new BatchRunner({
            redis: config.redisTarget,
            prefix: config.redisPrefix,
            concurrency: config.batches.runners,
            lockDurationMs: config.batches.lockDurationMs,
            service,
            catalog,
            logger,
            window: config.batches.window,
            maxLines: config.batches.maxLines,
            maxBatchPrompts: config.maxBatchPrompts,
            onBatchFinished: async (batch) => {
              await Promise.all([
                deliveries ? queueBatchEvent(deliveries, batch) : undefined,
                onBatchFinished(toBatchObject(batch), { tenant: batch.tenant }),
              ]);
            },
          });
    if (batchRunner !== null) started.push(() => batchRunner.close());

    const grpcServer = createGenerationGrpcServer({
      service,
      catalog,
      authenticator,
      logger,
      maxMessageBytes: config.maxBodyBytes,
      onErrorReply: (code) => requestMetrics.failed(code),
    });
    const grpcHealth = new GrpcHealth({ ping: () => submitter.ping(), logger });
    started.push(async () => grpcHealth.close());
    grpcHealth.addToServer(grpcServer);
    addServerReflection(grpcServer);
    const grpcPort = await bindInsecure(grpcServer, config.host, config.grpcPort);
    started.push(() => shutdownGrpcServer(grpcServer, 0));
    const grpcAddress = formatHostPort(config.host, grpcPort);

    const http = createHttpServer({
      service,
      catalog,
      submitter,
      authenticator,
      bodyLimitBytes: config.maxBodyBytes,
      maxBatchPrompts: config.maxBatchPrompts,
      streamKeepAliveMs: config.streamKeepAliveMs,
      corsOrigins: config.corsOrigins,
      webhookDeliveries: deliveries,
      redisPrefix: config.redisPrefix,
      logger,
      drain,
      queueDashboard:
        config.adminKey === null
          ? null
          : {
              adminKey: new AdminKey(config.adminKey),
              queues: [...submitter.queues, batchQueue, ...(deliveries ? [deliveries.queue] : [])],
            },
      metricsRegistry: metrics.registry,
      requestMetrics,
      batchApi,
      maxFileBytes: config.batches.maxFileBytes,
    });
    await http.listen({ host: config.host, port: config.httpPort });
    const address = http.server.address();
    const httpPort = typeof address === 'object' && address !== null ? address.port : config.httpPort;
    const httpUrl = `http://${formatHostPort(config.host, httpPort)}`;

    let closing: Promise<void> | undefined;
    const close = (graceMs = config.shutdownTimeoutMs): Promise<void> => {
      closing ??= (async () => {
        // While open completions finish, the listeners stay up and new ones get 503 (and /readyz
        // 503), so clients and load balancers move on instead of meeting a refused connection.
        const graceEndsAt = Date.now() + graceMs;
        grpcHealth.drain();
        // Running batches go back to the queue first, so their lines stop holding the drain open.
        await batchRunner?.close();
        let timer: NodeJS.Timeout | undefined;
        const graceOver = () =>
          new Promise<void>((resolve) => {
            timer = setTimeout(resolve, Math.max(0, graceEndsAt - Date.now()));
          });
        if (drain.open > 0)
          logger.info({ openRequests: drain.open, graceMs }, 'draining: refusing new requests while open ones finish');
        await Promise.race([drain.begin(), graceOver()]);
        clearTimeout(timer);
        // Front doors next (in-flight requests still need the callback server), then the rest.
        await Promise.race([
          Promise.all([http.close(), shutdownGrpcServer(grpcServer, Math.max(0, graceEndsAt - Date.now()))]),
          graceOver(),
        ]);
        clearTimeout(timer);
        http.server.closeAllConnections();
        await shutdownGrpcServer(callback.server, 0);
        pending.close();
        grpcHealth.close();
        authenticator.close();
        await deliveries?.close();
        await batchQueue.close().catch(() => undefined);
        batchQueueRedis.disconnect();
        await submitter.close();
        logger.info('gateway closed');
      })();
      return closing;
    };

    const readinessLine = `gateway listening on ${httpUrl} grpc=${grpcAddress} callback=${callbackAddress}`;
    logger.info({ httpUrl, grpcAddress, callbackAddress, models: catalog.names() }, 'gateway started');
    return { httpUrl, grpcAddress, callbackAddress, readinessLine, close };
  } catch (error) {
    await closeStarted();
    throw error;
  }
}

function createAuthenticator(config: GatewayConfig, submitter: JobSubmitter, logger: Logger): RequestAuthenticator {
  if (config.auth.kind === 'off') {
    logger.warn(
      { host: config.host },
      "authentication is off (no DFLEET_API_KEYS_FILE): anyone who reaches this gateway can submit jobs and read any tenant's jobs",
    );
    return new OpenAccess();
  }
  const rateLimiter = new RedisRateLimiter(
    (what, operation) => submitter.withRedis(what, operation),
    config.redisPrefix,
  );
  return new ApiKeyAuthenticator({
    keysFile: config.auth.keysFile,
    defaultRateLimit: config.auth.defaultRateLimit,
    rateLimiter,
    logger,
  });
}
