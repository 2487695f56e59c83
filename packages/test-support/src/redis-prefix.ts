import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';

/** The Redis every test shares; a test that stops Redis starts its own (`OwnRedisServer`). */
export const SHARED_REDIS_URL = process.env['REDIS_URL'] ?? 'redis://127.0.0.1:6379';

/** A key prefix no other test (or run) uses, so tests share one Redis without seeing each other. */
export function uniquePrefix(): string {
  return `dfleet-test-${randomUUID().slice(0, 8)}`;
}

/** Deletes every key under the test's own prefix, and nothing else (never FLUSHDB). */
export async function deletePrefix(prefix: string, redisUrl = SHARED_REDIS_URL): Promise<void> {
  const redis = new Redis(redisUrl);
  try {
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 1000);
      cursor = next;
      if (keys.length > 0) await redis.del(...keys);
    } while (cursor !== '0');
  } finally {
    redis.disconnect();
  }
}
