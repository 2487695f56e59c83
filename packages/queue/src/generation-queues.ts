import { Queue, type Job, type JobsOptions, type JobType, type QueueOptions } from 'bullmq';
import type { PriorityClass } from './generation-job.ts';
import { GENERATION_QUEUES, PRIORITY_CLASSES } from './queue-names.ts';

/** A job and the class whose queue holds it. */
export interface FoundGenerationJob<Data, Result> {
  readonly job: Job<Data, Result>;
  readonly priority: PriorityClass;
}

/**
 * Both classes' BullMQ queues, for everything that looks a job up by id or counts the fleet's
 * jobs: the gateway, tests, benchmarks. A job id is unique across the two queues, so a lookup
 * stops at the first queue that has it.
 */
export class GenerationQueues<Data = unknown, Result = unknown> {
  readonly #queues: Readonly<Record<PriorityClass, Queue<Data, Result>>>;

  constructor(options: QueueOptions) {
    this.#queues = {
      interactive: new Queue<Data, Result>(GENERATION_QUEUES.interactive, options),
      batch: new Queue<Data, Result>(GENERATION_QUEUES.batch, options),
    };
  }

  /** The queue of one class. */
  of(priority: PriorityClass): Queue<Data, Result> {
    return this.#queues[priority];
  }

  /** Both queues, interactive first. */
  all(): Queue<Data, Result>[] {
    return PRIORITY_CLASSES.map((priority) => this.#queues[priority]);
  }

  /** Adds a job to its class's queue, named after that queue. */
  add(priority: PriorityClass, data: Data, opts: JobsOptions): Promise<Job<Data, Result>> {
    const queue = this.#queues[priority] as unknown as Queue<unknown, unknown, string>;
    return queue.add(GENERATION_QUEUES[priority], data, opts) as Promise<Job<Data, Result>>;
  }

  /** The job with this id, in whichever class's queue holds it. */
  async find(jobId: string): Promise<FoundGenerationJob<Data, Result> | undefined> {
    for (const priority of PRIORITY_CLASSES) {
      const job = (await this.#queues[priority].getJob(jobId)) as Job<Data, Result> | undefined;
      if (job) return { job, priority };
    }
    return undefined;
  }

  /** `getJob` across both queues. */
  async getJob(jobId: string): Promise<Job<Data, Result> | undefined> {
    return (await this.find(jobId))?.job;
  }

  /** The job's state in whichever class's queue holds it; 'unknown' when neither does. */
  async getJobState(jobId: string): Promise<string> {
    const found = await this.find(jobId);
    return found ? found.job.getState() : 'unknown';
  }

  /** Each state's count summed over both queues. */
  async getJobCounts(...types: JobType[]): Promise<Record<string, number>> {
    const perQueue = await Promise.all(this.all().map((queue) => queue.getJobCounts(...types)));
    const sums: Record<string, number> = {};
    for (const counts of perQueue) {
      for (const [type, count] of Object.entries(counts)) sums[type] = (sums[type] ?? 0) + count;
    }
    return sums;
  }

  /** The jobs in these states in both queues, interactive first. */
  async getJobs(types: JobType[]): Promise<Job<Data, Result>[]> {
    const perQueue = await Promise.all(this.all().map((queue) => queue.getJobs(types)));
    return perQueue.flat() as Job<Data, Result>[];
  }

  /** The ids of the jobs in these states in both queues, interactive first. */
  async getRanges(types: JobType[]): Promise<string[]> {
    return (await Promise.all(this.all().map((queue) => queue.getRanges(types, 0, -1)))).flat();
  }

  async obliterate(): Promise<void> {
    for (const queue of this.all()) await queue.obliterate({ force: true });
  }

  async close(): Promise<void> {
    await Promise.all(this.all().map((queue) => queue.close()));
  }
}
