import { createRedisConnection, type RedisConnection, type RedisTarget } from '@dfleet/queue';
import { WaitingError, Worker, type Job } from 'bullmq';
import { BATCHES_QUEUE } from './batch-keys.ts';
import { BatchRun, type BatchRunDependencies } from './batch-run.ts';
import { BatchStore } from './batch-store.ts';

/** The data of a job of the `batches` queue. */
export interface BatchJobData {
  batchId: string;
}

export interface BatchRunnerOptions extends Omit<BatchRunDependencies, 'store'> {
  redis: RedisTarget;
  prefix: string;
  /** Batches this gateway runs at once. */
  concurrency: number;
  /** BullMQ lock of a running batch: a gateway that dies without a word hands its batches on within about this. */
  lockDurationMs: number;
}

/** How long a close waits for the running batches to be handed back to the queue. */
const CLOSE_WAIT_MS = 5_000;

/**
 * How a batch whose run failed on an unexpected error (Redis down, say) is run again: every 2 s,
 * for about a day, before BullMQ gives up on it (the batch then stays as Redis has it).
 */
export const BATCH_JOB_RETRIES = { attempts: 43_200, backoff: { type: 'fixed', delay: 2_000 } } as const;

/**
 * Claims batches from the `batches` queue (any gateway's runner may take any batch) and runs
 * each with BatchRun. A batch whose gateway closes goes back to the queue at once; one whose
 * gateway dies stalls (its lock expires) and BullMQ gives it to another runner. Either way the
 * next run resumes from what Redis holds.
 */
export class BatchRunner {
  readonly #worker: Worker<BatchJobData, void>;
  readonly #connection: RedisConnection;
  readonly #running = new Set<AbortController>();
  readonly #options: BatchRunnerOptions;

  constructor(options: BatchRunnerOptions) {
    this.#options = options;
    this.#connection = createRedisConnection(options.redis, 'worker');
    const store = new BatchStore(this.#connection, options.prefix);
    this.#worker = new Worker<BatchJobData, void>(BATCHES_QUEUE, (job, token) => this.#process(job, token, store), {
      connection: this.#connection,
      prefix: options.prefix,
      concurrency: options.concurrency,
      lockDuration: options.lockDurationMs,
      stalledInterval: Math.max(1_000, Math.floor(options.lockDurationMs / 2)),
      // A stalled batch is a gateway that died, not a poison batch: always hand it on.
      maxStalledCount: 1_000_000,
    });
    this.#worker.on('error', (error) => options.logger.warn({ err: error.message }, 'batch runner: redis error'));
  }

  async #process(job: Job<BatchJobData, void>, token: string | undefined, store: BatchStore): Promise<void> {
    const { logger } = this.#options;
    const { batchId } = job.data;
    const running = new AbortController();
    this.#running.add(running);
    try {
      logger.info({ batchId }, 'batch run started');
      const end = await new BatchRun({ ...this.#options, store }, batchId, running.signal).run();
      if (end === 'finished') {
        logger.info({ batchId }, 'batch run finished');
        return;
      }
    } catch (error) {
      if (!running.signal.aborted) {
        // BullMQ runs it again (BATCH_JOB_RETRIES), on this gateway or another, from what Redis holds.
        logger.warn({ batchId, err: error }, 'batch run failed; running it again shortly');
        throw error;
      }
    } finally {
      this.#running.delete(running);
    }
    // This gateway is closing: hand the batch to the next runner now rather than after the lock expires.
    logger.info({ batchId }, 'batch run interrupted: handed back to the queue');
    await job.moveToWait(token);
    throw new WaitingError();
  }

  /** Stops claiming, interrupts the running batches (they go back to the queue), and closes. */
  async close(): Promise<void> {
    const closed = this.#worker.close().catch(() => undefined);
    for (const running of this.#running) running.abort();
    // With Redis unreachable BullMQ's close would wait for it; the batches then stall and are handed on.
    if (this.#connection.status !== 'ready') this.#connection.disconnect();
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([closed, new Promise((resolve) => (timer = setTimeout(resolve, CLOSE_WAIT_MS)))]);
    clearTimeout(timer);
    this.#connection.disconnect();
  }
}
