import { z } from 'zod';
import { parseJson } from './parse-json.ts';
import type { RedisConnection } from './redis-connection.ts';

export const workerHeartbeatSchema = z.object({
  workerId: z.string(),
  device: z.string(),
  model: z.string(),
  jobsInFlight: z.number().int().nonnegative(),
  pid: z.number().int(),
  startedAt: z.number(),
  updatedAt: z.number(),
  // Optional: beats of workers older than `dfleet status` have neither, and must still count as live.
  /** Answer tokens of the jobs it finished in the last minute, per second (since its start when younger). */
  tokensPerSecond: z.number().nonnegative().optional(),
  /** Jobs it finished (any finish reason) since it started. */
  jobsCompleted: z.number().int().nonnegative().optional(),
});
export type WorkerHeartbeat = z.infer<typeof workerHeartbeatSchema>;

/**
 * A heartbeat expires after this long without renewal, so a killed worker disappears from
 * `/readyz` by itself.
 * @defaultValue 10000
 */
export const HEARTBEAT_TTL_MS = 10_000;

export function heartbeatKey(prefix: string, workerId: string): string {
  return `${prefix}:workers:${workerId}`;
}

/**
 * The directory of workers that beat lately: a sorted set of worker ids scored by their last
 * beat (the worker's clock). It exists because SCAN, which finds keys by pattern, scans one node
 * of a Redis Cluster only; this key and the heartbeat keys share the prefix's hash tag, so one
 * ZRANGE and one MGET read them on one node. The heartbeat keys' TTLs (Redis's clock) stay the
 * truth of who is alive; the set only says which keys to read.
 */
export function workerDirectoryKey(prefix: string): string {
  return `${prefix}:worker-directory`;
}

/**
 * A beat forgets the ids whose last beat is this much older than its own: far beyond the
 * heartbeat TTL, so clock skew between hosts never drops a live worker. Readers never compare
 * clocks: an id whose key expired is skipped.
 */
const DIRECTORY_FORGET_MS = 6 * HEARTBEAT_TTL_MS;

export async function publishHeartbeat(redis: RedisConnection, prefix: string, beat: WorkerHeartbeat): Promise<void> {
  const directory = workerDirectoryKey(prefix);
  // One MULTI: the key and its directory entry appear together; each beat also forgets workers that
  // died without removing themselves, and the directory lives while any worker beats.
  await redis
    .multi()
    .set(heartbeatKey(prefix, beat.workerId), JSON.stringify(beat), 'PX', HEARTBEAT_TTL_MS)
    .zadd(directory, beat.updatedAt, beat.workerId)
    .zremrangebyscore(directory, '-inf', beat.updatedAt - DIRECTORY_FORGET_MS)
    .pexpire(directory, DIRECTORY_FORGET_MS)
    .exec();
}

export async function removeHeartbeat(redis: RedisConnection, prefix: string, workerId: string): Promise<void> {
  await redis.multi().del(heartbeatKey(prefix, workerId)).zrem(workerDirectoryKey(prefix), workerId).exec();
}

/** Live workers under a prefix; malformed entries are skipped rather than trusted. */
export async function listLiveWorkers(redis: RedisConnection, prefix: string): Promise<WorkerHeartbeat[]> {
  const ids = await redis.zrange(workerDirectoryKey(prefix), 0, -1);
  if (ids.length === 0) return [];
  const values = await redis.mget(...ids.map((id) => heartbeatKey(prefix, id)));
  const beats: WorkerHeartbeat[] = [];
  for (const value of values) {
    if (value === null) continue;
    const parsed = workerHeartbeatSchema.safeParse(parseJson(value));
    if (parsed.success) beats.push(parsed.data);
  }
  return beats;
}
