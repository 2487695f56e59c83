import { parseEnv } from '@dfleet/env-config';
import { z } from 'zod';
import { describe, expect, it } from 'vitest';
import { checkRedisTopology, redisEnv, redisHashTag, redisTargetOf } from '../src/index.ts';

const schema = z.object(redisEnv).superRefine(checkRedisTopology).transform(redisTargetOf);
const load = (env: Record<string, string>) => parseEnv(schema, env, 'test');

describe('the Redis an environment names', () => {
  it('is the one server of REDIS_URL when neither a Cluster nor Sentinels are set', () => {
    expect(load({})).toEqual({ kind: 'standalone', url: 'redis://127.0.0.1:6379' });
  });

  it('is a Cluster of the seed nodes, with REDIS_URL kept for its credentials', () => {
    expect(
      load({
        DFLEET_REDIS_CLUSTER_NODES: 'redis-0.redis:6379, 10.0.0.7:7001,[::1]:7002',
        DFLEET_REDIS_PREFIX: '{dfleet}',
        REDIS_URL: 'rediss://:pw@ignored:1',
      }),
    ).toEqual({
      kind: 'cluster',
      nodes: [
        { host: 'redis-0.redis', port: 6379 },
        { host: '10.0.0.7', port: 7001 },
        { host: '::1', port: 7002 },
      ],
      url: 'rediss://:pw@ignored:1',
    });
  });

  it('is the master the Sentinels name', () => {
    expect(load({ DFLEET_REDIS_SENTINELS: 's1:26379,s2:26379', DFLEET_REDIS_SENTINEL_NAME: 'fleet' })).toMatchObject({
      kind: 'sentinel',
      sentinels: [
        { host: 's1', port: 26379 },
        { host: 's2', port: 26379 },
      ],
      masterName: 'fleet',
    });
  });

  it('refuses a Cluster whose prefix has no hash tag, saying which prefix would do', () => {
    expect(() => load({ DFLEET_REDIS_CLUSTER_NODES: 'r:7000', DFLEET_REDIS_PREFIX: 'fleet-a' })).toThrow(
      /DFLEET_REDIS_PREFIX=fleet-a has no hash tag.*DFLEET_REDIS_PREFIX=\{fleet-a\}/,
    );
  });

  it('refuses a Cluster with a database number, which a Cluster does not have', () => {
    expect(() =>
      load({ DFLEET_REDIS_CLUSTER_NODES: 'r:7000', DFLEET_REDIS_PREFIX: '{d}', REDIS_URL: 'redis://r:7000/2' }),
    ).toThrow(/only database 0/);
  });

  it('refuses Cluster and Sentinels together, and Sentinels without their master name', () => {
    expect(() =>
      load({ DFLEET_REDIS_CLUSTER_NODES: 'r:7000', DFLEET_REDIS_PREFIX: '{d}', DFLEET_REDIS_SENTINELS: 's:26379' }),
    ).toThrow(/both set: choose one/);
    expect(() => load({ DFLEET_REDIS_SENTINELS: 's:26379' })).toThrow(/without DFLEET_REDIS_SENTINEL_NAME/);
    expect(() => load({ DFLEET_REDIS_SENTINEL_NAME: 'fleet' })).toThrow(/without DFLEET_REDIS_SENTINELS/);
  });

  it('refuses a node list entry that is not host:port, naming it', () => {
    expect(() => load({ DFLEET_REDIS_CLUSTER_NODES: 'r:7000,r7001', DFLEET_REDIS_PREFIX: '{d}' })).toThrow(
      /DFLEET_REDIS_CLUSTER_NODES: 'r7001' is not host:port/,
    );
  });

  it('takes a prefix with one hash tag, and refuses stray braces', () => {
    expect(() => load({ DFLEET_REDIS_PREFIX: '{dfleet}-eu' })).not.toThrow();
    expect(() => load({ DFLEET_REDIS_PREFIX: '{a}{b}' })).toThrow(/DFLEET_REDIS_PREFIX/);
    expect(() => load({ DFLEET_REDIS_PREFIX: 'dfleet}' })).toThrow(/DFLEET_REDIS_PREFIX/);
    expect(() => load({ DFLEET_REDIS_PREFIX: '{}' })).toThrow(/DFLEET_REDIS_PREFIX/);
  });
});

describe('redisHashTag', () => {
  it('is what Redis hashes: the first braces, even when the key has more', () => {
    expect(redisHashTag('{dfleet}:{tenant:a}:waiting')).toBe('dfleet');
    expect(redisHashTag('dfleet:{tenant:a}:waiting')).toBe('tenant:a');
    expect(redisHashTag('{}x{y}')).toBeUndefined();
    expect(redisHashTag('dfleet')).toBeUndefined();
  });
});
