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
} from '@dfleet/queue';
import { TestQueue } from '@dfleet/test-support';
import { loadWorkerConfig } from '../src/config.ts';
import { planJobDecode } from '../src/job-decode-plan.ts';
import { startWorker, type RunningWorker } from '../src/worker.ts';
import { CallbackRecorder } from './callback-recorder.ts';
import { MODEL_DIR, heldOutPrompts } from './default-model.ts';

const prompts = heldOutPrompts(4);
const testQueue = new TestQueue();
const QUEUE = GENERATION_QUEUES.interactive;
const queue = testQueue.queue.of('interactive');
const gateway = new CallbackRecorder();
let events: QueueEvents;
let reference: LoadedModel;
let worker: RunningWorker | undefined;

function jobData(overrides: Partial<GenerationJobInput['options']>, prompt = prompts[0]!): GenerationJobInput {
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
      blockLength: 48,
      strategy: { name: 'threshold', threshold: 0.9 },
      temperature: 0,
      seed: 0,
      stop: [],
      ...overrides,
    },
    priority: 'interactive',
    callback: { address: gateway.address, token },
    acceptedAt: Date.now(),
  };
}

async function run(data: GenerationJobInput): Promise<GenerationResult> {
  const job: Job = await queue.add(QUEUE, data, { jobId: data.requestId, attempts: 3 });
  return generationResultSchema.parse(await job.waitUntilFinished(events));
}

async function decodeAlone(data: GenerationJobInput): Promise<DecodeResult> {
  return decode(reference.denoiser, planJobDecode(generationJobSchema.parse(data), reference).request);
}

beforeAll(async () => {
  await gateway.start();
  reference = await loadModel(MODEL_DIR);
  events = await testQueue.queueEvents();
  worker = await startWorker(
    loadWorkerConfig({
      REDIS_URL: testQueue.redisUrl,
      DFLEET_REDIS_PREFIX: testQueue.prefix,
      DFLEET_MODEL_DIR: MODEL_DIR,
      DFLEET_WORKER_ID: `test-worker-${randomUUID().slice(0, 8)}`,
      LOG_LEVEL: 'silent',
    }),
  );
});

afterAll(async () => {
  await worker?.close();
  await reference?.close();
  gateway.stop();
  await testQueue.close();
});

describe('a streaming job (streamSteps) with the real model, Redis, BullMQ and gRPC callbacks', () => {
  it('reports every step in order before the result; their tokens rebuild the answer and finalPrefix never decreases', async () => {
    // Eight steps of six tokens each: a stream with something to show at every step.
    const data = jobData({
      strategy: { name: 'reference', steps: 8, remasking: 'low_confidence' },
      streamSteps: true,
      logprobs: 2,
    });
    const result = await run(data);
    const report = await gateway.resultOf(data.requestId);

    const arrivals = gateway.arrivals.filter((arrival) => arrival.jobId === data.requestId).map((a) => a.kind);
    const steps = gateway.steps.filter((step) => step.jobId === data.requestId);
    expect(arrivals).toEqual([...steps.map(() => 'step'), 'result']);
    expect(steps.map((step) => step.step)).toEqual(Array.from({ length: result.steps }, (_, i) => i + 1));
    expect(steps.every((step) => step.callbackToken === data.callback.token && step.attempt === 1)).toBe(true);
    expect(steps.map((step) => step.finished)).toEqual(steps.map((_, i) => i === steps.length - 1));

    const rebuilt = new Map<number, number>();
    const committedAt = new Map<number, number>();
    let previous = 0;
    for (const step of steps) {
      expect(step.committedLogprobs).toHaveLength(step.committedTokens.length);
      step.committedPositions.forEach((position, i) => {
        rebuilt.set(position, step.committedTokens[i]!);
        committedAt.set(position, step.step);
      });
      expect(step.finalPrefix).toBeGreaterThanOrEqual(previous);
      for (let p = 0; p < step.finalPrefix; p++) expect(rebuilt.get(p)).toBe(result.tokenIds[p]);
      previous = step.finalPrefix;
    }
    expect(steps.at(-1)!.finalPrefix).toBe(result.tokenIds.length);
    expect(result.tokenIds.map((_, p) => rebuilt.get(p))).toEqual(result.tokenIds);

    // The result carries when each token was committed and its log-probabilities, in Redis and in the callback.
    expect(result.tokenSteps).toEqual(result.tokenIds.map((_, p) => committedAt.get(p)));
    expect(result.tokenLogprobs).toHaveLength(result.tokenIds.length);
    result.tokenLogprobs!.forEach((entry, p) => {
      expect(entry.top).toHaveLength(2);
      expect(entry.top[0]!.id).toBe(result.tokenIds[p]);
    });
    expect(report.tokenSteps).toEqual(result.tokenSteps);
    expect(report.tokenLogprobs.map((entry) => entry.logprob)).toEqual(result.tokenLogprobs!.map((e) => e.logprob));
    expect(gateway.progress.filter((progress) => progress.jobId === data.requestId)).toEqual([]);
  });

  it('cuts the answer at maxAnswerTokens with "length", the tokens the uncapped job decodes', async () => {
    const uncapped = jobData({ strategy: { name: 'reference', steps: 48, remasking: 'low_confidence' } }, prompts[1]);
    const full = await decodeAlone(uncapped);
    expect(full.tokenIds.length).toBeGreaterThan(4);
    const capped = jobData({ ...uncapped.options, maxAnswerTokens: 4 }, prompts[1]);
    const result = await run(capped);
    expect(result).toMatchObject({ tokenIds: full.tokenIds.slice(0, 4), finishReason: 'length' });
    expect(result.tokenSteps).toEqual(full.tokenSteps.slice(0, 4));
    expect(result.text).toBe(reference.tokenizer.decode(full.tokenIds.slice(0, 4)));
  });

  it('fails a job with a suffix at once on a model not trained to infill, saying why', async () => {
    const data = jobData({ suffix: '\n}' });
    const job = await queue.add(QUEUE, data, { jobId: data.requestId, attempts: 3 });
    await expect(job.waitUntilFinished(events)).rejects.toThrow(/invalid_job: options\.suffix: .*capabilities\.infill/);
    await expect(gateway.resultOf(data.requestId)).resolves.toMatchObject({ errorCode: 'invalid_job' });
  });
});
