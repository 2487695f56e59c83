import { describe, expect, it } from 'vitest';
import { redisOptionsFor } from '../src/index.ts';

describe('redisOptionsFor', () => {
  it('lets worker connections wait out a Redis restart', () => {
    expect(redisOptionsFor('redis://127.0.0.1:6379', 'worker').maxRetriesPerRequest).toBeNull();
  });

  it('makes producers fail fast instead of queueing commands offline', () => {
    const options = redisOptionsFor('redis://:s3cret@redis.internal:6380/2', 'producer');
    expect(options).toMatchObject({
      host: 'redis.internal',
      port: 6380,
      db: 2,
      password: 's3cret',
      enableOfflineQueue: false,
    });
  });
});
