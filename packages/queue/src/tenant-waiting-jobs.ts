import type { RedisConnection } from './redis-connection.ts';

/**
 * One tenant's jobs admitted and not yet started: a sorted set of job ids scored by admission
 * time, which the gateway's tenant cap (DFLEET_MAX_WAITING_JOBS_PER_TENANT) counts with ZCARD.
 * Members are added once at admission and removed by id as a worker starts the job or a gateway
 * removes it, so at-least-once re-delivery and resubmissions change nothing (ZADD/ZREM of one id
 * are idempotent). The braces are a Redis Cluster hash tag: all of one tenant's keys share a slot
 * (tenant names contain no braces). Under a prefix that has a hash tag of its own
 * (`{dfleet}`, as on a Cluster) the prefix's tag comes first and wins: every key of the fleet then
 * shares one slot, this one included.
 */
export function tenantWaitingKey(prefix: string, tenant: string): string {
  return `${prefix}:{tenant:${tenant}}:waiting`;
}

/** Set while a gateway audits the tenant's waiting set (see the gateway's waiting-job-limits). */
export function tenantWaitingAuditKey(prefix: string, tenant: string): string {
  return `${prefix}:{tenant:${tenant}}:waiting-audit`;
}

/** The job waits no more: a worker starts it, or a gateway removed it from its queue. */
export async function removeWaitingJob(
  redis: RedisConnection,
  prefix: string,
  tenant: string,
  jobId: string,
): Promise<void> {
  await redis.zrem(tenantWaitingKey(prefix, tenant), jobId);
}
