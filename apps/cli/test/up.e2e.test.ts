import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { DEFAULT_MODEL_DIR } from '@dfleet/model';
import { GATEWAY_METRICS, WORKER_METRICS } from '@dfleet/telemetry';
import { createGenerationClient, grpc } from '@dfleet/proto';
import { afterAll, describe, expect, it } from 'vitest';
import { DFLEET_BIN as DFLEET, SHARED_REDIS_URL, deletePrefix, uniquePrefix } from '@dfleet/test-support';

const prefix = uniquePrefix();
/** The services' log files go here, not into the checkout. */
const logDir = mkdtempSync(join(tmpdir(), 'dfleet-up-'));
const env = {
  ...process.env,
  REDIS_URL: SHARED_REDIS_URL,
  DFLEET_REDIS_PREFIX: prefix,
  DFLEET_PORT: '0',
  LOG_LEVEL: 'warn',
};

afterAll(async () => {
  await deletePrefix(prefix);
  rmSync(logDir, { recursive: true, force: true });
});

describe('dfleet up', () => {
  it('starts a fleet that answers a generation, and Ctrl-C stops everything it started', async () => {
    const up = spawn(process.execPath, [DFLEET, 'up', '--log-dir', logDir], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    up.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const exited = new Promise<number | null>((resolve) => up.once('exit', resolve));
    await new Promise<void>((resolve, reject) => {
      up.stdout.on('data', (chunk: Buffer) => {
        stdout += chunk.toString();
        if (stdout.includes('fleet is up')) resolve();
      });
      void exited.then((code) => reject(new Error(`dfleet up exited with ${code}:\n${stderr}`)));
    });

    const [, url, grpcAddress] = stdout.match(/^gateway listening on (http:\/\/\S+) grpc=(\S+)$/m) ?? [];
    expect(url).toBeDefined();
    // The printed gRPC address is the live GenerationService (an unknown job is NOT_FOUND, not unreachable).
    const grpcClient = createGenerationClient(grpcAddress!);
    const lookup = await new Promise<grpc.ServiceError | null>((resolve) =>
      grpcClient.GetJob({ id: 'cmpl-not-a-job' }, (error) => resolve(error)),
    );
    grpcClient.close();
    expect(lookup?.code).toBe(grpc.status.NOT_FOUND);

    // Where to scrape: the gateway's /metrics and each worker's, as printed.
    const workerMetrics = /^worker \S+ ready on \S+, metrics at (http:\/\/\S+)$/m.exec(stderr)?.[1];
    expect(stderr).toContain(`gateway metrics at ${url}/metrics`);
    for (const [scraped, metric] of [
      [`${url}/metrics`, GATEWAY_METRICS.requestsWaiting.name],
      [workerMetrics ?? 'worker metrics URL not printed', WORKER_METRICS.jobsInFlight.name],
    ] as const) {
      const response = await fetch(scraped, { signal: AbortSignal.timeout(10_000) });
      expect(await response.text()).toContain(`# TYPE ${metric} gauge`);
    }
    expect(stdout).toMatch(/demo generation:[\s\S]*-- \d+ tokens, \d+ steps, \d+ NFE/);

    const generate = spawnSync(
      process.execPath,
      [DFLEET, 'generate', '// return x plus 1\\nfunction f(x) {\\n', '--url', url!],
      { env, encoding: 'utf8' },
    );
    expect(generate.stderr).toBe('');
    expect(generate.status).toBe(0);
    expect(generate.stdout).toMatch(/-- \d+ tokens, \d+ steps, \d+ NFE, [\d.]+ ms/);

    up.kill('SIGINT');
    expect(await exited).toBe(0);
    await expect(fetch(`${url}/healthz`)).rejects.toThrow();
    const redis = new Redis(SHARED_REDIS_URL);
    const liveWorkers = await redis.keys(`${prefix}:workers:*`);
    await redis.quit();
    expect(liveWorkers).toEqual([]);
  }, 180_000);

  it('says how to fix a model directory that does not exist', () => {
    const result = spawnSync(process.execPath, [DFLEET, 'model', 'check', '/nonexistent/model'], {
      env,
      encoding: 'utf8',
    });
    expect(result.status).toBe(1);
    expect(result.stdout).toMatch(/dfleet-model\.json/);
  });

  it('passes the model check on the shipped default model', () => {
    const result = spawnSync(process.execPath, [DFLEET, 'model', 'check', DEFAULT_MODEL_DIR], {
      env,
      encoding: 'utf8',
    });
    expect(result.stderr).toBe('');
    expect(result.status).toBe(0);
  }, 60_000);
});
