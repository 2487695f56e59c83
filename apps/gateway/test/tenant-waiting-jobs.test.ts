import { Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import { removeWaitingJob, tenantWaitingKey } from '@dfleet/queue';
import { SHARED_REDIS_URL, deletePrefix, uniquePrefix } from '@dfleet/test-support';
import { auditTenantWaiting, type JobLookup } from '../src/tenant-waiting-audit.ts';
import { admitForTenant } from '../src/waiting-job-limits.ts';

const prefix = uniquePrefix();
const redis = new Redis(SHARED_REDIS_URL);

afterAll(async () => {
  redis.disconnect();
  await deletePrefix(prefix);
});

/** A stand-in for the queues: the jobs that exist, and whether a worker started each. */
function lookup(jobs: Record<string, { processedOn?: number }>): JobLookup {
  return { getJob: async (jobId) => jobs[jobId] };
}

describe('per-tenant waiting sets', () => {
  it("keeps all of one tenant's keys in one Redis Cluster hash slot", () => {
    expect(tenantWaitingKey('dfleet', 'acme')).toBe('dfleet:{tenant:acme}:waiting');
  });

  it('admits up to the cap, counts a resubmission once, and admits again once a job leaves', async () => {
    const key = tenantWaitingKey(prefix, 'cap');
    const verdicts = [];
    for (const id of ['a', 'b', 'a', 'c']) verdicts.push(await admitForTenant(redis, key, id, 2));
    expect(verdicts).toEqual([
      { admitted: true },
      { admitted: true },
      { admitted: true },
      { admitted: false, scope: 'tenant', waiting: 2, limit: 2 },
    ]);
    // A worker starts 'a'; removing it twice (at-least-once delivery) frees one slot, not two.
    await removeWaitingJob(redis, prefix, 'cap', 'a');
    await removeWaitingJob(redis, prefix, 'cap', 'a');
    expect(await admitForTenant(redis, key, 'c', 2)).toEqual({ admitted: true });
    expect(await admitForTenant(redis, key, 'd', 2)).toMatchObject({ admitted: false, waiting: 2 });
  });

  it('heals members whose job is gone or started, keeps those still waiting or just admitted, once a second', async () => {
    const tenant = 'audit';
    const key = tenantWaitingKey(prefix, tenant);
    const now = Date.now();
    await redis.zadd(
      key,
      now - 60_000,
      'never-added',
      now - 60_000,
      'started',
      now - 60_000,
      'waiting',
      now,
      'on-its-way',
    );
    const jobs = lookup({ started: { processedOn: now - 1_000 }, waiting: {} });

    expect(await auditTenantWaiting(redis, jobs, prefix, tenant, now)).toBe(2);
    expect((await redis.zrange(key, 0, -1)).sort()).toEqual(['on-its-way', 'waiting']);
    // Another audit of the same tenant within the second does nothing.
    await redis.zadd(key, now - 60_000, 'gone-too');
    expect(await auditTenantWaiting(redis, jobs, prefix, tenant, now)).toBe(0);
    expect(await redis.zcard(key)).toBe(3);
  });
});
