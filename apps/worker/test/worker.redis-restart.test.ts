import { randomBytes, randomUUID } from 'node:crypto';
import type { QueueEvents } from 'bullmq';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generationResultSchema, type GenerationJobInput } from '@dfleet/queue';
import { OwnRedisServer, TestQueue } from '@dfleet/test-support';
import { loadWorkerConfig } from '../src/config.ts';
import { startWorker, type RunningWorker } from '../src/worker.ts';
import { MODEL_DIR } from './default-model.ts';

let redis: OwnRedisServer;
let testQueue: TestQueue;
let events: QueueEvents;
let worker: RunningWorker | undefined;

beforeAll(async () => {
  redis = await OwnRedisServer.create();
  await redis.start();
  // The test's clients wait out the outage instead of failing fast, like a worker does.
  testQueue = new TestQueue({ redisUrl: redis.url });
  events = await testQueue.queueEvents('batch');
  const { prefix } = testQueue;
  worker = await startWorker({
    ...loadWorkerConfig({
      REDIS_URL: redis.url,
      DFLEET_REDIS_PREFIX: prefix,
      DFLEET_MODEL_DIR: MODEL_DIR,
      DFLEET_WORKER_ID: 'restart-test',
      LOG_LEVEL: 'silent',
    }),
  });
});

afterAll(async () => {
  await worker?.close();
  await testQueue?.close();
  await redis?.destroy();
});

function jobData(): GenerationJobInput {
  return {
    requestId: `cmpl-${randomUUID()}`,
    tenant: 'test',
    model: 'jsfunc-mdm',
    prompt: '// return a plus b\nfunction add(a, b) {\n',
    options: {
      maxNewTokens: 16,
      blockLength: 16,
      strategy: { name: 'threshold', threshold: 0.9 },
      temperature: 0,
      seed: 0,
    },
    priority: 'batch',
    // No gateway in this test: the results are read from Redis.
    callback: { address: '127.0.0.1:1', token: randomBytes(16).toString('hex') },
    acceptedAt: Date.now(),
  };
}

async function runJob(): Promise<unknown> {
  const data = jobData();
  const job = await testQueue.queue.add('batch', data, { jobId: data.requestId, attempts: 3 });
  return generationResultSchema.parse(await job.waitUntilFinished(events));
}

describe('worker across a Redis restart', () => {
  it('claims and finishes jobs again after Redis restarts', async () => {
    await expect(runJob()).resolves.toMatchObject({ workerId: 'restart-test' });
    await redis.stop();
    await redis.start();
    await expect(runJob()).resolves.toMatchObject({ workerId: 'restart-test' });
  });
});
