import type { Job } from 'bullmq';
import type { Denoiser } from '@dfleet/decoder';
import type { LoadedModel } from '@dfleet/model';
import {
  EVICTION_POLICY_SAFE,
  checkEvictionPolicy,
  createRedisConnection,
  describeRedisTarget,
  recordFinishedJob,
  removeWaitingJob,
  type FinishedJob,
  type RedisConnection,
  type RedisTarget,
} from '@dfleet/queue';
import { AdaptiveThresholdPolicy, StepScheduler, type BatchReport, type StepSchedulerStats } from '@dfleet/scheduler';
import { BatchRowsObserver } from './batch-rows.ts';
import { CallbackReporter } from './callback-reporter.ts';
import { isCancelRequested, startCancelWatcher, type CancelWatcher } from './cancel-watcher.ts';
import { ClassWorkers } from './class-workers.ts';
import type { WorkerConfig } from './config.ts';
import { createFailedJobReporter } from './failed-job-reporter.ts';
import { FinishedJobsTally } from './finished-jobs-tally.ts';
import { createGenerationProcessor, INTERRUPTION } from './generation-processor.ts';
import { startHeartbeat, type Heartbeat } from './heartbeat.ts';
import { jobLoggerOf } from './job-logger.ts';
import { loadServedModel } from './load-served-model.ts';
import { JOBS_HANDED_BACK_AT_SHUTDOWN } from './log-messages.ts';
import { createLogger, type Logger } from './logger.ts';
import { WorkerMetrics } from './worker-metrics.ts';

export interface StartWorkerOptions {
  /** @defaultValue pino JSON on stderr at `config.logLevel` */
  readonly logger?: Logger;
  /** Called when the worker cannot go on (its inference thread died); the caller should exit. */
  readonly onFatal?: (error: Error) => void;
  /** Observer of every forward pass (metrics, tests). */
  readonly onBatch?: (report: BatchReport) => void;
  /**
   * Loads what the worker serves in place of `config.modelDir` on `config.device` (benchmarks
   * wire a simulated GPU here; no setting reaches it). @defaultValue the ONNX model on the device
   */
  readonly loadModel?: (config: WorkerConfig) => Promise<WorkerModel>;
}

/** What a worker serves: a loaded model, or anything else with its manifest, tokenizer and a denoiser. */
export type WorkerModel = Pick<LoadedModel, 'manifest' | 'tokenizer' | 'close'> & { readonly denoiser: Denoiser };

export interface RunningWorker {
  readonly workerId: string;
  readonly device: string;
  readonly modelName: string;
  /** Jobs claimed and not yet finished. */
  readonly jobsInFlight: number;
  readonly schedulerStats: StepSchedulerStats;
  /** What the probe server's /metrics serves. */
  readonly metrics: WorkerMetrics;
  /**
   * Graceful stop: removes the heartbeat, stops claiming, lets active jobs finish for up to
   * `shutdownTimeoutMs`, then hands the rest back to the queue, and releases the model and
   * connections. Idempotent.
   */
  close(): Promise<void>;
}

/** Padded lengths round up to this multiple so similar batches share a shape. */
const LENGTH_MULTIPLE = 16;

/** What a started worker holds, in the order `stopWorker` releases it. */
interface WorkerParts {
  readonly config: WorkerConfig;
  readonly logger: Logger;
  readonly model: WorkerModel;
  readonly scheduler: StepScheduler;
  readonly redis: RedisConnection;
  readonly reporter: CallbackReporter;
  readonly workers: ClassWorkers;
  readonly tally: FinishedJobsTally;
}

/**
 * Loads the model and starts claiming generation jobs of both classes. Resolves once the model is
 * loaded and the BullMQ workers are connected.
 * @throws ModelUnavailableError when the model directory does not load, DeviceUnavailableError when
 * DFLEET_DEVICE cannot run it here (nothing is left running in either case).
 */
export async function startWorker(config: WorkerConfig, options: StartWorkerOptions = {}): Promise<RunningWorker> {
  const logger = options.logger ?? createLogger(config.logLevel, config.workerId);
  const tally = new FinishedJobsTally(Date.now());
  const model = await (options.loadModel ?? loadServedModel)(config);
  const startedAt = Date.now();
  const thresholdPolicy = config.adaptiveThreshold ? new AdaptiveThresholdPolicy(config.adaptiveThreshold) : undefined;
  // The gauges read these when scraped, once startWorker resolved.
  let heartbeat: Heartbeat | undefined;
  const metrics = new WorkerMetrics({
    lastHeartbeatAt: () => heartbeat?.lastPublishedAt ?? startedAt,
    jobsInFlight: () => workers.runningJobIds.length,
    thresholdOffset: () => thresholdPolicy?.state.offset ?? 0,
    prefixCacheBytes: () => scheduler.stats.cacheBytes,
  });
  const batchRows = new BatchRowsObserver();
  const { onBatch } = options;
  const scheduler = new StepScheduler({
    denoiser: model.denoiser,
    padId: model.manifest.specialTokens.pad,
    maxBatchTokens: config.maxBatchTokens,
    lengthMultiple: LENGTH_MULTIPLE,
    ...(config.prefixCache ? { prefixCache: config.prefixCache } : {}),
    onBatch: (report) => {
      metrics.batch(report);
      batchRows.observe(report);
      onBatch?.(report);
    },
  });
  const redis = createRedisConnection(config.redisTarget, 'worker');
  redis.on('error', (error) => logger.warn({ err: error.message }, 'redis error'));
  const reporter = new CallbackReporter({
    logger,
    progressIntervalMs: config.progressIntervalMs,
    onRetry: () => metrics.callbackRetried(),
  });
  const workers = new ClassWorkers({
    config,
    processJob: createGenerationProcessor({
      model,
      vocabSize: model.manifest.vocabSize,
      scheduler,
      batchRows,
      reporter,
      workerId: config.workerId,
      logger,
      isCancelRequested: (jobId) => isCancelRequested(redis, config.redisPrefix, jobId),
      ...(thresholdPolicy ? { thresholdPolicy } : {}),
      onFinished: ({ finished, decoded }) => {
        tally.add(finished.tokens, finished.finishedAt);
        recordFinished(redis, config.redisPrefix, finished, logger);
        metrics.decoded(decoded);
      },
    }),
    onStart: (job) => forgetWaiting(redis, config.redisPrefix, job, logger),
    onFailed: createFailedJobReporter({
      workerId: config.workerId,
      reporter,
      logger,
      ...(options.onFatal ? { onFatal: options.onFatal } : {}),
    }),
    logger,
  });
  const parts: WorkerParts = { config, logger, model, scheduler, redis, reporter, workers, tally };
  const started = await startServing(parts);
  heartbeat = started;
  const cancelWatcher = startCancelWatcher({
    redis,
    prefix: config.redisPrefix,
    intervalMs: config.cancelPollIntervalMs,
    activeJobIds: () => workers.runningJobIds,
    onCancelRequested: (jobId) => {
      workers.jobLogger(jobId).info('cancel requested for an active job');
      workers.cancelJob(jobId, INTERRUPTION.cancelRequested);
    },
    logger,
  });
  logStarted(parts);
  void warnUnlessNoEviction(redis, config.redisTarget, logger);

  let closing: Promise<void> | undefined;
  return {
    workerId: config.workerId,
    device: config.device,
    modelName: model.manifest.name,
    get jobsInFlight() {
      return workers.runningJobIds.length;
    },
    get schedulerStats() {
      return scheduler.stats;
    },
    metrics,
    close: () => (closing ??= stopWorker(parts, started, cancelWatcher)),
  };
}

/** Starts claiming and beating; on failure releases everything and rethrows. */
async function startServing(parts: WorkerParts): Promise<Heartbeat> {
  const { config, workers, redis, model, logger, tally } = parts;
  const startedAt = Date.now();
  try {
    await workers.start();
    return await startHeartbeat({
      redis,
      prefix: config.redisPrefix,
      intervalMs: config.heartbeatIntervalMs,
      beat: () => ({
        workerId: config.workerId,
        device: config.device,
        model: model.manifest.name,
        jobsInFlight: workers.runningJobIds.length,
        pid: process.pid,
        startedAt,
        tokensPerSecond: tally.tokensPerSecond(Date.now()),
        jobsCompleted: tally.completed,
      }),
      logger,
    });
  } catch (error) {
    await workers.close(true).catch(() => undefined);
    redis.disconnect();
    await model.close();
    throw error;
  }
}

/**
 * Not awaited: the job's result must not wait on a record only `dfleet status` reads; a lost
 * entry leaves one job out of its percentiles.
 */
function recordFinished(redis: RedisConnection, prefix: string, job: FinishedJob, logger: Logger): void {
  recordFinishedJob(redis, prefix, job).catch((error: Error) =>
    logger.warn({ jobId: job.jobId, err: error.message }, 'could not record a finished job for dfleet status'),
  );
}

/** The job left its tenant's waiting count; a failure here is healed by the gateway's audit. */
function forgetWaiting(redis: RedisConnection, prefix: string, job: Job, logger: Logger): void {
  const tenant = (job.data as { tenant?: unknown } | null)?.tenant;
  if (typeof tenant !== 'string') return;
  removeWaitingJob(redis, prefix, tenant, job.id ?? '').catch((error: Error) =>
    jobLoggerOf(logger, job).warn(
      { err: error.message },
      "could not remove a started job from its tenant's waiting set",
    ),
  );
}

function logStarted({ config, model, logger }: WorkerParts): void {
  logger.info(
    {
      device: config.device,
      model: model.manifest.name,
      maxActiveJobs: config.maxActiveJobs,
      interactiveExtraJobs: config.interactiveExtraJobs,
      maxBatchTokens: config.maxBatchTokens,
      adaptiveThreshold: config.adaptiveThreshold ?? 'off',
    },
    'worker started',
  );
}

/** The graceful stop RunningWorker.close describes. */
async function stopWorker(parts: WorkerParts, heartbeat: Heartbeat, cancelWatcher: CancelWatcher): Promise<void> {
  const { config, logger, workers } = parts;
  // Bounded: with Redis down the delete would wait for the reconnect; the key expires anyway.
  await raceTimeout(heartbeat.stop(), 1_000);
  const drained = workers.close();
  const inTime = await raceTimeout(drained, config.shutdownTimeoutMs);
  if (!inTime) {
    const running = workers.runningJobIds;
    logger.warn({ jobs: running }, JOBS_HANDED_BACK_AT_SHUTDOWN);
    for (const jobId of running) workers.cancelJob(jobId, INTERRUPTION.shutdown);
    await drained;
  }
  cancelWatcher.stop();
  await parts.scheduler.close();
  await parts.reporter.close();
  await parts.model.close();
  await parts.redis.quit().catch(() => parts.redis.disconnect());
  logger.info('worker stopped');
}

/** BullMQ needs `noeviction`: say so loudly at startup when Redis runs another policy or hides it. */
async function warnUnlessNoEviction(redis: RedisConnection, target: RedisTarget, logger: Logger): Promise<void> {
  const check = await checkEvictionPolicy(redis, describeRedisTarget(target));
  if (check.kind === 'safe') logger.info({ check: check.kind }, EVICTION_POLICY_SAFE);
  else logger.warn({ check: check.kind }, check.warning);
}

/** True when `promise` settled within `ms`. */
async function raceTimeout(promise: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<false>((resolve) => {
    timer = setTimeout(() => resolve(false), ms);
  });
  try {
    return await Promise.race([promise.then(() => true), timeout]);
  } finally {
    clearTimeout(timer);
  }
}
