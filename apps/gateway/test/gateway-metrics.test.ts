import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Worker, type Job } from 'bullmq';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateApiKey, hashApiKey, type ApiKeysFile } from '@dfleet/api-keys';
import { GENERATION_QUEUES, GenerationQueues, redisOptionsFor } from '@dfleet/queue';
import { GATEWAY_METRICS } from '@dfleet/telemetry';
import { SHARED_REDIS_URL, deletePrefix, eventually, uniquePrefix } from '@dfleet/test-support';
import type { RunningGateway } from '../src/gateway.ts';
import { FIXTURE_MODEL, deferred, postCompletion, startTestGateway } from './support/test-fleet.ts';

const WAITING_REQUESTS_METRIC = GATEWAY_METRICS.requestsWaiting.name;
const RUNNING_REQUESTS_METRIC = GATEWAY_METRICS.requestsRunning.name;
const prefix = uniquePrefix();
const keysDir = mkdtempSync(join(tmpdir(), 'dfleet-metrics-keys-'));
const keysFile = join(keysDir, 'keys.json');
const apiKey = generateApiKey();
let gateway: RunningGateway;
let redis: Redis;
let queues: GenerationQueues;
const clientsGone = new AbortController();

beforeAll(async () => {
  const keys: ApiKeysFile = { keys: [{ id: 'metrics-test', tenant: 'acme', sha256: hashApiKey(apiKey) }] };
  writeFileSync(keysFile, JSON.stringify(keys));
  // No worker: nothing takes the jobs, so the waiting counts only move with what the test queues.
  gateway = await startTestGateway(prefix, { DFLEET_API_KEYS_FILE: keysFile });
  redis = new Redis(SHARED_REDIS_URL);
  queues = new GenerationQueues({ connection: redis, prefix });
});

afterAll(async () => {
  clientsGone.abort();
  await gateway?.close(1_000);
  await queues?.close();
  redis?.disconnect();
  await deletePrefix(prefix);
  rmSync(keysDir, { recursive: true, force: true });
});

async function scrape(headers: Record<string, string> = {}): Promise<{ status: number; type: string; text: string }> {
  const response = await fetch(`${gateway.httpUrl}/metrics`, { headers, signal: AbortSignal.timeout(10_000) });
  return { status: response.status, type: response.headers.get('content-type') ?? '', text: await response.text() };
}

/** The value of one series in a Prometheus text exposition, or undefined when it is absent. */
function sample(text: string, metric: string, priority: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${metric}{priority="${priority}"} `));
  return line === undefined ? undefined : Number(line.slice(line.lastIndexOf(' ') + 1));
}

async function depths() {
  const { text } = await scrape();
  return {
    waitingInteractive: sample(text, WAITING_REQUESTS_METRIC, 'interactive'),
    waitingBatch: sample(text, WAITING_REQUESTS_METRIC, 'batch'),
    runningBatch: sample(text, RUNNING_REQUESTS_METRIC, 'batch'),
  };
}

/** A batch completion nobody answers; the client is dropped when the test ends (the job stays queued). */
function submitBatchCompletion(): void {
  postCompletion(
    gateway,
    { model: FIXTURE_MODEL, prompt: 'function add(a, b) {\n', dfleet: { priority: 'batch' } },
    { authorization: `Bearer ${apiKey}` },
  ).catch(() => undefined);
}

describe('GET /metrics', () => {
  it('answers in Prometheus text format without an API key, while /v1/ routes still need one', async () => {
    const answer = await scrape();
    expect(answer.status).toBe(200);
    expect(answer.type).toMatch(/^text\/plain; version=0\.0\.4/);
    expect(answer.text).toContain(`# TYPE ${WAITING_REQUESTS_METRIC} gauge`);
    expect(answer.text).toContain(`# TYPE ${RUNNING_REQUESTS_METRIC} gauge`);
    // prom-client's default process metrics come along.
    expect(answer.text).toMatch(/^process_cpu_user_seconds_total \d/m);
    expect(answer.text).toMatch(/^nodejs_eventloop_lag_seconds \d/m);

    const unauthenticated = await fetch(`${gateway.httpUrl}/v1/models`);
    expect(unauthenticated.status).toBe(401);
  });

  it('counts batch jobs queued with no worker as waiting, and none as running', async () => {
    const before = await depths();
    expect(before).toEqual({ waitingInteractive: 0, waitingBatch: 0, runningBatch: 0 });

    submitBatchCompletion();
    submitBatchCompletion();
    await eventually('both batch jobs counted as waiting', async () => (await depths()).waitingBatch === 2);
    expect(await depths()).toEqual({ waitingInteractive: 0, waitingBatch: 2, runningBatch: 0 });
  });

  it('counts prioritized and delayed jobs as waiting, which the wait list alone misses', async () => {
    const interactive = queues.of('interactive');
    await interactive.add(
      'raw',
      { note: 'a job with a BullMQ priority lives in the prioritized set' },
      { priority: 3 },
    );
    await interactive.add('raw', { note: 'a retry in its backoff lives in the delayed set' }, { delay: 600_000 });

    expect((await interactive.getJobCounts('wait')).wait).toBe(0);
    expect((await depths()).waitingInteractive).toBe(2);
  });

  it('moves a job from waiting to running when a worker takes it', async () => {
    const waitingBefore = (await depths()).waitingBatch ?? Number.NaN;
    const held = deferred<void>();
    const taken = deferred<Job>();
    const worker = new Worker(
      GENERATION_QUEUES.batch,
      async (job) => {
        taken.resolve(job);
        await held.promise;
      },
      { connection: redisOptionsFor(SHARED_REDIS_URL, 'worker'), prefix, concurrency: 1 },
    );
    try {
      await taken.promise;
      await eventually('the taken job counted as running', async () => (await depths()).runningBatch === 1);
      expect((await depths()).waitingBatch).toBe(waitingBefore - 1);
    } finally {
      await worker.close(true);
      held.resolve();
    }
  });
});
