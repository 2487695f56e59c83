import { UnrecoverableError, Worker, type Job } from 'bullmq';
import { Redis } from 'ioredis';
import { ExecutionProviderUnavailableError, loadModel, parseDevice, type LoadedModel } from '@dfleet/model';
import { EVICTION_POLICY_SAFE, GENERATION_QUEUE, checkEvictionPolicy, describeJobFailure, generationJobSchema, redisOptionsFor, type GenerationResult } from '@dfleet/queue';
import { AdaptiveThresholdPolicy, StepScheduler, type BatchReport, type StepSchedulerStats } from '@dfleet/scheduler';
import { CallbackReporter } from './callback-reporter.ts';
import { isCancelRequested, startCancelWatcher } from './cancel-watcher.ts';
import type { WorkerConfig } from './config.ts';
import { DeviceUnavailableError, JobRejectedError, ModelUnavailableError } from './errors.ts';
import { createGenerationProcessor, INTERRUPTION } from './generation-processor.ts';
import { startHeartbeat } from './heartbeat.ts';
import { InteractiveExpressLane } from './interactive-express-lane.ts';
import { JOB_FAILED, JOBS_HANDED_BACK_AT_SHUTDOWN } from './log-messages.ts';
import { createLogger, type Logger } from './logger.ts';

export interface StartWorkerOptions {
  /** @defaultValue pino JSON on stderr at `config.logLevel` */
  readonly logger?: Logger;
  /** Called when the worker cannot go on (its inference thread died); the caller should exit. */
  readonly onFatal?: (error: Error) => void;
  /** Observer of every forward pass (metrics, tests). */
  readonly onBatch?: (report: BatchReport) => void;
}

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

/** One of the BullMQ workers of a worker process: the regular one, or an express lane. */
interface BullWorkerRole {
  readonly name: string;
  readonly concurrency: number;
  readonly lane: boolean;
  readonly onStart?: () => void;
  readonly onEnd?: () => void;
}

/** Padded lengths round up to this multiple so similar batches share a shape. */
const LENGTH_MULTIPLE = 16;

/**
 * Loads the model and starts claiming generation jobs. Resolves once the model is loaded and the
 * BullMQ worker is connected.
 * @throws ModelUnavailableError when the model directory does not load, DeviceUnavailableError when
 * DFLEET_DEVICE cannot run it here (nothing is left running in either case).
 */
export async function startWorker(config: WorkerConfig, options: StartWorkerOptions = {}): Promise<RunningWorker> {
  const logger = options.logger ?? createLogger(config.logLevel, config.workerId);
  const model = await loadServedModel(config);
  const { manifest } = model;

  const scheduler = new StepScheduler({
    denoiser: model.denoiser,
    padId: manifest.specialTokens.pad,
    maxBatchTokens: config.maxBatchTokens,
    lengthMultiple: LENGTH_MULTIPLE,
    ...(options.onBatch ? { onBatch: options.onBatch } : {}),
  });
  const redis = new Redis(redisOptionsFor(config.redisUrl, 'worker'));
  redis.on('error', (error) => logger.warn({ err: error.message }, 'redis error'));
  const reporter = new CallbackReporter({ logger, progressIntervalMs: config.progressIntervalMs });
  const inFlight = new Set<string>();
  const processJob = createGenerationProcessor({
    model,
    vocabSize: manifest.vocabSize,
    scheduler,
    reporter,
    workerId: config.workerId,
    logger,
    isCancelRequested: (jobId) => isCancelRequested(redis, config.redisPrefix, jobId),
    ...(config.adaptiveThreshold ? { thresholdPolicy: new AdaptiveThresholdPolicy(config.adaptiveThreshold) } : {}),
  });

  let regularJobs = 0;
  /**
   * One BullMQ worker over the shared processor; `onStart`/`onEnd` run as each of its jobs begins
   * and ends. A lane only claims: the regular worker checks for stalled jobs.
   */
  const createBullWorker = ({ name, concurrency, lane, onStart, onEnd }: BullWorkerRole) =>
    new Worker<unknown, GenerationResult>(
      GENERATION_QUEUE,
      // Three declared parameters: BullMQ passes an AbortSignal only to processors that take one.
      async (job: Job<unknown, GenerationResult>, token: string | undefined, signal: AbortSignal | undefined) => {
        const id = job.id ?? '';
        inFlight.add(id);
        onStart?.();
        try {
          return await processJob(job, token, signal);
        } finally {
          inFlight.delete(id);
          onEnd?.();
        }
      },
      {
        connection: redisOptionsFor(config.redisUrl, 'worker'),
        prefix: config.redisPrefix,
        name,
        concurrency,
        // Renewed every lockDuration / 2 from this event loop, which the scheduler never blocks
        // for long: forward passes run in the denoiser's own thread.
        lockDuration: config.lockDurationMs,
        stalledInterval: config.stalledIntervalMs,
        maxStalledCount: config.maxStalledCount,
        skipStalledCheck: lane,
        autorun: false,
      },
    );
  const worker = createBullWorker({
    name: config.workerId,
    concurrency: config.maxActiveJobs,
    lane: false,
    onStart: () => (regularJobs += 1),
    onEnd: () => (regularJobs -= 1),
  });
  const lanes: Worker<unknown, GenerationResult>[] = [];
  const expressLane = new InteractiveExpressLane({
    redis,
    lanes,
    regularSlotsFull: () => regularJobs >= config.maxActiveJobs,
    logger,
  });
  for (let index = 0; index < config.interactiveExtraJobs; index += 1) {
    const lane: Worker<unknown, GenerationResult> = createBullWorker({
      name: `${config.workerId}-express-${index}`,
      concurrency: 1,
      lane: true,
      onStart: () => expressLane.onClaimed(lane),
    });
    lanes.push(lane);
  }
  const allWorkers = [worker, ...lanes];
  const cancelJob = (jobId: string, reason: string) => {
    for (const each of allWorkers) each.cancelJob(jobId, reason);
  };

  for (const each of allWorkers) {
    each.on('error', (error) => logger.error({ err: error.message }, 'worker error'));
    each.on('lockRenewalFailed', (jobIds) => {
      for (const jobId of jobIds) {
        logger.warn({ jobId }, 'lock renewal failed; stopping the job');
        each.cancelJob(jobId, INTERRUPTION.lockLost);
      }
    });
    each.on('failed', (job, error) => onFailed(job, error));
  }
  function onFailed(job: Job<unknown, GenerationResult> | undefined, error: Error): void {
    if (!job) return;
    const final = error instanceof UnrecoverableError || job.attemptsMade >= (job.opts.attempts ?? 1);
    logger.warn({ jobId: job.id, attempt: job.attemptsMade, final, err: error.message }, JOB_FAILED);
    if ((error as { code?: unknown }).code === 'denoiser_closed') options.onFatal?.(error);
    if (!final) return;
    const callback = generationJobSchema.shape.callback.safeParse((job.data as { callback?: unknown } | null)?.callback);
    if (!callback.success) return;
    void reporter.reportResult(
      { address: callback.data.address, token: callback.data.token, jobId: job.id ?? '', attempt: job.attemptsMade },
      {
        workerId: config.workerId,
        ...(error instanceof JobRejectedError
          ? { errorCode: error.code, errorMessage: error.message }
          : describeJobFailure(error.message)),
      },
    );
  }

  const startedAt = Date.now();
  let heartbeat: Awaited<ReturnType<typeof startHeartbeat>> | undefined;
  try {
    void worker.run().catch((error: Error) => logger.error({ err: error.message }, 'worker stopped'));
    await worker.waitUntilReady();
    heartbeat = await startHeartbeat({
      redis,
      prefix: config.redisPrefix,
      intervalMs: config.heartbeatIntervalMs,
      beat: () => ({
        workerId: config.workerId,
        device: config.device,
        model: manifest.name,
        jobsInFlight: inFlight.size,
        pid: process.pid,
        startedAt,
      }),
      logger,
    });
  } catch (error) {
    await Promise.all(allWorkers.map((each) => each.close(true).catch(() => undefined)));
    redis.disconnect();
    await model.close();
    throw error;
  }
  const cancelWatcher = startCancelWatcher({
    redis,
    prefix: config.redisPrefix,
    intervalMs: config.cancelPollIntervalMs,
    activeJobIds: () => [...inFlight],
    onCancelRequested: (jobId) => cancelJob(jobId, INTERRUPTION.cancelRequested),
    logger,
  });
  expressLane.start();
  logger.info(
    {
      device: config.device,
      model: manifest.name,
      maxActiveJobs: config.maxActiveJobs,
      interactiveExtraJobs: config.interactiveExtraJobs,
      maxBatchTokens: config.maxBatchTokens,
      adaptiveThreshold: config.adaptiveThreshold ?? 'off',
    },
    'worker started',
  );
  void warnUnlessNoEviction(redis, config.redisUrl, logger);

  let closing: Promise<void> | undefined;
  const close = async () => {
    // First, so no lane claims a job after the signal.
    expressLane.stop();
    // Bounded: with Redis down the delete would wait for the reconnect; the key expires anyway.
    if (heartbeat) await raceTimeout(heartbeat.stop(), 1_000);
    const drained = Promise.all(allWorkers.map((each) => each.close()));
    const inTime = await raceTimeout(drained, config.shutdownTimeoutMs);
    if (!inTime) {
      logger.warn({ jobs: [...inFlight] }, JOBS_HANDED_BACK_AT_SHUTDOWN);
      for (const jobId of inFlight) cancelJob(jobId, INTERRUPTION.shutdown);
      await drained;
    }
    cancelWatcher.stop();
    await scheduler.close();
    await reporter.close();
    await model.close();
    await redis.quit().catch(() => redis.disconnect());
    logger.info('worker stopped');
  };

  return {
    workerId: config.workerId,
    device: config.device,
    modelName: manifest.name,
    get jobsInFlight() {
      return inFlight.size;
    },
    get schedulerStats() {
      return scheduler.stats;
    },
    close: () => (closing ??= close()),
  };
}

async function loadServedModel(config: WorkerConfig): Promise<LoadedModel> {
  // The config schema admits only the forms parseDevice reads.
  const device = parseDevice(config.device)!;
  try {
    const threads = config.intraOpThreads === undefined ? {} : { intraOpNumThreads: config.intraOpThreads };
    return await loadModel(config.modelDir, { ...device, ...threads });
  } catch (error) {
    // Model errors carry multi-line detail (one line per manifest field); one line reads better in logs.
    const problem = (error as Error).message.replace(/:\s*\n\s*-\s*/g, ': ').replace(/\s*\n\s*(-\s*)?/g, '; ');
    if (error instanceof ExecutionProviderUnavailableError) {
      throw new DeviceUnavailableError(config.device, error.code, problem, { cause: error });
    }
    throw new ModelUnavailableError(config.modelDir, problem, { cause: error });
  }
}

/** BullMQ needs `noeviction`: say so loudly at startup when Redis runs another policy or hides it. */
async function warnUnlessNoEviction(redis: Redis, redisUrl: string, logger: Logger): Promise<void> {
  const { hostname, port } = new URL(redisUrl);
  const check = await checkEvictionPolicy(redis, `${hostname}:${port || '6379'}`);
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
