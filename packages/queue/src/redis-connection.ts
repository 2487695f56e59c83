import type { RedisOptions } from 'ioredis';

/**
 * Parses a redis:// URL into ioredis options. Workers need `maxRetriesPerRequest: null` so
 * blocking commands survive a Redis restart; producers fail fast (`enableOfflineQueue: false`)
 * so a request during an outage gets a 503 instead of hanging.
 */
export function redisOptionsFor(url: string, role: 'worker' | 'producer'): RedisOptions {
  const parsed = new URL(url);
  const db = parsed.pathname.length > 1 ? Number(parsed.pathname.slice(1)) : 0;
  const base: RedisOptions = {
    host: parsed.hostname,
    port: parsed.port ? Number(parsed.port) : 6379,
    db,
    ...(parsed.username ? { username: decodeURIComponent(parsed.username) } : {}),
    ...(parsed.password ? { password: decodeURIComponent(parsed.password) } : {}),
    ...(parsed.protocol === 'rediss:' ? { tls: {} } : {}),
    retryStrategy: (attempt: number) => Math.min(attempt * 200, 2_000),
  };
  return role === 'worker'
    ? { ...base, maxRetriesPerRequest: null }
    : { ...base, maxRetriesPerRequest: 1, enableOfflineQueue: false, connectTimeout: 1_000 };
}
