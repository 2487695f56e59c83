import { join } from 'node:path';
import type { Job } from 'bullmq';
import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { Tokenizer } from '@dfleet/model';
import {
  createGenerationClient,
  grpc,
  type GenerateEvent__Output,
  type GenerateRequest,
  type GenerationServiceClient,
  type StepReport,
} from '@dfleet/proto';
import { cancelRequestKey, GenerationQueues, type GenerationJob, type GenerationResult } from '@dfleet/queue';
import { SHARED_REDIS_URL, deletePrefix, eventually, uniquePrefix } from '@dfleet/test-support';
import { GRPC_ERROR_CODE_KEY } from '../src/errors.ts';
import type { RunningGateway } from '../src/gateway.ts';
import {
  FIXTURE_MODEL,
  FIXTURE_MODEL_DIR,
  deferred,
  generationResultFor,
  openReportStream,
  reportResult,
  reportStepsThenResult,
  resultReportFor,
  startTestGateway,
  startTestHeartbeat,
  startTestWorker,
  stepReportsFor,
  type TestWorker,
} from './support/test-fleet.ts';

const prefix = uniquePrefix();
let gateway: RunningGateway;
let client: GenerationServiceClient;
let tokenizer: Tokenizer;
let redis: Redis;
let queues: GenerationQueues<GenerationJob, GenerationResult>;
let worker: TestWorker | undefined;
let idleWorker: { close(): Promise<void> } | undefined;

beforeAll(async () => {
  gateway = await startTestGateway(prefix);
  client = createGenerationClient(gateway.grpcAddress);
  tokenizer = await Tokenizer.fromFile(join(FIXTURE_MODEL_DIR, 'tokenizer.json'));
  redis = new Redis(SHARED_REDIS_URL);
  queues = new GenerationQueues<GenerationJob, GenerationResult>({ connection: redis, prefix });
});

afterEach(async () => {
  await worker?.close();
  await idleWorker?.close();
  worker = undefined;
  idleWorker = undefined;
});

afterAll(async () => {
  client?.close();
  await gateway?.close(1_000);
  await queues?.close();
  redis?.disconnect();
  await deletePrefix(prefix);
});

const prompt = 'function add(a, b) {\n';
const answer = 'return a + b;\n}';

/** The whole stream: its events, and the error it ended with, if any. */
function generateStream(
  request: GenerateRequest,
  onEvent: (event: GenerateEvent__Output, call: grpc.ClientReadableStream<GenerateEvent__Output>) => void = () => {},
): Promise<{ events: GenerateEvent__Output[]; error: grpc.ServiceError | null }> {
  const call = client.GenerateStream(request);
  const events: GenerateEvent__Output[] = [];
  return new Promise((resolve) => {
    call.on('data', (event: GenerateEvent__Output) => {
      events.push(event);
      onEvent(event, call);
    });
    call.on('error', (error: grpc.ServiceError) => resolve({ events, error }));
    call.on('end', () => resolve({ events, error: null }));
  });
}

/** A worker that reports `perStep` answer tokens per step, then the result, on one report stream. */
async function startSteppingWorker(text: string, perStep: number): Promise<Job<GenerationJob>[]> {
  const tokenIds = tokenizer.encode(text);
  const jobs: Job<GenerationJob>[] = [];
  worker = await startTestWorker(prefix, async (job) => {
    jobs.push(job);
    const result = { ...generationResultFor(text), tokenIds, text: tokenizer.decode(tokenIds) };
    await reportStepsThenResult(
      job.data.callback.address,
      stepReportsFor(job, tokenIds, perStep),
      resultReportFor(job, text, { tokenIds, text: result.text }),
    );
    return result;
  });
  return jobs;
}

const deltasOf = (events: GenerateEvent__Output[]) => events.flatMap((event) => (event.delta ? [event.delta] : []));
const statesOf = (events: GenerateEvent__Output[]) => events.flatMap((event) => (event.state ? [event.state] : []));

describe('GenerateStream', () => {
  it('streams text deltas of the growing final prefix that concatenate to the answer, then the response', async () => {
    const jobs = await startSteppingWorker(answer, 3);
    const tokenIds = tokenizer.encode(answer);

    const { events, error } = await generateStream({ model: FIXTURE_MODEL, prompt, maxTokens: 24 });

    expect(error).toBeNull();
    expect(jobs[0]?.data.options.streamSteps).toBe(true);
    const deltas = deltasOf(events);
    expect(deltas.length).toBe(Math.ceil(tokenIds.length / 3));
    expect(deltas.map((delta) => delta.text).join('')).toBe(answer);
    expect(deltas.flatMap((delta) => delta.tokenIds)).toEqual(tokenIds);
    expect(statesOf(events)).toEqual([]);
    const last = events.at(-1);
    expect(last?.event).toBe('done');
    expect(last?.done).toMatchObject({ id: jobs[0]?.id, text: answer, finishReason: 'eos', tokenIds });
  });

  it('with stream_states sends the whole canvas after every step, its masks decreasing to none', async () => {
    await startSteppingWorker(answer, 4);
    const tokenIds = tokenizer.encode(answer);

    const { events, error } = await generateStream({ model: FIXTURE_MODEL, prompt, streamStates: true });

    expect(error).toBeNull();
    const states = statesOf(events);
    expect(states.map((state) => state.step)).toEqual(states.map((_, index) => index + 1));
    const masked = states.map((state) => state.maskedPositions.length);
    for (let i = 1; i < masked.length; i++) expect(masked[i]).toBeLessThan(masked[i - 1] as number);
    expect(masked.at(-1)).toBe(0);
    const final = states.at(-1);
    expect(final?.tokenIds).toEqual(tokenIds);
    expect(final?.tokens.join('')).toBe(answer);
    expect(final?.finalPrefix).toBe(tokenIds.length);
    const first = states[0];
    expect(first?.tokenIds.filter((id) => id === -1)).toHaveLength(tokenIds.length - 4);
    expect(first?.tokens.filter((token) => token === '')).toHaveLength(tokenIds.length - 4);
    expect(
      deltasOf(events)
        .map((delta) => delta.text)
        .join(''),
    ).toBe(answer);
  });

  it('answers a job settled from Redis, with no step report and no callback, with its whole text as one delta', async () => {
    worker = await startTestWorker(prefix, async () => ({
      ...generationResultFor(answer),
      tokenIds: tokenizer.encode(answer),
    }));

    const { events, error } = await generateStream({ model: FIXTURE_MODEL, prompt });

    expect(error).toBeNull();
    expect(events.map((event) => event.event)).toEqual(['delta', 'done']);
    expect(events[0]?.delta?.text).toBe(answer);
    expect(events[1]?.done?.text).toBe(answer);
  });

  it('waits a moment for the last steps when Redis settles the job before they arrive, so the final canvas shows', async () => {
    const tokenIds = tokenizer.encode(answer);
    const allButLastShown = deferred<true>();
    worker = await startTestWorker(prefix, async (job) => {
      const reports = openReportStream(job.data.callback.address);
      const steps = stepReportsFor(job, tokenIds, 4);
      for (const step of steps.slice(0, -1)) reports.step(step);
      await allButLastShown.promise;
      // The result goes to Redis only (no callback result), and the last step comes after it.
      setTimeout(() => {
        reports.step(steps.at(-1) as StepReport);
        reports.end();
      }, 50);
      return { ...generationResultFor(answer), tokenIds, steps: steps.length, nfe: steps.length };
    });
    const lastButOne = Math.ceil(tokenIds.length / 4) - 1;

    const { events, error } = await generateStream({ model: FIXTURE_MODEL, prompt, streamStates: true }, (event) => {
      if (event.state?.step === lastButOne) allButLastShown.resolve(true);
    });

    expect(error).toBeNull();
    const states = statesOf(events);
    const done = events.at(-1)?.done;
    expect(states.length).toBe(done?.usage?.steps);
    expect(states.at(-1)?.maskedPositions).toEqual([]);
    expect(
      deltasOf(events)
        .map((delta) => delta.text)
        .join(''),
    ).toBe(answer);
  });

  it('cancelling the call mid-stream cancels the running job: its worker finds the cancel mark', async () => {
    const tokenIds = tokenizer.encode(answer);
    const running: string[] = [];
    worker = await startTestWorker(prefix, async (job) => {
      running.push(job.id ?? '');
      const reports = openReportStream(job.data.callback.address);
      reports.step(stepReportsFor(job, tokenIds, 2)[0] as StepReport);
      // A decoding worker checks for the mark between steps; this one waits for it.
      await eventually(
        'the cancel mark',
        async () => (await redis.get(cancelRequestKey(prefix, job.id ?? ''))) !== null,
      );
      const cancelled = { ...generationResultFor(''), tokenIds: [], finishReason: 'cancelled' as const };
      await reports.result(resultReportFor(job, '', cancelled));
      return cancelled;
    });

    const { events, error } = await generateStream({ model: FIXTURE_MODEL, prompt }, (event, call) => {
      if (event.delta) call.cancel();
    });

    expect(error?.code).toBe(grpc.status.CANCELLED);
    expect(deltasOf(events)[0]?.text).toBe(tokenizer.decode(tokenIds.slice(0, 2)));
    const jobId = running[0] ?? '';
    await eventually('the job to finish as cancelled', async () => {
      const job = await queues.getJob(jobId);
      return (await job?.getState()) === 'completed' && job?.returnvalue?.finishReason === 'cancelled';
    });
  });

  it('cancelling the call while the job waits removes the job from the queue', async () => {
    idleWorker = await startTestHeartbeat(prefix);
    const call = client.GenerateStream({ model: FIXTURE_MODEL, prompt, idempotencyKey: `stream-cancel-${prefix}` });
    call.on('error', () => undefined);
    const queued = await eventually('the job to be queued', async () => (await queues.getJobs(['waiting']))[0]);

    call.cancel();

    await eventually('the job to be removed', async () => (await queues.getJob(queued.id ?? '')) === undefined);
  });

  it('ends with the error a failed job gets from Generate', async () => {
    worker = await startTestWorker(prefix, async (job) => {
      await reportResult(job.data.callback.address, {
        ...resultReportFor(job, ''),
        errorCode: 'decode_failed',
        errorMessage: 'the model broke',
      });
      throw new Error('the model broke');
    });

    const { events, error } = await generateStream({ model: FIXTURE_MODEL, prompt });

    expect(events).toEqual([]);
    expect(error?.code).toBe(grpc.status.INTERNAL);
    expect(error?.metadata.get(GRPC_ERROR_CODE_KEY)).toEqual(['generation_failed']);
    expect(error?.details).toContain('decode_failed: the model broke');
  });
});
