import { randomBytes, randomUUID } from 'node:crypto';
import { QueueEvents, type Job } from 'bullmq';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  GENERATION_QUEUES,
  GenerationQueues,
  redisOptionsFor,
  type GenerationJobInput,
  type PriorityClass,
  type StrategyOptions,
} from '@dfleet/queue';
import { SHARED_REDIS_URL as REDIS_URL, deletePrefix, uniquePrefix } from '@dfleet/test-support';
import { loadWorkerConfig } from '../src/config.ts';
import { startWorker, type RunningWorker } from '../src/worker.ts';
import { CallbackRecorder } from './callback-recorder.ts';
import { MODEL_DIR, heldOutPrompts } from './default-model.ts';

const prompts = heldOutPrompts(8);

const gateway = new CallbackRecorder();
let prefix = '';
let queues: GenerationQueues | undefined;
let events: Record<PriorityClass, QueueEvents> | undefined;
let worker: RunningWorker | undefined;

beforeAll(() => gateway.start());
afterEach(async () => {
  await worker?.close();
  await Promise.all(Object.values(events ?? {}).map((each) => each.close()));
  await queues?.obliterate();
  await queues?.close();
  await deletePrefix(prefix);
});
afterAll(async () => {
  gateway.stop();
});

async function startFleet(extraJobs: number): Promise<void> {
  prefix = uniquePrefix();
  queues = new GenerationQueues({ connection: redisOptionsFor(REDIS_URL, 'producer'), prefix });
  const eventsOf = (priority: PriorityClass) =>
    new QueueEvents(GENERATION_QUEUES[priority], { connection: redisOptionsFor(REDIS_URL, 'worker'), prefix });
  events = { interactive: eventsOf('interactive'), batch: eventsOf('batch') };
  await Promise.all(Object.values(events).map((each) => each.waitUntilReady()));
  const config = loadWorkerConfig({
    REDIS_URL,
    DFLEET_REDIS_PREFIX: prefix,
    DFLEET_MODEL_DIR: MODEL_DIR,
    DFLEET_WORKER_ID: `test-worker-${randomUUID().slice(0, 8)}`,
    DFLEET_MAX_ACTIVE_JOBS: '2',
    DFLEET_INTERACTIVE_EXTRA_JOBS: String(extraJobs),
    LOG_LEVEL: 'silent',
  });
  worker = await startWorker(config);
}

async function add(priority: PriorityClass, strategy: StrategyOptions, prompt: string): Promise<Job> {
  const requestId = `cmpl-${randomUUID()}`;
  const token = randomBytes(32).toString('hex');
  gateway.expect(requestId, token);
  const data: GenerationJobInput = {
    requestId,
    tenant: 'test',
    model: 'jsfunc-mdm',
    prompt,
    options: { maxNewTokens: 48, blockLength: 48, strategy, temperature: 0, seed: 0, stop: [] },
    priority,
    callback: { address: gateway.address, token },
    acceptedAt: Date.now(),
  };
  return (queues as GenerationQueues).add(priority, data, { jobId: requestId, attempts: 1 });
}

function finished(job: Job): Promise<unknown> {
  const priority = (job.data as GenerationJobInput).priority;
  return job.waitUntilFinished((events as Record<PriorityClass, QueueEvents>)[priority]);
}

async function untilActive(count: number): Promise<void> {
  for (;;) {
    if (((await (queues as GenerationQueues).getJobCounts('active'))['active'] ?? 0) >= count) return;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/**
 * Both slots busy with long batch jobs (reference decoding, 48 forward passes each, and more
 * waiting), then one interactive job: does it finish before the batch jobs holding the slots?
 */
async function interactiveBehindFullSlots(): Promise<{ interactiveDoneAt: number; firstBatchDoneAt: number }> {
  const batch = await Promise.all(
    prompts
      .slice(0, 6)
      .map((prompt) => add('batch', { name: 'reference', steps: 48, remasking: 'low_confidence' }, prompt)),
  );
  await untilActive(2);
  const interactive = await add('interactive', { name: 'threshold', threshold: 0.9 }, prompts[7]!);
  await finished(interactive);
  await Promise.all(batch.slice(0, 2).map(finished));
  const finishedOn = async (job: Job) =>
    ((await (queues as GenerationQueues).getJob(job.id ?? '')) as Job).finishedOn ?? Number.NaN;
  return {
    interactiveDoneAt: await finishedOn(interactive),
    firstBatchDoneAt: Math.min(...(await Promise.all(batch.slice(0, 2).map(finishedOn)))),
  };
}

describe('interactive jobs while every slot holds a batch job (real model, Redis, BullMQ)', () => {
  it('starts the interactive job in an extra slot and finishes it before the batch jobs in the regular ones', async () => {
    await startFleet(1);
    const { interactiveDoneAt, firstBatchDoneAt } = await interactiveBehindFullSlots();
    expect(interactiveDoneAt).toBeLessThan(firstBatchDoneAt);
  }, 120_000);

  it('claims nothing more once the worker is closing', async () => {
    await startFleet(2);
    const long = await Promise.all(
      prompts
        .slice(1, 3)
        .map((prompt) => add('batch', { name: 'reference', steps: 48, remasking: 'low_confidence' }, prompt)),
    );
    await untilActive(2);
    const closing = (worker as RunningWorker).close();
    const late = await add('interactive', { name: 'threshold', threshold: 0.9 }, prompts[7]!);
    await closing;
    worker = undefined;
    // Each class has its own queue without BullMQ priorities, so a queued job is 'waiting' (was 'prioritized').
    expect(await late.getState()).toBe('waiting');
    expect(await Promise.all(long.map((job) => job.getState()))).toEqual(['completed', 'completed']);
  }, 120_000);

  it('without extra slots, the interactive job waits for a batch job to finish (what the extra slots fix)', async () => {
    await startFleet(0);
    const { interactiveDoneAt, firstBatchDoneAt } = await interactiveBehindFullSlots();
    expect(interactiveDoneAt).toBeGreaterThan(firstBatchDoneAt);
  }, 120_000);
});
