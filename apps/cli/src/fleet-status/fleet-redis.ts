import { createRedisConnection, describeRedisTarget, type RedisConnection, type RedisTarget } from '@dfleet/queue';
import { CliError } from '../cli-error.ts';

/** How long the first connection may take before the command gives up. */
const CONNECT_TIMEOUT_MS = 5_000;

/**
 * A fail-fast (producer) connection to the fleet's Redis, once it is ready: a read during an
 * outage fails at once instead of queueing, so a watching screen says so at its next refresh.
 * @throws CliError `redis_unreachable` naming the Redis and the variables that choose it
 */
export async function connectFleetRedis(target: RedisTarget): Promise<RedisConnection> {
  const redis = createRedisConnection(target, 'producer');
  // Later errors are the screen's to show; ioredis would also print each unhandled one.
  redis.on('error', () => undefined);
  try {
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`no answer within ${CONNECT_TIMEOUT_MS / 1_000} s`)),
        CONNECT_TIMEOUT_MS,
      );
      redis.once('ready', () => {
        clearTimeout(timer);
        resolve();
      });
      redis.once('error', (error: Error) => {
        clearTimeout(timer);
        reject(error);
      });
    });
    return redis;
  } catch (error) {
    redis.disconnect();
    throw new CliError(
      'redis_unreachable',
      `cannot reach Redis at ${describeRedisTarget(target)} (${(error as Error).message}). ` +
        "dfleet status reads the fleet's Redis as its gateways and workers do: set REDIS_URL (or " +
        'DFLEET_REDIS_CLUSTER_NODES / DFLEET_REDIS_SENTINELS) and DFLEET_REDIS_PREFIX as they have them ' +
        "('dfleet up' prints the Redis it uses)",
    );
  }
}
