import { describe, expect, it } from 'vitest';
import { EnvConfigError } from '@dfleet/env-config';
import { loadGatewayConfig } from '../src/config.ts';

describe('loadGatewayConfig', () => {
  it('applies the documented defaults', () => {
    const config = loadGatewayConfig({});
    expect(config).toMatchObject({
      redisTarget: { kind: 'standalone', url: 'redis://127.0.0.1:6379' },
      redisPrefix: 'dfleet',
      logLevel: 'info',
      host: '127.0.0.1',
      httpPort: 8080,
      grpcPort: 50051,
      callbackPort: 50052,
      callbackHost: '127.0.0.1',
      requestTimeoutMs: 120_000,
      redisTimeoutMs: 800,
      shutdownTimeoutMs: 10_000,
      maxWaitingJobs: 10_000,
      maxWaitingJobsPerTenant: null,
    });
    expect(config.modelDir).toMatch(/models\/jsfunc-mdm$/);
  });

  it('reads the waiting-job caps, 0 meaning no cap', () => {
    expect(loadGatewayConfig({ DFLEET_MAX_WAITING_JOBS: '0', DFLEET_MAX_WAITING_JOBS_PER_TENANT: '50' })).toMatchObject(
      {
        maxWaitingJobs: null,
        maxWaitingJobsPerTenant: 50,
      },
    );
  });

  it('reads ports as numbers and treats empty values as unset', () => {
    const config = loadGatewayConfig({
      DFLEET_PORT: '0',
      DFLEET_GRPC_PORT: '',
      DFLEET_CALLBACK_HOST: 'gateway-0.dfleet',
    });
    expect(config.httpPort).toBe(0);
    expect(config.grpcPort).toBe(50051);
    expect(config.callbackHost).toBe('gateway-0.dfleet');
  });

  it('names every invalid variable', () => {
    const bad = { DFLEET_PORT: '70000', REDIS_URL: 'http://redis', LOG_LEVEL: 'loud' };
    expect(() => loadGatewayConfig(bad)).toThrow(EnvConfigError);
    try {
      loadGatewayConfig({ DFLEET_PORT: '70000', REDIS_URL: 'http://redis', LOG_LEVEL: 'loud' });
    } catch (error) {
      for (const name of ['DFLEET_PORT', 'REDIS_URL', 'LOG_LEVEL']) expect((error as Error).message).toContain(name);
    }
  });

  it('leaves CORS off unless DFLEET_CORS_ORIGINS lists origins (comma-separated, or *)', () => {
    expect(loadGatewayConfig({}).corsOrigins).toBeNull();
    expect(
      loadGatewayConfig({ DFLEET_CORS_ORIGINS: ' https://app.example.com, http://localhost:3000 ' }).corsOrigins,
    ).toEqual(['https://app.example.com', 'http://localhost:3000']);
    expect(loadGatewayConfig({ DFLEET_CORS_ORIGINS: '*' }).corsOrigins).toEqual(['*']);
  });

  it('refuses a CORS origin with a path, naming it and the form expected', () => {
    expect(() => loadGatewayConfig({ DFLEET_CORS_ORIGINS: 'https://app.example.com/ui' })).toThrow(
      /DFLEET_CORS_ORIGINS.*'https:\/\/app\.example\.com\/ui' is not an origin: write scheme:\/\/host\[:port\]/s,
    );
  });

  it('refuses to start on a Redis Cluster with a prefix that has no hash tag, and takes one that has', () => {
    const cluster = { DFLEET_REDIS_CLUSTER_NODES: 'redis-0:6379,redis-1:6379' };
    expect(() => loadGatewayConfig(cluster)).toThrow(/DFLEET_REDIS_PREFIX=dfleet has no hash tag/);
    expect(loadGatewayConfig({ ...cluster, DFLEET_REDIS_PREFIX: '{dfleet}' }).redisTarget).toMatchObject({
      kind: 'cluster',
    });
  });
});
