import { WaitingError, Worker, type Job } from 'bullmq';
import {
  GENERATION_QUEUES,
  PRIORITY_CLASSES,
  createRedisConnection,
  type GenerationResult,
  type PriorityClass,
  type RedisConnection,
} from '@dfleet/queue';
import { ClassSlots } from './class-slots.ts';
import type { WorkerConfig } from './config.ts';
import { INTERRUPTION, type GenerationProcessor } from './generation-processor.ts';
import { jobLoggerOf } from './job-logger.ts';
import type { Logger } from './logger.ts';

type ClassWorkersConfig = Pick<
  WorkerConfig,
  | 'redisTarget'
  | 'redisPrefix'
  | 'workerId'
  | 'maxActiveJobs'
  | 'interactiveExtraJobs'
  | 'lockDurationMs'
  | 'stalledIntervalMs'
  | 'maxStalledCount'
>;

export interface ClassWorkersOptions {
  readonly config: ClassWorkersConfig;
  /** Runs one claimed job; shared by both classes. */
  readonly processJob: GenerationProcessor;
  /** Called as a job starts, with its id and data, before `processJob`. */
  readonly onStart?: (job: Job) => void;
  /** A job's attempt failed (BullMQ's `failed` event of either class). */
  readonly onFailed: (job: Job | undefined, error: Error) => void;
  readonly logger: Logger;
}

/**
 * One BullMQ worker per priority class over that class's queue, sharing one process's slots by
 * ClassSlots' rule, on BullMQ's public API only. After every start and end, each worker's
 * concurrency is set to its class's limit less the other class's running jobs (M + E less the
 * running batch jobs for the interactive worker, M less the running interactive ones for the
 * batch worker), so it claims no more than may start, and it is paused while its class may not
 * start a job and resumed once it may. A job claimed anyway (both workers fetching in the same
 * moment, or a fetch in flight as the pause began) goes back to the head of its queue at once
 * (`moveToWait`, no attempt spent) and never runs here. Two costs of staying on the public API:
 * a paused worker does not check its queue for stalled jobs (other processes' workers do, and it
 * checks again when resumed), and a worker resumed while it still runs jobs claims again when the
 * next of those ends (BullMQ re-counts its free slots only then).
 */
export class ClassWorkers {
  readonly #options: ClassWorkersOptions;
  readonly #slots: ClassSlots;
  readonly #workers: Readonly<Record<PriorityClass, Worker<unknown, GenerationResult>>>;
  /** The jobs running now, each with the logger of its lines. */
  readonly #running = new Map<string, Logger>();
  /** Each BullMQ worker's own connection (BullMQ duplicates it for its blocking reads and closes only that). */
  readonly #connections: RedisConnection[] = [];
  #started = false;
  #closing = false;

  constructor(options: ClassWorkersOptions) {
    this.#options = options;
    const { maxActiveJobs, interactiveExtraJobs } = options.config;
    this.#slots = new ClassSlots({ maxActiveJobs, interactiveExtraJobs });
    this.#workers = {
      interactive: this.#createWorker('interactive', maxActiveJobs + interactiveExtraJobs),
      batch: this.#createWorker('batch', maxActiveJobs),
    };
    this.#workers.interactive.on('drained', () => {
      this.#slots.interactiveDrained();
      this.#sync();
    });
  }

  /** Ids of the jobs running now, both classes. */
  get runningJobIds(): string[] {
    return [...this.#running.keys()];
  }

  /** The logger of a job's lines (its id and trace); a job not running here gets its id only. */
  jobLogger(jobId: string): Logger {
    return this.#running.get(jobId) ?? this.#options.logger.child({ jobId });
  }

  /** Starts claiming; resolves once both workers are connected. */
  async start(): Promise<void> {
    this.#started = true;
    for (const worker of this.#all()) {
      const { logger } = this.#options;
      void worker.run().catch((error: Error) => logger.error({ err: error.message }, 'worker stopped'));
    }
    await Promise.all(this.#all().map((worker) => worker.waitUntilReady()));
  }

  /** Aborts a running job's signal with `reason`, in whichever worker runs it. */
  cancelJob(jobId: string, reason: string): void {
    for (const worker of this.#all()) worker.cancelJob(jobId, reason);
  }

  /** Stops claiming and waits for the running jobs (BullMQ's graceful close). `force` waits for none. */
  async close(force = false): Promise<void> {
    this.#closing = true;
    await Promise.all(this.#all().map((worker) => worker.close(force)));
    // Nothing is pending on them once the workers closed; QUIT could wait for a Redis that is gone.
    for (const connection of this.#connections) connection.disconnect();
  }

  #all(): Worker<unknown, GenerationResult>[] {
    return PRIORITY_CLASSES.map((priority) => this.#workers[priority]);
  }

  #createWorker(priority: PriorityClass, concurrency: number): Worker<unknown, GenerationResult> {
    const { config } = this.#options;
    const connection = createRedisConnection(config.redisTarget, 'worker');
    this.#connections.push(connection);
    const worker = new Worker<unknown, GenerationResult>(
      GENERATION_QUEUES[priority],
      // Three declared parameters: BullMQ passes an AbortSignal only to processors that take one.
      (job: Job, token: string | undefined, signal: AbortSignal | undefined) => this.#run(priority, job, token, signal),
      {
        connection,
        prefix: config.redisPrefix,
        // BullMQ records it as the job's processedBy: the worker's id, whichever class.
        name: config.workerId,
        concurrency,
        // Renewed every lockDuration / 2 from this event loop, which the scheduler never blocks
        // for long: forward passes run in the denoiser's own thread.
        lockDuration: config.lockDurationMs,
        stalledInterval: config.stalledIntervalMs,
        maxStalledCount: config.maxStalledCount,
        autorun: false,
      },
    );
    const { logger, onFailed } = this.#options;
    worker.on('error', (error) => logger.error({ err: error.message, priority }, 'worker error'));
    worker.on('lockRenewalFailed', (jobIds) => {
      for (const jobId of jobIds) {
        this.jobLogger(jobId).warn('lock renewal failed; stopping the job');
        worker.cancelJob(jobId, INTERRUPTION.lockLost);
      }
    });
    worker.on('failed', (job, error) => onFailed(job, error));
    return worker;
  }

  async #run(priority: PriorityClass, job: Job, token: string | undefined, signal: AbortSignal | undefined) {
    if (this.#closing || !this.#slots.tryStart(priority)) {
      this.#sync();
      // Claimed by a fetch in flight as the worker paused: first in line again, no attempt spent.
      if (token) await job.moveToWait(token);
      throw new WaitingError();
    }
    const id = job.id ?? '';
    this.#running.set(id, jobLoggerOf(this.#options.logger, job));
    this.#sync();
    try {
      this.#options.onStart?.(job);
      return await this.#options.processJob(job, token, signal);
    } finally {
      this.#running.delete(id);
      this.#slots.finish(priority);
      // Before BullMQ moves the job to completed: a worker resumed now fetches its next job in
      // that same call.
      this.#sync();
    }
  }

  /** Pauses each worker whose class may not start a job, resumes each whose class may. */
  #sync(): void {
    if (!this.#started || this.#closing) return;
    let resumed = false;
    for (const priority of PRIORITY_CLASSES) {
      const worker = this.#workers[priority];
      const open = this.#slots.isOpen(priority);
      // Lowered at once (no job is evicted); raised, it is seen at the worker's next job end or fetch.
      worker.concurrency = this.#slots.concurrencyFor(priority);
      // Not running: a paused worker's loop ends once its last job is done, and resume() starts it again.
      if (open && (worker.isPaused() || !worker.isRunning())) {
        worker.resume();
        resumed = true;
      } else if (!open && !worker.isPaused()) {
        void worker.pause(true);
      }
    }
    // A loop that was ending as it was resumed (paused, no job left) ends anyway: look again once
    // it has, and start it afresh.
    if (resumed) setImmediate(() => this.#sync());
  }
}
