import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createGenerationClient, grpc, type GenerationServiceClient } from '@dfleet/proto';
import { GenerationQueues, type GenerationJob } from '@dfleet/queue';
import { deletePrefix, eventually, SHARED_REDIS_URL, uniquePrefix } from '@dfleet/test-support';
import { Redis } from 'ioredis';
import { GRPC_ERROR_CODE_KEY } from '../src/errors.ts';
import type { RunningGateway } from '../src/gateway.ts';
import {
  FIXTURE_MODEL,
  generationResultFor,
  postCompletion,
  reportResult,
  resultReportFor,
  startTestGateway,
  startTestWorker,
} from './support/test-fleet.ts';

// A prefix no worker ever beats under, until the last test starts one.
const prefix = uniquePrefix();
let gateway: RunningGateway;
let client: GenerationServiceClient;
let redis: Redis;
let queues: GenerationQueues<GenerationJob>;

beforeAll(async () => {
  gateway = await startTestGateway(prefix);
  client = createGenerationClient(gateway.grpcAddress);
  redis = new Redis(SHARED_REDIS_URL);
  queues = new GenerationQueues<GenerationJob>({ connection: redis, prefix });
});

afterAll(async () => {
  client?.close();
  await gateway?.close(1_000);
  await queues?.close();
  redis?.disconnect();
  await deletePrefix(prefix);
});

const prompt = 'function add(a, b) {\n';

async function queuedJobs(): Promise<number> {
  const counts = await queues.getJobCounts('wait', 'active', 'completed', 'failed');
  return Object.values(counts).reduce((sum, count) => sum + count, 0);
}

describe('with no live worker for the model', () => {
  it('refuses an interactive HTTP request at once with 503 no_worker and Retry-After, enqueueing nothing', async () => {
    const startedAt = Date.now();
    const response = await postCompletion(gateway, { model: FIXTURE_MODEL, prompt });

    expect(response.status).toBe(503);
    expect(response.headers.get('retry-after')).toBe('5');
    expect(response.body.error).toMatchObject({ code: 'no_worker', param: 'model', type: 'server_error' });
    expect(response.body.error.message).toContain(`no worker serving model '${FIXTURE_MODEL}'`);
    expect(response.body.error.message).toContain('dfleet.priority "batch"');
    // Well under the request timeout the request would otherwise wait for.
    expect(Date.now() - startedAt).toBeLessThan(10_000);
    expect(await queuedJobs()).toBe(0);
  });

  it('refuses Generate and GenerateStream with UNAVAILABLE, no_worker and retry-after', async () => {
    const unary = await new Promise<grpc.ServiceError | null>((resolve) =>
      client.Generate({ model: FIXTURE_MODEL, prompt }, (error) => resolve(error)),
    );
    const streamed = await new Promise<grpc.ServiceError>((resolve) => {
      const call = client.GenerateStream({ model: FIXTURE_MODEL, prompt });
      call.on('data', () => undefined);
      call.on('error', resolve);
    });

    for (const error of [unary, streamed]) {
      expect(error?.code).toBe(grpc.status.UNAVAILABLE);
      expect(error?.metadata.get(GRPC_ERROR_CODE_KEY)).toEqual(['no_worker']);
      expect(error?.metadata.get('retry-after')).toEqual(['5']);
    }
    expect(await queuedJobs()).toBe(0);
  });

  it('queues a batch-priority request until a worker comes, which then answers it', async () => {
    const posted = postCompletion(gateway, { model: FIXTURE_MODEL, prompt, dfleet: { priority: 'batch' } });
    await eventually('the batch job to be queued', async () => (await queues.of('batch').getJobs(['waiting'])).length);

    const worker = await startTestWorker(prefix, async (job) => {
      await reportResult(job.data.callback.address, resultReportFor(job, 'return a + b;'));
      return generationResultFor('return a + b;');
    });
    try {
      const response = await posted;
      expect(response.status).toBe(200);
      expect(response.body.choices[0].text).toBe('return a + b;');
    } finally {
      await worker.close();
    }
  });
});
