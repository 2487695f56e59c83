import { createHash } from 'node:crypto';
import type { RedisConnection } from '@dfleet/queue';
import type { RateLimit } from '@dfleet/api-keys';

/**
 * GCRA (the generic cell rate algorithm): one key per bucket holding the "theoretical arrival
 * time" of the next request. Equivalent to a token bucket refilled continuously, in one key and
 * one round trip. The clock is Redis's own TIME, so every gateway sharing the Redis sees one
 * clock and one bucket per API key.
 *
 * KEYS[1] bucket key
 * ARGV[1] emission interval in ms (60000 / requests per minute; may be fractional)
 * ARGV[2] burst (requests that may arrive at once on a full bucket)
 * Returns {1, remaining} when admitted, {0, retry_after_ms} when not.
 */
const GCRA_SCRIPT = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + tonumber(t[2]) / 1000
local interval = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
if tat < now then tat = now end
local new_tat = tat + interval
local allow_at = new_tat - burst * interval
if now < allow_at then
  return {0, math.ceil(allow_at - now)}
end
redis.call('SET', KEYS[1], string.format('%.3f', new_tat), 'PX', math.ceil(new_tat - now) + 1)
return {1, math.floor((now - allow_at) / interval)}
`;
const GCRA_SHA = createHash('sha1').update(GCRA_SCRIPT).digest('hex');

export type RateLimitVerdict = { admitted: true; remaining: number } | { admitted: false; retryAfterMs: number };

/** Runs one Redis interaction within the gateway's Redis budget (503 when Redis is unavailable). */
export type RedisRunner = <T>(what: string, operation: (redis: RedisConnection) => Promise<T>) => Promise<T>;

/** Per-API-key request rates, shared by every gateway on the same Redis. */
export class RedisRateLimiter {
  readonly #run: RedisRunner;
  readonly #prefix: string;

  constructor(run: RedisRunner, prefix: string) {
    this.#run = run;
    this.#prefix = prefix;
  }

  bucketKey(keyId: string): string {
    return `${this.#prefix}:ratelimit:${keyId}`;
  }

  /** Takes one request from the key's bucket. */
  async take(keyId: string, limit: RateLimit): Promise<RateLimitVerdict> {
    const args = [1, this.bucketKey(keyId), String(60_000 / limit.requestsPerMinute), String(limit.burst)] as const;
    const reply = await this.#run('check the rate limit', async (redis) => {
      try {
        return (await redis.evalsha(GCRA_SHA, ...args)) as [number, number];
      } catch (error) {
        // First use on this Redis (or after a restart, which forgets scripts).
        if (!String((error as Error).message).startsWith('NOSCRIPT')) throw error;
        return (await redis.eval(GCRA_SCRIPT, ...args)) as [number, number];
      }
    });
    const [admitted, value] = reply;
    return admitted === 1 ? { admitted: true, remaining: value } : { admitted: false, retryAfterMs: value };
  }
}
