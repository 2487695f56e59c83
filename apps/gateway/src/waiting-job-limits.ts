import type { Redis } from 'ioredis';

/** Caps on jobs waiting to be claimed; null = no cap. */
export interface WaitingJobLimits {
  /** All tenants together (DFLEET_MAX_WAITING_JOBS). */
  readonly maxWaitingJobs: number | null;
  /** One tenant (DFLEET_MAX_WAITING_JOBS_PER_TENANT). */
  readonly maxWaitingJobsPerTenant: number | null;
}

export type AdmissionVerdict =
  | { readonly admitted: true }
  | { readonly admitted: false; readonly scope: 'global' | 'tenant'; readonly waiting: number; readonly limit: number };

/**
 * A job admitted this recently whose job hash does not exist yet counts as waiting: its add may
 * still be on its way, and pruning it would let a burst overshoot the tenant cap.
 */
const ADMISSION_GRACE_MS = 10_000;
/** A tenant that submits nothing for this long loses its (then empty) bookkeeping key. */
const TENANT_KEY_TTL_MS = 86_400_000;

/**
 * Per tenant, the ids of jobs admitted and maybe still waiting, scored by admission time. Members
 * that are no longer waiting (claimed, finished, removed, or never added) are pruned at the next
 * admission, so the count corrects itself after any crash; it is never decremented.
 */
export function tenantWaitingKey(prefix: string, tenant: string): string {
  return `${prefix}:waiting-by-tenant:${tenant}`;
}

/**
 * KEYS: 1 tenant set, 2 BullMQ prioritized zset, 3 BullMQ wait list.
 * ARGV: 1 job id, 2 limit, 3 now (ms), 4 grace (ms), 5 key TTL (ms), 6 job hash key prefix.
 * Returns {1, waiting} when admitted (the job is recorded), {0, waiting} when the tenant is full.
 */
const ADMIT_FOR_TENANT = `
if redis.call('ZSCORE', KEYS[1], ARGV[1]) then return {1, -1} end
local now = tonumber(ARGV[3])
local recent = now - tonumber(ARGV[4])
local members = redis.call('ZRANGE', KEYS[1], 0, -1, 'WITHSCORES')
local waiting = 0
for i = 1, #members, 2 do
  local id = members[i]
  local queued = redis.call('ZSCORE', KEYS[2], id) or redis.call('LPOS', KEYS[3], id)
  local onItsWay = tonumber(members[i + 1]) >= recent and redis.call('EXISTS', ARGV[6] .. id) == 0
  if queued or onItsWay then
    waiting = waiting + 1
  else
    redis.call('ZREM', KEYS[1], id)
  end
end
if waiting >= tonumber(ARGV[2]) then return {0, waiting} end
redis.call('ZADD', KEYS[1], now, ARGV[1])
redis.call('PEXPIRE', KEYS[1], ARGV[5])
return {1, waiting + 1}
`;

/**
 * Admits a job under the tenant cap, atomically with recording it. Not exact under races with the
 * queue itself (a job claimed a moment ago may still count), but it never drops an admitted job:
 * admission happens before the job is added, and nothing here touches the queue.
 */
export async function admitForTenant(
  redis: Redis,
  keys: { tenant: string; prioritized: string; wait: string; jobPrefix: string },
  jobId: string,
  limit: number,
): Promise<AdmissionVerdict> {
  const [admitted, waiting] = (await redis.eval(
    ADMIT_FOR_TENANT,
    3,
    keys.tenant,
    keys.prioritized,
    keys.wait,
    jobId,
    limit,
    Date.now(),
    ADMISSION_GRACE_MS,
    TENANT_KEY_TTL_MS,
    keys.jobPrefix,
  )) as [number, number];
  return admitted === 1 ? { admitted: true } : { admitted: false, scope: 'tenant', waiting, limit };
}
