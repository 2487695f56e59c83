import { describe, expect, it } from 'vitest';
import { Cluster, type Redis } from 'ioredis';
import { createRedisConnection, redisOptionsFor, type RedisTarget } from '../src/index.ts';

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

describe('createRedisConnection', () => {
  const cluster: RedisTarget = { kind: 'cluster', nodes: [{ host: '127.0.0.1', port: 1 }], url: 'redis://:pw@x:1' };

  it('gives a Cluster worker connection no retry limit on its nodes, as BullMQ requires', () => {
    const connection = createRedisConnection(cluster, 'worker');
    try {
      expect(connection).toBeInstanceOf(Cluster);
      const { redisOptions } = (connection as Cluster).options;
      expect(redisOptions).toMatchObject({ maxRetriesPerRequest: null, password: 'pw' });
      // The nodes keep ioredis's own rule (no reconnect; a fresh slot map instead).
      expect(redisOptions).not.toHaveProperty('retryStrategy');
    } finally {
      connection.disconnect();
    }
  });

  it('makes a Cluster producer fail fast, without taking the per-node offline queue away', () => {
    const connection = createRedisConnection(cluster, 'producer') as Cluster;
    try {
      expect(connection.options.enableOfflineQueue).toBe(false);
      expect(connection.options.redisOptions).not.toHaveProperty('enableOfflineQueue');
    } finally {
      connection.disconnect();
    }
  });

  it('asks Sentinels for the named master', () => {
    const target: RedisTarget = {
      kind: 'sentinel',
      sentinels: [{ host: '127.0.0.1', port: 1 }],
      masterName: 'fleet',
      url: 'redis://127.0.0.1',
    };
    const connection = createRedisConnection(target, 'worker') as Redis;
    try {
      expect(connection.options).toMatchObject({ name: 'fleet', sentinels: [{ host: '127.0.0.1', port: 1 }] });
    } finally {
      connection.disconnect();
    }
  });
});
