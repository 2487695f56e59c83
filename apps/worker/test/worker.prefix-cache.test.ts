import { randomBytes, randomUUID } from 'node:crypto';
import type { QueueEvents } from 'bullmq';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDecodeSession, type DecodeResult } from '@dfleet/decoder';
import { loadModel, type LoadedModel } from '@dfleet/model';
import {
  GENERATION_QUEUES,
  generationJobSchema,
  generationResultSchema,
  type GenerationJobInput,
  type GenerationResult,
} from '@dfleet/queue';
import { StepScheduler } from '@dfleet/scheduler';
import { WORKER_METRICS } from '@dfleet/telemetry';
import { TestQueue } from '@dfleet/test-support';
import { loadWorkerConfig } from '../src/config.ts';
import { planJobDecode } from '../src/job-decode-plan.ts';
import { startWorker, type RunningWorker } from '../src/worker.ts';
import { CallbackRecorder } from './callback-recorder.ts';
import { MODEL_DIR, heldOutPrompts } from './default-model.ts';

const prompts = heldOutPrompts(3);

const testQueue = new TestQueue();
const QUEUE = GENERATION_QUEUES.interactive;
const queue = testQueue.queue.of('interactive');
let events: QueueEvents;
const gateway = new CallbackRecorder();
let reference: LoadedModel;
let worker: RunningWorker | undefined;
/** Most rows any forward pass of the worker had: the jobs really shared passes. */
let mostRows = 0;

/** Three blocks of 16, one token a step: a refresh at each block start, cached steps between. */
function jobData(prompt: string): GenerationJobInput {
  const requestId = `cmpl-${randomUUID()}`;
  const token = randomBytes(32).toString('hex');
  gateway.expect(requestId, token);
  return {
    requestId,
    tenant: 'test',
    model: 'jsfunc-mdm',
    prompt,
    options: {
      maxNewTokens: 48,
      blockLength: 16,
      strategy: { name: 'reference', steps: 48 },
      temperature: 0,
      seed: 0,
      stop: [],
    },
    priority: 'interactive',
    callback: { address: gateway.address, token },
    acceptedAt: Date.now(),
  };
}

/** The job decoded alone with the prefix cache, outside the worker. */
async function decodeAloneCached(data: GenerationJobInput): Promise<DecodeResult> {
  const { request } = planJobDecode(generationJobSchema.parse(data), reference);
  const scheduler = new StepScheduler({
    denoiser: reference.denoiser,
    padId: reference.manifest.specialTokens.pad,
    maxBatchTokens: 8_192,
    prefixCache: { maxBytes: 64 * 1024 * 1024 },
  });
  const session = createDecodeSession(request, reference.manifest.vocabSize, reference.denoiser.outputForm);
  await scheduler.submit({ session });
  return session.result();
}

beforeAll(async () => {
  await gateway.start();
  reference = await loadModel(MODEL_DIR, { prefixCache: true, intraOpNumThreads: 1 });
  events = await testQueue.queueEvents();
  const config = loadWorkerConfig({
    REDIS_URL: testQueue.redisUrl,
    DFLEET_REDIS_PREFIX: testQueue.prefix,
    DFLEET_MODEL_DIR: MODEL_DIR,
    DFLEET_WORKER_ID: `test-worker-${randomUUID().slice(0, 8)}`,
    DFLEET_PREFIX_CACHE: 'on',
    DFLEET_PREFIX_CACHE_MAX_MB: '64',
    DFLEET_INTRA_OP_THREADS: '1',
    LOG_LEVEL: 'silent',
  });
  worker = await startWorker(config, {
    onBatch: (report) => {
      mostRows = Math.max(mostRows, report.sessions.length);
    },
  });
});

afterAll(async () => {
  await worker?.close();
  await reference?.close();
  gateway.stop();
  await testQueue.close();
});

describe('worker with DFLEET_PREFIX_CACHE=on (real model, Redis, BullMQ, gRPC callbacks)', () => {
  it('decodes jobs batched together as each decodes alone with the cache, runs cached passes, and frees every cache', async () => {
    const jobs = prompts.map(jobData);
    const results: GenerationResult[] = await Promise.all(
      jobs.map(async (data) => {
        const job = await queue.add(QUEUE, data, { jobId: data.requestId, attempts: 1 });
        return generationResultSchema.parse(await job.waitUntilFinished(events));
      }),
    );
    for (const [i, data] of jobs.entries()) {
      const alone = await decodeAloneCached(data);
      expect(results[i]!.tokenIds).toEqual(alone.tokenIds);
    }

    expect(mostRows).toBeGreaterThan(1);

    const text = await worker!.metrics.registry.metrics();
    const sample = (series: string) =>
      Number(
        text
          .split('\n')
          .find((line) => line.startsWith(`${series} `))
          ?.split(' ')[1],
      );
    const cachedPasses = sample(`${WORKER_METRICS.forwardPasses.name}{kind="cached"}`);
    expect(cachedPasses).toBeGreaterThan(0);
    expect(cachedPasses).toBe(worker!.schedulerStats.cachedPasses);
    expect(sample(`${WORKER_METRICS.forwardPasses.name}{kind="full"}`)).toBeGreaterThan(0);
    expect(sample(WORKER_METRICS.prefixCacheBytes.name)).toBe(0);
    expect(worker!.schedulerStats.cacheBytes).toBe(0);
  });
});
