import type { Job } from 'bullmq';
import type { Denoiser } from '@dfleet/decoder';
import type { LoadedModel } from '@dfleet/model';
import {
  EVICTION_POLICY_SAFE,
  checkEvictionPolicy,
  createRedisConnection,
  describeRedisTarget,
  removeWaitingJob,
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
import { createGenerationProcessor, INTERRUPTION } from './generation-processor.ts';
import { startHeartbeat, type Heartbeat } from './heartbeat.ts';
import { loadServedModel } from './load-served-model.ts';
import { JOBS_HANDED_BACK_AT_SHUTDOWN } from './log-messages.ts';
import { createLogger, type Logger } from './logger.ts';

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
}

/**
 * Loads the model and starts claiming generation jobs of both classes. Resolves once the model is
 * loaded and the BullMQ workers are connected.
 * @throws ModelUnavailableError when the model directory does not load, DeviceUnavailableError when
 * DFLEET_DEVICE cannot run it here (nothing is left running in either case).
 */
export async function startWorker(config: WorkerConfig, options: StartWorkerOptions = {}): Promise<RunningWorker> {
  const logger = options.logger ?? createLogger(config.logLevel, config.workerId);
  const model = await (options.loadModel ?? loadServedModel)(config);
  const batchRows = new BatchRowsObserver();
  const { onBatch } = options;
  const scheduler = new StepScheduler({
    denoiser: model.denoiser,
    padId: model.manifest.specialTokens.pad,
    maxBatchTokens: config.maxBatchTokens,
    lengthMultiple: LENGTH_MULTIPLE,
    onBatch: onBatch
      ? (report) => {
          batchRows.observe(report);
          onBatch(report);
        }
      : (report) => batchRows.observe(report),
  });
  const redis = createRedisConnection(config.redisTarget, 'worker');
  redis.on('error', (error) => logger.warn({ err: error.message }, 'redis error'));
  const reporter = new CallbackReporter({ logger, progressIntervalMs: config.progressIntervalMs });
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
      ...(config.adaptiveThreshold ? { thresholdPolicy: new AdaptiveThresholdPolicy(config.adaptiveThreshold) } : {}),
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
  const parts: WorkerParts = { config, logger, model, scheduler, redis, reporter, workers };
  const heartbeat = await startServing(parts);
  const cancelWatcher = startCancelWatcher({
    redis,
    prefix: config.redisPrefix,
    intervalMs: config.cancelPollIntervalMs,
    activeJobIds: () => workers.runningJobIds,
    onCancelRequested: (jobId) => workers.cancelJob(jobId, INTERRUPTION.cancelRequested),
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
    close: () => (closing ??= stopWorker(parts, heartbeat, cancelWatcher)),
  };
}

/** Starts claiming and beating; on failure releases everything and rethrows. */
async function startServing(parts: WorkerParts): Promise<Heartbeat> {
  const { config, workers, redis, model, logger } = parts;
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

/** The job left its tenant's waiting count; a failure here is healed by the gateway's audit. */
function forgetWaiting(redis: RedisConnection, prefix: string, job: Job, logger: Logger): void {
  const tenant = (job.data as { tenant?: unknown } | null)?.tenant;
  if (typeof tenant !== 'string') return;
  removeWaitingJob(redis, prefix, tenant, job.id ?? '').catch((error: Error) =>
    logger.warn({ jobId: job.id, err: error.message }, "could not remove a started job from its tenant's waiting set"),
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
