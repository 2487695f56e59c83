import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SHARED_REDIS_URL, deletePrefix, uniquePrefix } from '@dfleet/test-support';
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
