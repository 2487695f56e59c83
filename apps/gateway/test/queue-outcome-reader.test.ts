import { Queue, UnrecoverableError, Worker } from 'bullmq';
import { Redis } from 'ioredis';
import { pino } from 'pino';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { GenerationResult } from '@dfleet/queue';
import { SHARED_REDIS_URL, deletePrefix, eventually, uniquePrefix } from '@dfleet/test-support';
import { OUTCOME_READ_BLOCK_MS, QueueOutcomeReader, type QueueOutcomeListener } from '../src/queue-outcome-reader.ts';

const prefix = uniquePrefix();
const QUEUE = 'outcomes';
/** A second queue, as the gateway follows one per priority class. */
const OTHER_QUEUE = 'outcomes-other';
const connection = { url: SHARED_REDIS_URL, maxRetriesPerRequest: null };
let queue: Queue;
let otherQueue: Queue;
let workers: Worker[] = [];
const readers: QueueOutcomeReader[] = [];

function resultFor(text: string): GenerationResult {
  return {
    text,
    tokenIds: [1],
    finishReason: 'length',
    steps: 1,
    nfe: 1,
    promptTokens: 2,
    queueMs: 0,
    decodeMs: 1,
    workerId: 'w',
    tokenSteps: [1],
  };
}

/** Records what the reader reports, for the jobs it is told this gateway waits for. */
class RecordingListener implements QueueOutcomeListener {
  readonly waitingFor = new Set<string>();
  readonly completedJobs = new Map<string, GenerationResult>();
  readonly failedJobs = new Map<string, string>();
  waitsFor(jobId: string): boolean {
    return this.waitingFor.has(jobId);
  }
  completed(jobId: string, result: GenerationResult): void {
    this.waitingFor.delete(jobId);
    this.completedJobs.set(jobId, result);
  }
  failed(jobId: string, reason: string): void {
    this.waitingFor.delete(jobId);
    this.failedJobs.set(jobId, reason);
  }
}

/** A reader on its own connection, whose XREAD calls are counted. */
async function startReader(listener: QueueOutcomeListener, readPauseMs?: number) {
  const redis = new Redis(SHARED_REDIS_URL, { maxRetriesPerRequest: null });
  const reads = { count: 0 };
  const xread = redis.xread.bind(redis);
  redis.xread = ((...args: Parameters<typeof xread>) => {
    reads.count++;
    return xread(...args);
  }) as typeof redis.xread;
  const reader = new QueueOutcomeReader({
    redis,
    eventsKeys: [queue.keys['events']!, otherQueue.keys['events']!],
    outcomes: listener,
    logger: pino({ level: 'silent' }),
    onError: (error) => {
      throw error;
    },
    ...(readPauseMs === undefined ? {} : { readPauseMs }),
  });
  readers.push(reader);
  // The reader starts from the stream's newest entry once its first read is out.
  await eventually('the first read is out', () => reads.count > 0, 10_000, 5);
  return { reader, reads };
}

beforeAll(async () => {
  queue = new Queue(QUEUE, { connection, prefix });
  otherQueue = new Queue(OTHER_QUEUE, { connection, prefix });
  workers = [QUEUE, OTHER_QUEUE].map(
    (name) =>
      new Worker(
        name,
        async (job) => {
          if (job.data.fail) throw new UnrecoverableError(`refused ${job.id}`);
          return resultFor(`text of ${job.id}`);
        },
        { connection, prefix, concurrency: 16 },
      ),
  );
  await Promise.all(workers.map((worker) => worker.waitUntilReady()));
});

afterEach(async () => {
  await Promise.all(readers.splice(0).map((reader) => reader.close()));
});

afterAll(async () => {
  await Promise.all(workers.map((worker) => worker.close()));
  for (const each of [queue, otherQueue]) {
    await each.obliterate({ force: true });
    await each.close();
  }
  await deletePrefix(prefix);
});

describe('QueueOutcomeReader', () => {
  it('reports the completed and failed jobs this gateway waits for, and only those', async () => {
    const listener = new RecordingListener();
    await startReader(listener);
    listener.waitingFor.add('ours-ok').add('ours-failed');
    await queue.add('job', {}, { jobId: 'ours-ok' });
    await queue.add('job', { fail: true }, { jobId: 'ours-failed' });
    await queue.add('job', {}, { jobId: 'someone-elses' });
    await eventually('both outcomes are heard', () => listener.completedJobs.size + listener.failedJobs.size === 2);
    expect(listener.completedJobs.get('ours-ok')).toEqual(resultFor('text of ours-ok'));
    expect(listener.failedJobs.get('ours-failed')).toBe('refused ours-failed');
    // The reader reads the stream in order: once it reports a job of ours that was added after
    // the third job completed, it has read past the third job's outcome without reporting it.
    await eventually('the third job completes', async () => (await queue.getJobState('someone-elses')) === 'completed');
    listener.waitingFor.add('ours-after');
    await queue.add('job', {}, { jobId: 'ours-after' });
    await eventually('the later outcome is heard', () => listener.completedJobs.has('ours-after'));
    expect([...listener.completedJobs.keys()]).toEqual(['ours-ok', 'ours-after']);
  });

  it('hears the outcomes of every queue it follows', async () => {
    const listener = new RecordingListener();
    await startReader(listener);
    listener.waitingFor.add('in-first').add('in-other');
    await queue.add('job', {}, { jobId: 'in-first' });
    await otherQueue.add('job', { fail: true }, { jobId: 'in-other' });
    await eventually(
      "both queues' outcomes are heard",
      () => listener.completedJobs.has('in-first') && listener.failedJobs.has('in-other'),
    );
  });

  it('hears an outcome at once on an idle fleet', async () => {
    const listener = new RecordingListener();
    await startReader(listener, 60_000);
    listener.waitingFor.add('idle-1');
    await queue.add('job', {}, { jobId: 'idle-1' });
    // The job's first events (added, active) end a blocked read; only an outcome starts a pause.
    await eventually('the outcome is heard', () => listener.completedJobs.has('idle-1'));
  });

  it('takes a stream of outcomes in a few reads, not one read per event', async () => {
    const listener = new RecordingListener();
    const { reads } = await startReader(listener, 200);
    const ids = Array.from({ length: 200 }, (_, i) => `burst-${i}`);
    for (const id of ids) listener.waitingFor.add(id);
    const readsBefore = reads.count;
    // One job a millisecond or so, as a busy fleet finishes them.
    for (const jobId of ids) {
      await queue.add('job', {}, { jobId });
      await new Promise((resolve) => setTimeout(resolve, 1));
    }
    await eventually('every outcome is heard', () => listener.completedJobs.size === ids.length);
    // Each job writes at least three events (added, active, completed); QueueEvents reads again
    // after each. Here only reads that bring no outcome (the first jobs' events) repeat at once.
    expect(reads.count - readsBefore).toBeLessThan(ids.length / 8);
  });

  it('catches up on a backlog larger than one read before it pauses', async () => {
    const listener = new RecordingListener();
    await startReader(listener, 60_000);
    listener.waitingFor.add('after-the-backlog');
    const completed = (jobId: string) => [
      'event',
      'completed',
      'jobId',
      jobId,
      'returnvalue',
      JSON.stringify(resultFor(jobId)),
    ];
    // 2,500 outcomes land at once (the reader reads at most 1,000 per read); ours is the last.
    const redis = new Redis(SHARED_REDIS_URL);
    const burst = redis.multi();
    for (let i = 0; i < 2_499; i++) burst.xadd(queue.keys['events']!, '*', ...completed(`backlog-${i}`));
    burst.xadd(queue.keys['events']!, '*', ...completed('after-the-backlog'));
    await burst.exec();
    await redis.quit();
    await eventually('the outcome behind the backlog is heard', () => listener.completedJobs.has('after-the-backlog'));
  });

  it('closes without waiting out a blocked read', async () => {
    const { reader } = await startReader(new RecordingListener());
    readers.splice(readers.indexOf(reader), 1);
    // A close that waited for the read would end with it, when its BLOCK ran out.
    const blockEnds = new Promise((resolve) => {
      setTimeout(() => resolve('the blocked read ended first'), OUTCOME_READ_BLOCK_MS);
    });
    await expect(Promise.race([reader.close().then(() => 'closed'), blockEnds])).resolves.toBe('closed');
  });
});
