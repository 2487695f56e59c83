import {
  listFinishedJobs,
  listLiveWorkers,
  readQueueDepths,
  type GenerationQueues,
  type PriorityClass,
  type QueueDepth,
  type RedisConnection,
  type WorkerHeartbeat,
} from '@dfleet/queue';
import { summarizeLatencies, type LatencySummary } from './latency-summary.ts';

/** The window of the screen's percentiles. */
const LATENCY_WINDOW_MS = 60_000;

/** What `dfleet status` shows, read from the fleet's Redis at `readAt`. */
export interface FleetStatus {
  readonly readAt: number;
  readonly workers: readonly WorkerHeartbeat[];
  readonly queues: Readonly<Record<PriorityClass, QueueDepth>>;
  /** Jobs finished in the last LATENCY_WINDOW_MS; undefined when none did. */
  readonly endToEnd: LatencySummary | undefined;
  readonly queueTime: LatencySummary | undefined;
}

/**
 * Reads the heartbeats, both classes' queue depths and the last minute's finished jobs, in
 * parallel. The minute is the reader's clock against the workers' (`finishedAt`): a skew
 * between hosts shifts the window by as much.
 */
export async function readFleetStatus(
  redis: RedisConnection,
  queues: GenerationQueues,
  prefix: string,
): Promise<FleetStatus> {
  const readAt = Date.now();
  const [workers, depths, finished] = await Promise.all([
    listLiveWorkers(redis, prefix),
    readQueueDepths(queues),
    listFinishedJobs(redis, prefix, readAt - LATENCY_WINDOW_MS),
  ]);
  return {
    readAt,
    workers: [...workers].sort((a, b) => a.workerId.localeCompare(b.workerId)),
    queues: depths,
    endToEnd: summarizeLatencies(finished.map((job) => job.e2eMs)),
    queueTime: summarizeLatencies(finished.map((job) => job.queueMs)),
  };
}
