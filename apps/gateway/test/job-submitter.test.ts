import { Redis } from 'ioredis';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generationJobSchema } from '@dfleet/queue';
import { SHARED_REDIS_URL, deletePrefix, eventually, uniquePrefix } from '@dfleet/test-support';
import { JobSubmitter } from '../src/job-submitter.ts';

const prefix = uniquePrefix();
let submitter: JobSubmitter;

beforeAll(async () => {
  submitter = new JobSubmitter(
    {
      redis: { kind: 'standalone', url: SHARED_REDIS_URL },
      prefix,
      redisTimeoutMs: 50,
      logger: pino({ level: 'silent' }),
    },
    { waitsFor: () => false, completed: () => undefined, failed: () => undefined },
  );
  // Connected: with a 50 ms budget the first ping may come before the connection is ready.
  for (let tries = 0; ; tries++) {
    try {
      await submitter.ping();
      break;
    } catch (error) {
      if (tries >= 40) throw error;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }
});

afterAll(async () => {
  await submitter?.close();
  await deletePrefix(prefix);
});

/** Keeps this thread busy, as a gateway on a starved CPU is. */
function stallEventLoop(ms: number): void {
  const until = performance.now() + ms;
  while (performance.now() < until) {
    // busy
  }
}

describe('JobSubmitter', () => {
  it('does not answer 503 for a Redis reply that arrived in time while the event loop was stalled', async () => {
    const answered = submitter.ping();
    // Let the command go out, then stall: the reply lands within a millisecond, but the loop only
    // looks at it after its 50 ms budget ran out.
    for (let i = 0; i < 5; i++) await null;
    stallEventLoop(150);
    await expect(answered).resolves.toBeUndefined();
  });

  it('still answers 503 when Redis does not answer within the budget', async () => {
    // BLPOP holds the reply (on this connection only) for 300 ms.
    const slow = submitter.withRedis('wait for a list', (redis) => redis.blpop(`${prefix}:never-filled`, 0.3));
    await expect(slow).rejects.toMatchObject({ code: 'queue_unavailable' });
  });
});

describe('JobSubmitter with DFLEET_REDIS_REPLICA_ACKS', () => {
  it('answers 503 for a job that fewer replicas than it waits for acknowledged, naming the setting', async () => {
    const probe = new Redis(SHARED_REDIS_URL);
    // One more replica than this Redis has: never acknowledged, whatever the shared Redis runs.
    const replicas = Number(/connected_slaves:(\d+)/.exec(await probe.info('replication'))?.[1] ?? 0);
    probe.disconnect();
    const strict = new JobSubmitter(
      {
        redis: { kind: 'standalone', url: SHARED_REDIS_URL },
        prefix,
        redisTimeoutMs: 200,
        replicaAcks: replicas + 1,
        logger: pino({ level: 'silent' }),
      },
      { waitsFor: () => false, completed: () => undefined, failed: () => undefined },
    );
    try {
      await eventually('the submitter connected', () => strict.ping().then(() => true));
      const job = generationJobSchema.parse({
        requestId: `replica-acks-${prefix}`,
        tenant: 'default',
        model: 'jsfunc-mdm',
        prompt: 'function f(x) {',
        options: {
          maxNewTokens: 8,
          blockLength: 8,
          strategy: { name: 'threshold', threshold: 0.9 },
          temperature: 0,
          seed: 0,
        },
        priority: 'interactive',
        callback: { address: '127.0.0.1:1', token: 'a-callback-token-of-16' },
        acceptedAt: Date.now(),
      });
      await expect(strict.enqueue(job)).rejects.toMatchObject({
        code: 'queue_unavailable',
        message: expect.stringMatching(/only 0 of the \d+ Redis replicas .*DFLEET_REDIS_REPLICA_ACKS/),
      });
    } finally {
      await strict.close();
    }
  });
});
