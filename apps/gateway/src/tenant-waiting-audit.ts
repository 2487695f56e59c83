import { tenantWaitingAuditKey, tenantWaitingKey, type RedisConnection } from '@dfleet/queue';

/** A job by id in either class's queue (GenerationQueues), as far as the audit reads it. */
export interface JobLookup {
  getJob(jobId: string): Promise<AuditedJob | undefined>;
}

/** What BullMQ records on a job as a worker starts it and as it finishes. */
interface AuditedJob {
  readonly processedOn?: number | undefined;
  readonly finishedOn?: number | undefined;
}

/** A member this young whose job does not exist yet still counts: its add may be on its way. */
const ADMISSION_GRACE_MS = 10_000;
/** Oldest members one audit looks at. */
const AUDIT_BATCH = 32;
/** At most one audit of a tenant per this long, fleet-wide. */
const AUDIT_INTERVAL_MS = 1_000;

/**
 * Heals a tenant's waiting set (tenantWaitingKey) of members that wait no more.
 *
 * Why the set stays right: a member is added once, at admission, before its job is added (the
 * gateway removes it again when the add fails), and removed by id when a worker starts the job
 * (before its first forward pass) or a gateway removes the queued job; a job already started
 * that a resubmission recorded again is removed at the read-back. ZADD and ZREM of one id are
 * idempotent, so BullMQ's at-least-once delivery (a stalled job is started again) and
 * resubmissions change nothing. A job that goes back to its queue after it started (retry,
 * shutdown hand-back) counts no more: the count undercounts it, which only admits more.
 *
 * How it can drift, and how far: a member outlives its job's wait only when a process dies in
 * the moment between two steps (a gateway between admission and add, a worker between claim and
 * removal, and that job then fails for stalling too often instead of being started again), when
 * a removal is lost to a Redis error, or when something other than a gateway deletes queued jobs.
 * Each such member counts against its tenant until this audit finds it: it runs when a tenant is
 * refused, at most once a second per tenant, over the tenant's 32 oldest members, and removes
 * those whose job is gone or already started (BullMQ's `processedOn`/`finishedOn`). So a tenant
 * with L stale members is refused wrongly at most for about L / 32 seconds of refusals, and the
 * key expires a day after the tenant's last admission.
 *
 * @returns how many members it removed (0 also when another audit of the tenant ran just now).
 */
export async function auditTenantWaiting(
  redis: RedisConnection,
  queues: JobLookup,
  prefix: string,
  tenant: string,
  now = Date.now(),
): Promise<number> {
  const claimed = await redis.set(tenantWaitingAuditKey(prefix, tenant), String(now), 'PX', AUDIT_INTERVAL_MS, 'NX');
  if (claimed === null) return 0;
  const key = tenantWaitingKey(prefix, tenant);
  const oldest = await redis.zrange(key, 0, AUDIT_BATCH - 1, 'WITHSCORES');
  const members = [];
  for (let i = 0; i + 1 < oldest.length; i += 2) members.push({ jobId: oldest[i]!, admittedAt: Number(oldest[i + 1]) });
  const verdicts = await Promise.all(
    members.map(async ({ jobId, admittedAt }) => {
      const job = await queues.getJob(jobId);
      const gone = job === undefined && now - admittedAt > ADMISSION_GRACE_MS;
      return gone || Boolean(job?.processedOn) || Boolean(job?.finishedOn);
    }),
  );
  const stale = members.filter((_, index) => verdicts[index]).map((member) => member.jobId);
  return stale.length === 0 ? 0 : redis.zrem(key, ...stale);
}
