import { describe, expect, it } from 'vitest';
import { freePort, redisAnswers } from '@dfleet/local-processes';
import { resolveLocalRedis } from '../src/local-redis.ts';

describe('resolveLocalRedis', () => {
  it('uses REDIS_URL as given without probing', async () => {
    const redis = await resolveLocalRedis('redis://example.invalid:1234');
    expect(redis).toMatchObject({ url: 'redis://example.invalid:1234', origin: 'REDIS_URL' });
  });

  it('uses the default Redis when it answers', async () => {
    const redis = await resolveLocalRedis(undefined, { host: '127.0.0.1', port: 6379 });
    expect(redis).toMatchObject({ url: 'redis://127.0.0.1:6379', origin: 'default port' });
  });

  it('starts its own redis-server on a free port when nothing answers, and stops it', async () => {
    const closedPort = await freePort();
    const redis = await resolveLocalRedis(undefined, { host: '127.0.0.1', port: closedPort });
    expect(redis.origin).toBe('started');
    const port = Number(new URL(redis.url).port);
    expect(await redisAnswers('127.0.0.1', port)).toBe(true);
    await redis.stop();
    expect(await redisAnswers('127.0.0.1', port)).toBe(false);
  });
});
