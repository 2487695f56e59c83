import { randomBytes, randomUUID } from 'node:crypto';
import type { Job, QueueEvents } from 'bullmq';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decode, type DecodeResult } from '@dfleet/decoder';
import { loadModel, type LoadedModel } from '@dfleet/model';
import {
  GENERATION_QUEUES,
  generationJobSchema,
  generationResultSchema,
  listFinishedJobs,
  listLiveWorkers,
  type GenerationJobInput,
  type GenerationResult,
} from '@dfleet/queue';
import { cancelRequestKey } from '@dfleet/queue';
import type { BatchReport } from '@dfleet/scheduler';
import { TestQueue, eventually } from '@dfleet/test-support';
import { loadWorkerConfig, type WorkerConfig } from '../src/config.ts';
import { planJobDecode } from '../src/job-decode-plan.ts';
import { startWorker, type RunningWorker } from '../src/worker.ts';
import { CallbackRecorder } from './callback-recorder.ts';
import { MODEL_DIR, heldOutPrompts } from './default-model.ts';

const prompts = heldOutPrompts(8);

const testQueue = new TestQueue();
const { prefix } = testQueue;
/** These jobs are interactive, so they go to that class's queue. */
const QUEUE = GENERATION_QUEUES.interactive;
const queue = testQueue.queue.of('interactive');
let events: QueueEvents;
const redis = new Redis(testQueue.redisUrl);
const gateway = new CallbackRecorder();
const batches: BatchReport[] = [];
/** The same model, loaded by the test to decode jobs alone for comparison. */
let reference: LoadedModel;
let worker: RunningWorker | undefined;

function workerConfig(overrides: Partial<WorkerConfig> = {}): WorkerConfig {
  return {
    ...loadWorkerConfig({
      REDIS_URL: testQueue.redisUrl,
      DFLEET_REDIS_PREFIX: prefix,
      DFLEET_MODEL_DIR: MODEL_DIR,
      DFLEET_WORKER_ID: `test-worker-${randomUUID().slice(0, 8)}`,
      DFLEET_MAX_ACTIVE_JOBS: '8',
      LOG_LEVEL: 'silent',
    }),
    ...overrides,
  };
}

function jobData(
  overrides: Partial<GenerationJobInput['options']> = {},
  callbackAddress = gateway.address,
): GenerationJobInput {
  const requestId = `cmpl-${randomUUID()}`;
  const token = randomBytes(32).toString('hex');
  gateway.expect(requestId, token);
  return {
    requestId,
    tenant: 'test',
    model: 'jsfunc-mdm',
    prompt: prompts[0]!,
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
    callback: { address: callbackAddress, token },
    acceptedAt: Date.now(),
  };
}

/** The way a gateway enqueues (fleet contract: jobId = requestId, the class's queue, 3 attempts). */
async function enqueue(
  data: GenerationJobInput | Record<string, unknown>,
  jobId = String(data['requestId']),
): Promise<Job> {
  return queue.add(QUEUE, data, {
    jobId,
    attempts: 3,
    backoff: { type: 'exponential', delay: 1_000 },
  });
}

async function finished(job: Job): Promise<GenerationResult> {
  const returned: unknown = await job.waitUntilFinished(events);
  return generationResultSchema.parse(returned);
}

/** What @dfleet/decoder produces for the job decoded alone on the same model, unpadded. */
async function decodeAlone(data: GenerationJobInput): Promise<DecodeResult> {
  const { request } = planJobDecode(generationJobSchema.parse(data), reference);
  return decode(reference.denoiser, request);
}

/** The worker every test expects (a test that replaces it starts this one again). */
function startSuiteWorker() {
  return startWorker(workerConfig({ cancelPollIntervalMs: 20 }), { onBatch: (report) => batches.push(report) });
}

beforeAll(async () => {
  await gateway.start();
  reference = await loadModel(MODEL_DIR);
  events = await testQueue.queueEvents();
  worker = await startSuiteWorker();
});

afterAll(async () => {
  await worker?.close();
  await reference?.close();
  gateway.stop();
  await redis.quit();
  await testQueue.close();
});

describe('worker with the real model, Redis, BullMQ and gRPC callbacks', () => {
  it('publishes a heartbeat as soon as it is ready, with device, model and jobs in flight', async () => {
    const beats = await listLiveWorkers(redis, prefix);
    expect(beats).toContainEqual(
      expect.objectContaining({
        workerId: worker!.workerId,
        device: 'cpu',
        model: 'jsfunc-mdm',
        pid: process.pid,
        jobsInFlight: 0,
      }),
    );
  });

  it("records each job it finishes once in the fleet's record, and counts it and its tokens in its heartbeat", async () => {
    const data = jobData();
    const result = await finished(await enqueue(data));
    const entries = await eventually('the finished job recorded', async () => {
      const found = (await listFinishedJobs(redis, prefix, 0)).filter((entry) => entry.jobId === data.requestId);
      return found.length > 0 && found;
    });
    expect(entries).toHaveLength(1);
    expect(entries[0]).toMatchObject({
      priority: 'interactive',
      workerId: worker!.workerId,
      finishReason: result.finishReason,
      tokens: result.tokenIds.length,
      queueMs: result.queueMs,
    });
    // Accepted to result: the wait in the queue and the decode, at least (whole ms on both clocks).
    expect(entries[0]!.e2eMs).toBeGreaterThanOrEqual(Math.floor(result.queueMs + result.decodeMs) - 1);
    const beat = await eventually('a heartbeat after the job', async () => {
      const mine = (await listLiveWorkers(redis, prefix)).find((b) => b.workerId === worker!.workerId);
      return mine !== undefined && (mine.jobsCompleted ?? 0) > 0 && mine;
    });
    expect(beat.tokensPerSecond).toBeGreaterThan(0);
  });

  it('decodes a job, reports progress and the result with the job token, and leaves the result in Redis', async () => {
    // Several steps: a job done in one step has nothing to report before its result.
    const data = jobData({ strategy: { name: 'reference', steps: 8, remasking: 'low_confidence' } });
    const job = await enqueue(data);
    const result = await finished(job);
    const expected = await decodeAlone(data);

    expect(result.tokenIds).toEqual(expected.tokenIds);
    expect(result).toMatchObject({
      finishReason: expected.finishReason,
      steps: expected.steps,
      nfe: expected.nfe,
      workerId: worker!.workerId,
    });
    expect(result.text).toBe(reference.tokenizer.decode(expected.tokenIds));
    expect(result.promptTokens).toBe(reference.tokenizer.encode(data.prompt).length);

    const report = await gateway.resultOf(data.requestId);
    expect(report).toMatchObject({
      callbackToken: data.callback.token,
      attempt: 1,
      text: result.text,
      tokenIds: result.tokenIds,
      finishReason: result.finishReason,
      steps: result.steps,
      workerId: worker!.workerId,
      errorCode: '',
    });
    const progress = await gateway.firstProgressOf(data.requestId);
    expect(progress).toMatchObject({ callbackToken: data.callback.token, attempt: 1, totalTokens: 48 });
    expect(progress.step).toBeGreaterThanOrEqual(1);

    const stored = await queue.getJob(data.requestId);
    expect(generationResultSchema.parse(stored!.returnvalue)).toEqual(result);
  });

  it('sends no progress for a job that finishes in its first step, only the result', async () => {
    const data = jobData({ strategy: { name: 'reference', steps: 1, remasking: 'low_confidence' } });
    const result = await finished(await enqueue(data));
    expect(result.steps).toBe(1);
    // Progress and result travel in order on one report stream: any progress came before this.
    await gateway.resultOf(data.requestId);
    expect(gateway.progress.filter((report) => report.jobId === data.requestId)).toEqual([]);
  });

  it('decodes concurrent jobs with mixed strategies in shared passes to the same tokens as each alone', async () => {
    const strategies = [
      { name: 'threshold', threshold: 0.9 },
      { name: 'reference', steps: 48, remasking: 'low_confidence' },
      { name: 'factor', factor: 1 },
      { name: 'entropy-bounded', gamma: 0.1 },
      { name: 'reference', steps: 24, remasking: 'random' },
      { name: 'threshold', threshold: 0.5 },
    ] as const;
    const datas = strategies.map((strategy, i) => ({
      ...jobData({
        strategy,
        temperature: i % 2 === 0 ? 0 : 0.7,
        seed: i,
        maxNewTokens: i === 3 ? 32 : 48,
        blockLength: i === 1 ? 16 : i === 3 ? 32 : 48,
      }),
      prompt: prompts[i]!,
    }));
    const passesBefore = batches.length;
    const jobs = await queue.addBulk(
      datas.map((data) => ({ name: QUEUE, data, opts: { jobId: data.requestId, attempts: 3 } })),
    );
    const results = await Promise.all(jobs.map(finished));
    for (const [i, data] of datas.entries()) {
      const alone = await decodeAlone(data);
      expect({
        tokenIds: results[i]!.tokenIds,
        finishReason: results[i]!.finishReason,
        steps: results[i]!.steps,
      }).toEqual({
        tokenIds: alone.tokenIds,
        finishReason: alone.finishReason,
        steps: alone.steps,
      });
    }
    expect(Math.max(...batches.slice(passesBefore).map((pass) => pass.sessions.length))).toBeGreaterThan(1);
  });

  it('fails a job with invalid data at once, naming the field, and keeps serving', async () => {
    const data = jobData();
    const { maxNewTokens: _dropped, ...optionsWithoutLength } = data.options;
    const invalid = { ...data, options: optionsWithoutLength };
    const job = await enqueue(invalid, data.requestId);
    await expect(job.waitUntilFinished(events)).rejects.toThrow(/invalid_job: options\.maxNewTokens/);
    const failed = await queue.getJob(data.requestId);
    expect(failed!.attemptsMade).toBe(1);
    expect(await failed!.getState()).toBe('failed');
    const report = await gateway.resultOf(data.requestId);
    expect(report).toMatchObject({ errorCode: 'invalid_job', callbackToken: data.callback.token, text: '' });
    expect(report.errorMessage).toContain('options.maxNewTokens');

    const next = jobData();
    await expect(finished(await enqueue(next))).resolves.toMatchObject({ workerId: worker!.workerId });
  });

  it('fails at once a prompt too long for the model and options the decoder refuses, naming them', async () => {
    const tooLong = { ...jobData(), prompt: 'x'.repeat(200) };
    const badBlocks = jobData({ maxNewTokens: 48, blockLength: 20 });
    const [longJob, blocksJob] = [await enqueue(tooLong), await enqueue(badBlocks)];
    await expect(longJob.waitUntilFinished(events)).rejects.toThrow(/^prompt_too_long: .*maxSequenceLength 160/);
    await expect(blocksJob.waitUntilFinished(events)).rejects.toThrow(/^invalid_job: options\.blockLength: /);
    for (const data of [tooLong, badBlocks]) {
      expect((await queue.getJob(data.requestId))!.attemptsMade).toBe(1);
    }
    await expect(gateway.resultOf(tooLong.requestId)).resolves.toMatchObject({ errorCode: 'prompt_too_long' });
    await expect(gateway.resultOf(badBlocks.requestId)).resolves.toMatchObject({ errorCode: 'invalid_job' });
  });

  it('completes a job whose callback address is unreachable, with the result in Redis', async () => {
    const data = jobData({}, '127.0.0.1:1');
    const result = await finished(await enqueue(data));
    const stored = await queue.getJob(data.requestId);
    expect(await stored!.getState()).toBe('completed');
    expect(generationResultSchema.parse(stored!.returnvalue)).toEqual(result);
    expect(result.tokenIds).toEqual((await decodeAlone(data)).tokenIds);
  });

  it('stops a job past its deadline with finish reason "deadline"', async () => {
    const data = jobData({ deadlineAt: Date.now() - 1 });
    const result = await finished(await enqueue(data));
    expect(result).toMatchObject({ finishReason: 'deadline', steps: 0, tokenIds: [] });
  });

  it('commits no step of a handed-back job whose cancel mark was set meanwhile: finish reason "cancelled"', async () => {
    await worker!.close();
    const impatient = await startWorker(workerConfig({ shutdownTimeoutMs: 1 }));
    const data = jobData({ strategy: { name: 'reference', steps: 48, remasking: 'low_confidence' } });
    const job = await enqueue(data);
    await gateway.firstProgressOf(data.requestId);
    await impatient.close();
    expect(['waiting', 'prioritized']).toContain(await (await queue.getJob(data.requestId))!.getState());
    // The mark of a gateway that saw the job held (set here after the hand-back, so the
    // impatient worker's own watcher cannot act on it first).
    await redis.set(cancelRequestKey(prefix, data.requestId), 'client', 'PX', 60_000);

    worker = await startSuiteWorker();
    const result = await finished(job);
    expect(result).toMatchObject({ finishReason: 'cancelled', steps: 0, workerId: worker.workerId });
    await expect(gateway.resultOf(data.requestId)).resolves.toMatchObject({ finishReason: 'cancelled' });
  });

  it('stops an active job at a later step once a gateway sets its cancel mark', async () => {
    // 48 one-token steps: far more passes than the watcher needs to see the mark.
    const data = jobData({ strategy: { name: 'reference', steps: 48, remasking: 'low_confidence' } });
    const job = await enqueue(data);
    await gateway.firstProgressOf(data.requestId);
    await redis.set(cancelRequestKey(prefix, data.requestId), 'client', 'PX', 60_000);
    const result = await finished(job);
    // Without early exit the reference strategy always takes 48 steps: fewer means it was stopped.
    expect(result.steps).toBeGreaterThanOrEqual(1);
    expect(result.steps).toBeLessThan(48);
    // "cancelled", unless the committed prefix already ended at an eos (the decoder then says so).
    expect(['cancelled', 'eos']).toContain(result.finishReason);
    expect(result.tokenIds.length).toBeLessThanOrEqual(result.steps);
  });

  it('hands an active job back to the queue when the shutdown grace runs out, and another worker finishes it', async () => {
    await worker!.close();
    const impatient = await startWorker(workerConfig({ shutdownTimeoutMs: 1 }));
    expect((await listLiveWorkers(redis, prefix)).map((beat) => beat.workerId)).toEqual([impatient.workerId]);
    const data = jobData({ strategy: { name: 'reference', steps: 48, remasking: 'low_confidence' } });
    const job = await enqueue(data);
    await gateway.firstProgressOf(data.requestId);
    await impatient.close();

    const handedBack = await queue.getJob(data.requestId);
    expect(['waiting', 'prioritized']).toContain(await handedBack!.getState());
    expect(handedBack!.attemptsMade).toBe(0);
    expect(await listLiveWorkers(redis, prefix)).toEqual([]);

    worker = await startSuiteWorker();
    const result = await finished(job);
    expect(result.workerId).toBe(worker.workerId);
    expect(result.tokenIds).toEqual((await decodeAlone(data)).tokenIds);
  });
});
