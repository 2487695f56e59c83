import { hostname } from 'node:os';
import { describe, expect, it } from 'vitest';
import { loadWorkerConfig } from '../src/config.ts';

describe('worker configuration', () => {
  it('applies the documented defaults to an empty environment', () => {
    const config = loadWorkerConfig({});
    expect(config).toMatchObject({
      redisTarget: { kind: 'standalone', url: 'redis://127.0.0.1:6379' },
      redisPrefix: 'dfleet',
      logLevel: 'info',
      workerId: `${hostname()}-${process.pid}`,
      device: 'cpu',
      maxActiveJobs: 16,
      maxBatchTokens: 8192,
      shutdownTimeoutMs: 30_000,
      lockDurationMs: 30_000,
      stalledIntervalMs: 15_000,
      maxStalledCount: 2,
      heartbeatIntervalMs: 2_000,
    });
    expect(config.modelDir).toMatch(/models\/jsfunc-mdm$/);
  });

  it('reads the device and the batching limits, treating empty values as unset', () => {
    const config = loadWorkerConfig({
      DFLEET_DEVICE: 'cuda:3',
      DFLEET_MAX_ACTIVE_JOBS: '4',
      DFLEET_MAX_BATCH_TOKENS: '',
      DFLEET_WORKER_ID: 'gpu-3',
    });
    expect(config).toMatchObject({ device: 'cuda:3', maxActiveJobs: 4, maxBatchTokens: 8192, workerId: 'gpu-3' });
  });

  it('accepts webgpu with or without an adapter index', () => {
    expect(loadWorkerConfig({ DFLEET_DEVICE: 'webgpu' }).device).toBe('webgpu');
    expect(loadWorkerConfig({ DFLEET_DEVICE: 'webgpu:0' }).device).toBe('webgpu:0');
    expect(() => loadWorkerConfig({ DFLEET_DEVICE: 'cuda' })).toThrow(/DFLEET_DEVICE/);
  });

  it("leaves onnxruntime's thread count to onnxruntime unless DFLEET_INTRA_OP_THREADS sets it", () => {
    expect(loadWorkerConfig({}).intraOpThreads).toBeUndefined();
    expect(loadWorkerConfig({ DFLEET_INTRA_OP_THREADS: '' }).intraOpThreads).toBeUndefined();
    expect(loadWorkerConfig({ DFLEET_INTRA_OP_THREADS: '1' }).intraOpThreads).toBe(1);
    expect(() => loadWorkerConfig({ DFLEET_INTRA_OP_THREADS: '0' })).toThrow(/DFLEET_INTRA_OP_THREADS/);
  });

  it('names every variable that is wrong', () => {
    expect(() => loadWorkerConfig({ DFLEET_DEVICE: 'gpu0', DFLEET_MAX_ACTIVE_JOBS: '0' })).toThrow(
      /DFLEET_DEVICE: must be 'cpu', 'cuda:N'.*'webgpu'.*; DFLEET_MAX_ACTIVE_JOBS/,
    );
  });

  it('refuses to start on a Redis Cluster with a prefix that has no hash tag, and takes one that has', () => {
    const cluster = { DFLEET_REDIS_CLUSTER_NODES: 'redis-0:6379,redis-1:6379' };
    expect(() => loadWorkerConfig(cluster)).toThrow(/DFLEET_REDIS_PREFIX=dfleet has no hash tag/);
    expect(loadWorkerConfig({ ...cluster, DFLEET_REDIS_PREFIX: '{dfleet}' }).redisTarget).toMatchObject({
      kind: 'cluster',
    });
  });
});
