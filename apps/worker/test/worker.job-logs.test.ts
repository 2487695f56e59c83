import { randomBytes, randomUUID } from 'node:crypto';
import { Writable } from 'node:stream';
import { Redis } from 'ioredis';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cancelRequestKey, GENERATION_QUEUES, type GenerationJobInput } from '@dfleet/queue';
import { eventually, TestQueue } from '@dfleet/test-support';
import { loadWorkerConfig } from '../src/config.ts';
import { JOB_FAILED } from '../src/log-messages.ts';
import { startWorker, type RunningWorker } from '../src/worker.ts';
import { CallbackRecorder } from './callback-recorder.ts';
import { MODEL_DIR, heldOutPrompts } from './default-model.ts';

const [PROMPT] = heldOutPrompts(1) as [string];
const testQueue = new TestQueue();
const { prefix } = testQueue;
const queue = testQueue.queue.of('interactive');
const redis = new Redis(testQueue.redisUrl);
const gateway = new CallbackRecorder();
/** Every line the worker logged, parsed. */
const lines: Record<string, unknown>[] = [];
let worker: RunningWorker;

const traceparentOf = (traceId: string) => `00-${traceId}-${randomBytes(8).toString('hex')}-01`;
const newTraceId = () => randomBytes(16).toString('hex');

function jobData(options: { traceId?: string; model?: string; steps?: number }): GenerationJobInput {
  return {
    requestId: `cmpl-${randomUUID()}`,
    tenant: 'test',
    model: options.model ?? 'jsfunc-mdm',
    prompt: PROMPT,
    options: {
      maxNewTokens: 48,
      blockLength: 48,
      strategy: { name: 'reference', steps: options.steps ?? 8, remasking: 'low_confidence' },
      temperature: 0,
      seed: 0,
      stop: [],
    },
    priority: 'interactive',
    // No token is registered with the recorder: it refuses every result, which the worker logs.
    callback: { address: gateway.address, token: randomBytes(32).toString('hex') },
    traceContext: options.traceId === undefined ? {} : { traceparent: traceparentOf(options.traceId) },
    acceptedAt: Date.now(),
  };
}

function enqueue(data: GenerationJobInput) {
  return queue.add(GENERATION_QUEUES.interactive, data, { jobId: data.requestId, attempts: 1 });
}

const linesOf = (jobId: string) => lines.filter((line) => JSON.stringify(line).includes(jobId));

beforeAll(async () => {
  await gateway.start();
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString().split('\n')) if (line !== '') lines.push(JSON.parse(line));
      done();
    },
  });
  const config = loadWorkerConfig({
    REDIS_URL: testQueue.redisUrl,
    DFLEET_REDIS_PREFIX: prefix,
    DFLEET_MODEL_DIR: MODEL_DIR,
    DFLEET_WORKER_ID: `test-worker-${randomUUID().slice(0, 8)}`,
    LOG_LEVEL: 'debug',
  });
  worker = await startWorker(
    { ...config, cancelPollIntervalMs: 20 },
    { logger: pino({ level: 'debug', base: { app: 'worker' } }, sink) },
  );
}, 120_000);

afterAll(async () => {
  await worker?.close();
  gateway.stop();
  redis.disconnect();
  await testQueue.close();
});

describe("the worker's log lines about a job", () => {
  it('name the job and the trace its data carries, from the claim to the callback', async () => {
    const failing = jobData({ traceId: newTraceId(), model: 'not-this-model' });
    const refused = jobData({ traceId: newTraceId() });
    const cancelled = jobData({ traceId: newTraceId(), steps: 48 });
    for (const data of [failing, refused, cancelled]) await enqueue(data);
    await eventually('the long job to start', async () => (await queue.getJob(cancelled.requestId))?.isActive());
    await redis.set(cancelRequestKey(prefix, cancelled.requestId), 'client', 'PX', 60_000);

    await eventually('each job to be logged', () =>
      [
        linesOf(failing.requestId).some((line) => line['msg'] === JOB_FAILED),
        linesOf(refused.requestId).some((line) => line['msg'] === 'gateway did not accept the result'),
        linesOf(cancelled.requestId).some((line) => line['msg'] === 'cancel requested for an active job'),
      ].every(Boolean),
    );
    for (const data of [failing, refused, cancelled]) {
      const traceId = data.traceContext!['traceparent']!.split('-')[1];
      for (const line of linesOf(data.requestId)) {
        expect([line['jobId'], line['traceId'], line['msg']]).toEqual([data.requestId, traceId, line['msg']]);
      }
    }
  });

  it('name no trace for a job whose data carries none', async () => {
    const untraced = jobData({ model: 'not-this-model' });
    await enqueue(untraced);
    const failed = await eventually('the failure to be logged', () =>
      linesOf(untraced.requestId).find((line) => line['msg'] === JOB_FAILED),
    );
    expect(failed).toMatchObject({ jobId: untraced.requestId, final: true });
    expect(failed).not.toHaveProperty('traceId');
  });

  it('never carry the prompt above debug', () => {
    const spec = PROMPT.split('\n')[0]!;
    const loud = lines.filter((line) => (line['level'] as number) > 20);
    expect(loud.length).toBeGreaterThan(0);
    for (const line of loud) expect(JSON.stringify(line)).not.toContain(JSON.stringify(spec).slice(1, -1));
  });
});
