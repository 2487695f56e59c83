import { z } from 'zod';
import { finishReasonSchema, priorityClassSchema } from './generation-job.ts';
import { parseJson } from './parse-json.ts';
import type { RedisConnection } from './redis-connection.ts';

/** One finished job, as `dfleet status` reads the fleet's latencies from it. */
export const finishedJobSchema = z.object({
  jobId: z.string(),
  priority: priorityClassSchema,
  workerId: z.string(),
  finishReason: finishReasonSchema,
  /** Answer tokens. */
  tokens: z.number().int().nonnegative(),
  /** Accepted by the gateway (its clock) to the result (the worker's clock). */
  e2eMs: z.number().nonnegative(),
  /** Accepted to claimed. */
  queueMs: z.number().nonnegative(),
  /** When the worker had the result (its clock); the entry's score. */
  finishedAt: z.number(),
});
export type FinishedJob = z.infer<typeof finishedJobSchema>;

/**
 * The fleet's recent finished jobs: a sorted set of FinishedJob JSON scored by `finishedAt`.
 * Under the prefix, so it shares the fleet's hash tag (one Cluster slot) like every other key.
 */
export function finishedJobsKey(prefix: string): string {
  return `${prefix}:finished-jobs`;
}

/**
 * How long an entry stays: the minute `dfleet status` reads, and slack for the clocks of the
 * hosts that write and read it.
 * @defaultValue 180000
 */
export const FINISHED_JOBS_KEEP_MS = 180_000;

/**
 * Most entries kept, whatever their age, so a fleet finishing thousands of jobs a second holds a
 * few megabytes here: its percentiles are then those of the latest this many jobs.
 * @defaultValue 20000
 */
export const FINISHED_JOBS_MAX_ENTRIES = 20_000;

/**
 * Adds a finished job in one MULTI (one round trip), which also trims the set by age and size
 * and lets it expire once no job finished for FINISHED_JOBS_KEEP_MS, so it never grows.
 */
export async function recordFinishedJob(redis: RedisConnection, prefix: string, job: FinishedJob): Promise<void> {
  const key = finishedJobsKey(prefix);
  await redis
    .multi()
    .zadd(key, job.finishedAt, JSON.stringify(job))
    .zremrangebyscore(key, '-inf', job.finishedAt - FINISHED_JOBS_KEEP_MS)
    .zremrangebyrank(key, 0, -(FINISHED_JOBS_MAX_ENTRIES + 1))
    .pexpire(key, FINISHED_JOBS_KEEP_MS)
    .exec();
}

/** The jobs that finished at `since` or later (writers' clocks); malformed entries are skipped. */
export async function listFinishedJobs(redis: RedisConnection, prefix: string, since: number): Promise<FinishedJob[]> {
  const members = await redis.zrangebyscore(finishedJobsKey(prefix), since, '+inf');
  const jobs: FinishedJob[] = [];
  for (const member of members) {
    const parsed = finishedJobSchema.safeParse(parseJson(member));
    if (parsed.success) jobs.push(parsed.data);
  }
  return jobs;
}
