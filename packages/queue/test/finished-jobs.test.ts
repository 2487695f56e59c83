import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import {
  FINISHED_JOBS_KEEP_MS,
  FINISHED_JOBS_MAX_ENTRIES,
  finishedJobsKey,
  listFinishedJobs,
  recordFinishedJob,
  type FinishedJob,
} from '../src/index.ts';

const redis = new Redis('redis://127.0.0.1:6379');
const prefixes: string[] = [];

/** Each test its own prefix: entries one test leaves would be another's. */
function ownPrefix(): string {
  const prefix = `dfleet-test-${randomUUID().slice(0, 8)}`;
  prefixes.push(prefix);
  return prefix;
}

afterAll(async () => {
  if (prefixes.length > 0) await redis.del(...prefixes.map(finishedJobsKey));
  await redis.quit();
});

function finished(jobId: string, finishedAt: number): FinishedJob {
  return {
    jobId,
    priority: 'interactive',
    workerId: 'w1',
    finishReason: 'eos',
    tokens: 20,
    e2eMs: 120,
    queueMs: 3,
    finishedAt,
  };
}

describe("the fleet's record of finished jobs", () => {
  it('lists the jobs finished since a time, and drops those older than it keeps', async () => {
    const prefix = ownPrefix();
    const now = Date.now();
    await recordFinishedJob(redis, prefix, finished('old', now - 90_000));
    await recordFinishedJob(redis, prefix, finished('recent', now - 1_000));
    expect((await listFinishedJobs(redis, prefix, now - 60_000)).map((job) => job.jobId)).toEqual(['recent']);

    await recordFinishedJob(redis, prefix, finished('later', now - 90_000 + FINISHED_JOBS_KEEP_MS + 1));
    const kept = await redis.zrange(finishedJobsKey(prefix), 0, -1);
    expect(kept.map((member) => (JSON.parse(member) as FinishedJob).jobId)).toEqual(['recent', 'later']);
  });

  it('expires the whole record once no job finished for as long as it keeps entries', async () => {
    const prefix = ownPrefix();
    await recordFinishedJob(redis, prefix, finished('any', Date.now()));
    const ttl = await redis.pttl(finishedJobsKey(prefix));
    expect(ttl).toBeGreaterThan(0);
    expect(ttl).toBeLessThanOrEqual(FINISHED_JOBS_KEEP_MS);
  });

  it('keeps at most its maximum of entries, the latest ones', async () => {
    const prefix = ownPrefix();
    const key = finishedJobsKey(prefix);
    const now = Date.now();
    const filler = Array.from({ length: FINISHED_JOBS_MAX_ENTRIES }, (_, i) => [now - 10_000, `filler-${i}`]).flat();
    await redis.zadd(key, ...filler);
    await recordFinishedJob(redis, prefix, finished('newest', now));
    expect(await redis.zcard(key)).toBe(FINISHED_JOBS_MAX_ENTRIES);
    expect((await listFinishedJobs(redis, prefix, now)).map((job) => job.jobId)).toEqual(['newest']);
  });

  it('skips entries that are not finished jobs', async () => {
    const prefix = ownPrefix();
    const now = Date.now();
    await redis.zadd(finishedJobsKey(prefix), now + 5, 'not json', now + 6, JSON.stringify({ jobId: 'x' }));
    const listed = await listFinishedJobs(redis, prefix, now + 5);
    expect(listed).toEqual([]);
  });
});
