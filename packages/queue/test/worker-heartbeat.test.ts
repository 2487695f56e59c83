import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import { heartbeatKey, listLiveWorkers, publishHeartbeat, removeHeartbeat, workerDirectoryKey } from '../src/index.ts';

const prefix = `dfleet-test-${randomUUID().slice(0, 8)}`;
const redis = new Redis('redis://127.0.0.1:6379');

afterAll(async () => {
  const keys = await redis.keys(`${prefix}:*`);
  if (keys.length) await redis.del(...keys);
  await redis.quit();
});

describe('worker heartbeats', () => {
  const beat = {
    workerId: 'w1',
    device: 'cpu',
    model: 'jsfunc-mdm',
    jobsInFlight: 2,
    pid: 1,
    startedAt: 1,
    updatedAt: 2,
  };

  it('lists a published worker and forgets it once removed', async () => {
    await publishHeartbeat(redis, prefix, beat);
    expect(await listLiveWorkers(redis, prefix)).toEqual([beat]);
    await removeHeartbeat(redis, prefix, 'w1');
    expect(await listLiveWorkers(redis, prefix)).toEqual([]);
  });

  it('expires a heartbeat that is not renewed', async () => {
    await publishHeartbeat(redis, prefix, beat);
    const ttl = await redis.pttl(heartbeatKey(prefix, 'w1'));
    expect(ttl).toBeGreaterThan(0);
    expect(ttl).toBeLessThanOrEqual(10_000);
  });

  it('skips entries that are not heartbeats', async () => {
    await redis.zadd(workerDirectoryKey(prefix), Date.now(), 'junk');
    await redis.set(heartbeatKey(prefix, 'junk'), JSON.stringify({ hello: 'world' }));
    expect((await listLiveWorkers(redis, prefix)).map((b) => b.workerId)).not.toContain('junk');
  });

  it('leaves out a worker whose heartbeat expired though the directory still names it', async () => {
    await publishHeartbeat(redis, prefix, { ...beat, workerId: 'w-expired' });
    await redis.del(heartbeatKey(prefix, 'w-expired'));
    expect(await redis.zscore(workerDirectoryKey(prefix), 'w-expired')).not.toBeNull();
    expect((await listLiveWorkers(redis, prefix)).map((b) => b.workerId)).not.toContain('w-expired');
  });

  it('forgets, at the next beat of any worker, a directory entry a minute older than that beat', async () => {
    const now = Date.now();
    await publishHeartbeat(redis, prefix, { ...beat, workerId: 'w-dead', updatedAt: now - 61_000 });
    await publishHeartbeat(redis, prefix, { ...beat, workerId: 'w-live', updatedAt: now });
    expect(await redis.zscore(workerDirectoryKey(prefix), 'w-dead')).toBeNull();
    expect(await redis.zscore(workerDirectoryKey(prefix), 'w-live')).not.toBeNull();
  });

  it('carries tokens/s and completed jobs, and still lists a worker whose beat has neither', async () => {
    await publishHeartbeat(redis, prefix, { ...beat, workerId: 'w-new', tokensPerSecond: 41.5, jobsCompleted: 7 });
    // A beat as workers wrote it before these fields existed.
    await redis.set(heartbeatKey(prefix, 'w-old'), JSON.stringify({ ...beat, workerId: 'w-old' }), 'PX', 10_000);
    await redis.zadd(workerDirectoryKey(prefix), Date.now(), 'w-old');
    const listed = await listLiveWorkers(redis, prefix);
    expect(listed.find((b) => b.workerId === 'w-new')).toMatchObject({ tokensPerSecond: 41.5, jobsCompleted: 7 });
    expect(listed.find((b) => b.workerId === 'w-old')).toEqual({ ...beat, workerId: 'w-old' });
  });
});
