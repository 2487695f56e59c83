import { Cluster, type Redis } from 'ioredis';
import type { RedisConnection } from './redis-connection.ts';

/** What `maxmemory-policy` means for the queue: BullMQ's keys must never be evicted. */
export type EvictionPolicyCheck =
  | { readonly kind: 'safe'; readonly policy: 'noeviction' }
  | { readonly kind: 'unsafe'; readonly policy: string; readonly warning: string }
  | { readonly kind: 'unknown'; readonly warning: string };

/** Logged at info when the check passed, so that "no warning" can be told from "not checked yet". */
export const EVICTION_POLICY_SAFE = "Redis runs maxmemory-policy 'noeviction', as BullMQ requires";

/**
 * Reads `maxmemory-policy` of the Redis behind `redis`: of every master of a Cluster (the first
 * that is not safe is reported; a Cluster not yet connected is waited for), else of the one server.
 */
export async function checkEvictionPolicy(redis: RedisConnection, redisName: string): Promise<EvictionPolicyCheck> {
  if (!(redis instanceof Cluster)) return checkServer(redis, redisName);
  if (redis.status !== 'ready') await new Promise((resolve) => redis.once('ready', resolve));
  const checks = await Promise.all(
    redis
      .nodes('master')
      .map((node) => checkServer(node, `${redisName} (node ${node.options.host}:${node.options.port})`)),
  );
  const unsafe = checks.find((check) => check.kind === 'unsafe') ?? checks.find((check) => check.kind === 'unknown');
  return (
    unsafe ??
    checks[0] ?? {
      kind: 'unknown',
      warning: `could not check maxmemory-policy of ${redisName}: it reported no master; make sure every master runs 'noeviction'`,
    }
  );
}

/**
 * Reads one server's `maxmemory-policy`. Anything but `noeviction` lets Redis delete queue keys (jobs,
 * locks, results) under memory pressure: jobs are then lost or run twice. Managed Redis often
 * refuses CONFIG; that is reported as unknown, never thrown.
 */
async function checkServer(redis: Redis, redisName: string): Promise<EvictionPolicyCheck> {
  let reply: unknown;
  try {
    reply = await redis.call('CONFIG', 'GET', 'maxmemory-policy');
  } catch (error) {
    return {
      kind: 'unknown',
      warning:
        `could not check maxmemory-policy of Redis at ${redisName} (CONFIG GET failed: ${(error as Error).message}); ` +
        "make sure it is 'noeviction', as BullMQ requires: with any other policy Redis may evict queue keys under memory pressure, and jobs are lost or run twice",
    };
  }
  const policy = Array.isArray(reply) && typeof reply[1] === 'string' ? reply[1] : undefined;
  if (policy === 'noeviction') return { kind: 'safe', policy };
  if (policy === undefined) {
    return {
      kind: 'unknown',
      warning: `could not check maxmemory-policy of Redis at ${redisName} (CONFIG GET returned nothing); make sure it is 'noeviction', as BullMQ requires`,
    };
  }
  return {
    kind: 'unsafe',
    policy,
    warning:
      `Redis at ${redisName} runs maxmemory-policy '${policy}', not 'noeviction': when it reaches maxmemory it may evict queue keys ` +
      "(jobs, locks, results), and jobs are then lost or run twice. Set 'maxmemory-policy noeviction' in redis.conf " +
      '(or CONFIG SET maxmemory-policy noeviction) and give Redis enough memory; with noeviction a full Redis refuses new jobs instead',
  };
}
