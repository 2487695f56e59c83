import { Cluster, Redis, type ClusterOptions, type RedisOptions } from 'ioredis';
import type { RedisTarget } from './redis-target.ts';

/** A connection to the fleet's Redis, whichever form it takes; BullMQ takes either. */
export type RedisConnection = Redis | Cluster;

/** What a connection is for; see redisOptionsFor. */
export type RedisRole = 'worker' | 'producer';

/**
 * Parses a redis:// URL into ioredis options. Workers need `maxRetriesPerRequest: null` so
 * blocking commands survive a Redis restart; producers fail fast (`enableOfflineQueue: false`)
 * so a request during an outage gets a 503 instead of hanging.
 */
export function redisOptionsFor(url: string, role: RedisRole): RedisOptions {
  const parsed = new URL(url);
  const db = parsed.pathname.length > 1 ? Number(parsed.pathname.slice(1)) : 0;
  const base: RedisOptions = {
    host: parsed.hostname,
    port: parsed.port ? Number(parsed.port) : 6379,
    db,
    ...credentialsOf(parsed),
    retryStrategy: (attempt: number) => Math.min(attempt * 200, 2_000),
  };
  return role === 'worker' ? { ...base, ...WORKER_COMMANDS } : { ...base, ...PRODUCER_COMMANDS };
}

const WORKER_COMMANDS = { maxRetriesPerRequest: null } satisfies RedisOptions;
const PRODUCER_COMMANDS = { maxRetriesPerRequest: 1, enableOfflineQueue: false, connectTimeout: 1_000 } as const;

/**
 * How long a worker connection keeps retrying a command while a Cluster master fails over:
 * ioredis retries a command whose node closed after `retryDelayOnFailover`, refreshing the slot
 * map, at most `maxRedirections` times. 64 x 200 ms outlasts a failover of a few node timeouts.
 */
const WORKER_FAILOVER_RETRIES = { retryDelayOnFailover: 200, maxRedirections: 64 } satisfies ClusterOptions;

/**
 * A connection for `role` to the target: a Redis for one server or a Sentinel-managed master
 * (ioredis asks the Sentinels for the master and follows a failover), a Cluster for Redis
 * Cluster. Every connection of the fleet's processes is made here, so every role gets the same
 * retry rules on every form of Redis.
 */
export function createRedisConnection(target: RedisTarget, role: RedisRole): RedisConnection {
  switch (target.kind) {
    case 'standalone':
      return new Redis(redisOptionsFor(target.url, role));
    case 'sentinel': {
      const { host: _host, port: _port, ...options } = redisOptionsFor(target.url, role);
      return new Redis({
        ...options,
        sentinels: target.sentinels.map(({ host, port }) => ({ host, port })),
        name: target.masterName,
      });
    }
    case 'cluster':
      return new Cluster(
        target.nodes.map(({ host, port }) => ({ host, port })),
        clusterOptionsFor(target.url, role),
      );
  }
}

/**
 * Cluster options for `role`. The per-node options carry credentials and the command rules but
 * no retry strategy or offline queue: ioredis's node defaults (no reconnect, wait for a MOVED
 * and a fresh slot map instead; queue until the lazy connection is up) are what failover needs.
 * The producer's fail-fast is the Cluster's own `enableOfflineQueue: false`.
 */
function clusterOptionsFor(url: string, role: RedisRole): ClusterOptions {
  const credentials = credentialsOf(new URL(url));
  const common: ClusterOptions = {
    clusterRetryStrategy: (attempt: number) => Math.min(attempt * 200, 2_000),
    // A topology change (a failover elsewhere, a resharding) is learnt within this even on an idle connection.
    slotsRefreshInterval: 5_000,
    // While a failover settles, nodes can redirect a slot back and forth; redirecting at once
    // spends every allowed redirection within milliseconds.
    retryDelayOnMoved: 100,
  };
  if (role === 'worker') {
    return { ...common, ...WORKER_FAILOVER_RETRIES, redisOptions: { ...credentials, ...WORKER_COMMANDS } };
  }
  const { enableOfflineQueue, ...perNode } = PRODUCER_COMMANDS;
  return { ...common, enableOfflineQueue, redisOptions: { ...credentials, ...perNode } };
}

function credentialsOf(parsed: URL): Pick<RedisOptions, 'username' | 'password' | 'tls'> {
  return {
    ...(parsed.username ? { username: decodeURIComponent(parsed.username) } : {}),
    ...(parsed.password ? { password: decodeURIComponent(parsed.password) } : {}),
    ...(parsed.protocol === 'rediss:' ? { tls: {} } : {}),
  };
}
