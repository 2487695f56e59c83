import type { JobType } from 'bullmq';
import type { PriorityClass } from './generation-job.ts';
import type { GenerationQueues } from './generation-queues.ts';
import { PRIORITY_CLASSES } from './queue-names.ts';

/**
 * A job no worker holds yet is in one of these. `wait` alone (what KEDA's Redis list trigger
 * reads) misses jobs with a BullMQ priority (a sorted set) and retries in their backoff.
 */
export const WAITING_JOB_STATES = ['wait', 'prioritized', 'delayed'] as const satisfies readonly JobType[];
/** A job a worker is decoding. */
export const RUNNING_JOB_STATES = ['active'] as const satisfies readonly JobType[];

/** One class's queue: jobs waiting for a worker and jobs being decoded. */
export interface QueueDepth {
  readonly waiting: number;
  readonly running: number;
}

/** The sum of `counts` (BullMQ's job counts by state) over `states`. */
export function countIn(counts: Readonly<Record<string, number>>, states: readonly JobType[]): number {
  return states.reduce((sum, state) => sum + (counts[state] ?? 0), 0);
}

/** Each class's waiting and running jobs, fleet-wide: one `getJobCounts` per class's queue. */
export async function readQueueDepths(queues: GenerationQueues): Promise<Record<PriorityClass, QueueDepth>> {
  const entries = await Promise.all(
    PRIORITY_CLASSES.map(async (priority) => {
      const counts = await queues.of(priority).getJobCounts(...WAITING_JOB_STATES, ...RUNNING_JOB_STATES);
      const depth: QueueDepth = {
        waiting: countIn(counts, WAITING_JOB_STATES),
        running: countIn(counts, RUNNING_JOB_STATES),
      };
      return [priority, depth] as const;
    }),
  );
  return Object.fromEntries(entries) as Record<PriorityClass, QueueDepth>;
}
