import type { Redis } from 'ioredis';
import { z } from 'zod';

export const workerHeartbeatSchema = z.object({
  workerId: z.string(),
  device: z.string(),
  model: z.string(),
  jobsInFlight: z.number().int().nonnegative(),
  pid: z.number().int(),
  startedAt: z.number(),
  updatedAt: z.number(),
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

export async function publishHeartbeat(redis: Redis, prefix: string, beat: WorkerHeartbeat): Promise<void> {
  await redis.set(heartbeatKey(prefix, beat.workerId), JSON.stringify(beat), 'PX', HEARTBEAT_TTL_MS);
}

export async function removeHeartbeat(redis: Redis, prefix: string, workerId: string): Promise<void> {
  await redis.del(heartbeatKey(prefix, workerId));
}

/** Live workers under a prefix; malformed entries are skipped rather than trusted. */
export async function listLiveWorkers(redis: Redis, prefix: string): Promise<WorkerHeartbeat[]> {
  const keys: string[] = [];
  let cursor = '0';
  do {
    const [next, batch] = await redis.scan(cursor, 'MATCH', `${prefix}:workers:*`, 'COUNT', 100);
    cursor = next;
    keys.push(...batch);
  } while (cursor !== '0');
  if (keys.length === 0) return [];
  const values = await redis.mget(...keys);
  const beats: WorkerHeartbeat[] = [];
  for (const value of values) {
    if (value === null) continue;
    const parsed = workerHeartbeatSchema.safeParse(JSON.parse(value));
    if (parsed.success) beats.push(parsed.data);
  }
  return beats;
}
