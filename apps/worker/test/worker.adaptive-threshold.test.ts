import { randomBytes, randomUUID } from 'node:crypto';
import type { Job, QueueEvents } from 'bullmq';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decode, type DecodeResult } from '@dfleet/decoder';
import { loadModel, type LoadedModel } from '@dfleet/model';
import {
  GENERATION_QUEUES,
  generationJobSchema,
  generationResultSchema,
  type GenerationJobInput,
  type GenerationResult,
  type StrategyOptions,
} from '@dfleet/queue';
import { TestQueue } from '@dfleet/test-support';
import { loadWorkerConfig } from '../src/config.ts';
import { planJobDecode } from '../src/job-decode-plan.ts';
import { WORKER_METRICS } from '@dfleet/telemetry';
import { startWorker, type RunningWorker } from '../src/worker.ts';
import { CallbackRecorder } from './callback-recorder.ts';
import { MODEL_DIR, heldOutPrompts } from './default-model.ts';

const prompts = heldOutPrompts(4);

const testQueue = new TestQueue();
const { prefix } = testQueue;
/** These jobs are interactive, so they go to that class's queue. */
const QUEUE = GENERATION_QUEUES.interactive;
const queue = testQueue.queue.of('interactive');
let events: QueueEvents;
const gateway = new CallbackRecorder();
let reference: LoadedModel;
let worker: RunningWorker | undefined;

/** A job that was accepted `waitedMs` ago: the queue wait the worker observes when it claims it. */
function jobData(strategy: StrategyOptions, waitedMs: number, prompt = prompts[0]!): GenerationJobInput {
  const requestId = `cmpl-${randomUUID()}`;
  const token = randomBytes(32).toString('hex');
  gateway.expect(requestId, token);
  return {
    requestId,
    tenant: 'test',
    model: 'jsfunc-mdm',
    prompt,
    options: { maxNewTokens: 48, blockLength: 48, strategy, temperature: 0, seed: 0, stop: [] },
    priority: 'interactive',
    callback: { address: gateway.address, token },
    acceptedAt: Date.now() - waitedMs,
  };
}

/** Enqueues one job and waits for its result, so each claim is one observation of the policy. */
async function run(data: GenerationJobInput): Promise<GenerationResult> {
  const job: Job = await queue.add(QUEUE, data, { jobId: data.requestId, attempts: 1 });
  return generationResultSchema.parse(await job.waitUntilFinished(events));
}

/** The job decoded alone with the given threshold instead of the one it asked for. */
async function decodeAloneWith(data: GenerationJobInput, threshold: number): Promise<DecodeResult> {
  const { request } = planJobDecode(generationJobSchema.parse(data), reference);
  return decode(reference.denoiser, { ...request, strategy: { name: 'threshold', threshold } });
}

beforeAll(async () => {
  await gateway.start();
  reference = await loadModel(MODEL_DIR);
  events = await testQueue.queueEvents();
  const config = loadWorkerConfig({
    REDIS_URL: testQueue.redisUrl,
    DFLEET_REDIS_PREFIX: prefix,
    DFLEET_MODEL_DIR: MODEL_DIR,
    DFLEET_WORKER_ID: `test-worker-${randomUUID().slice(0, 8)}`,
    DFLEET_ADAPTIVE_THRESHOLD: 'on',
    DFLEET_ADAPTIVE_TARGET_WAIT_MS: '100',
    LOG_LEVEL: 'silent',
  });
  expect(config.adaptiveThreshold).toEqual({ targetWaitMs: 100 });
  // No dwell time: every claim may move the level, so the test knows each job's level exactly.
  worker = await startWorker({ ...config, adaptiveThreshold: { ...config.adaptiveThreshold, minDwellMs: 0 } });
});

afterAll(async () => {
  await worker?.close();
  await reference?.close();
  gateway.stop();
  await testQueue.close();
});

describe('worker with load-adaptive thresholds (real model, Redis, BullMQ, gRPC callbacks)', () => {
  it('decodes jobs claimed after a long queue wait with a lowered threshold, never below their floor', async () => {
    const effective: number[] = [];
    for (const prompt of prompts) {
      // Waited a minute: far above the 100 ms target, so each claim lowers the level by one step (0.05).
      const data = jobData({ name: 'threshold', threshold: 0.9, minThreshold: 0.8 }, 60_000, prompt);
      const result = await run(data);
      expect(result.effectiveThreshold).toBeDefined();
      effective.push(result.effectiveThreshold!);

      // The lowered threshold is the one the job really decoded with, not just a label.
      const alone = await decodeAloneWith(data, result.effectiveThreshold!);
      expect(result.tokenIds).toEqual(alone.tokenIds);
      expect(result.steps).toBe(alone.steps);

      const report = await gateway.resultOf(data.requestId);
      expect(report.effectiveThreshold).toBe(result.effectiveThreshold);
    }
    expect(effective).toEqual([0.85, 0.8, 0.8, 0.8]);

    // Without a floor of its own, a job gets the default floor (0.5), not the other job's 0.8.
    const unfloored = await run(jobData({ name: 'threshold', threshold: 0.9 }, 60_000));
    expect(unfloored.effectiveThreshold).toBeCloseTo(0.9 - 5 * 0.05, 9);

    // What /metrics shows: the offset in use now (five steps) and the five thresholds decoded with.
    const text = await worker!.metrics.registry.metrics();
    const sample = (series: string) =>
      Number(
        text
          .split('\n')
          .find((line) => line.startsWith(`${series} `))
          ?.split(' ')[1],
      );
    expect(sample(WORKER_METRICS.adaptiveThresholdOffset.name)).toBeCloseTo(5 * 0.05, 9);
    const thresholds = `${WORKER_METRICS.effectiveThreshold.name}_sum{model="${worker!.modelName}"}`;
    expect(sample(thresholds)).toBeCloseTo(
      [...effective, unfloored.effectiveThreshold!].reduce((a, b) => a + b, 0),
      9,
    );
  });

  it('leaves other strategies as they are and reports no threshold for them', async () => {
    const result = await run(jobData({ name: 'factor', factor: 1 }, 60_000));
    expect(result.effectiveThreshold).toBeUndefined();
  });
});
