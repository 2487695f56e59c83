import { Cluster, type Redis } from 'ioredis';
import type { RedisConnection } from './redis-connection.ts';
import { redisKeySlot } from './redis-key-slot.ts';

/**
 * Waits until `replicas` replicas acknowledged every write this connection sent to the master
 * that serves `key` (Redis WAIT), or `timeoutMs` passed; returns how many did. Redis replicates
 * asynchronously: a write its master acknowledged can die with that master, before a replica got
 * it, and a failover then forgets it. After WAIT answered n, the write survives the loss of the
 * master as long as one of those n replicas takes over (Redis's own caveat: WAIT does not make
 * Redis strongly consistent; a replica can still lose it in a crash of its own).
 *
 * On a Cluster, WAIT (which names no key) must go to that master, over the same node connection
 * the writes took: the Cluster's connection to the node its slot map names for the key's slot.
 */
export async function waitForReplicas(
  redis: RedisConnection,
  key: string,
  replicas: number,
  timeoutMs: number,
): Promise<number> {
  const node = redis instanceof Cluster ? masterServing(redis, key) : redis;
  return Number(await node.call('WAIT', String(replicas), String(timeoutMs)));
}

function masterServing(cluster: Cluster, key: string): Redis {
  const slot = redisKeySlot(key);
  const nodeKey = cluster.slots[slot]?.[0];
  const node = cluster.nodes('master').find(({ options }) => `${options.host}:${options.port}` === nodeKey);
  if (!node) throw new Error(`the Cluster's slot map names no reachable master for slot ${slot} (key '${key}')`);
  return node;
}
