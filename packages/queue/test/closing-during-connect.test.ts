import { randomUUID } from 'node:crypto';
import { Queue, Worker } from 'bullmq';
import { Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import { redisOptionsFor } from '../src/index.ts';

const REDIS_URL = 'redis://127.0.0.1:6379';
const prefix = `dfleet-test-${randomUUID().slice(0, 8)}`;
/** Without the guard, about half of these leave an unhandled "Connection is closed." (70 of 150 once). */
const ROUNDS = 150;

afterAll(async () => {
  // A queue that got as far as connecting wrote its meta key.
  const redis = new Redis(REDIS_URL);
  const keys = await redis.keys(`${prefix}:*`);
  if (keys.length > 0) await redis.del(...keys);
  redis.disconnect();
});

/** The rejections nobody handled while `run` ran, and for a moment after. */
async function unhandledRejectionsOf(run: () => Promise<void>): Promise<string[]> {
  const seen: string[] = [];
  const record = (reason: unknown) => seen.push(reason instanceof Error ? reason.message : String(reason));
  process.on('unhandledRejection', record);
  try {
    await run();
    await new Promise((resolve) => setTimeout(resolve, 500));
  } finally {
    process.off('unhandledRejection', record);
  }
  return seen;
}

describe('BullMQ queues and workers closed while their connection is being set up', () => {
  it('leave no unhandled rejection, however early they close', async () => {
    const connection = redisOptionsFor(REDIS_URL, 'worker');
    const rejections = await unhandledRejectionsOf(async () => {
      for (let round = 0; round < ROUNDS; round++) {
        const queue = new Queue('closing-early', { connection, prefix });
        const worker = new Worker('closing-early', async () => undefined, { connection, prefix, autorun: false });
        queue.on('error', () => undefined);
        worker.on('error', () => undefined);
        // 0 to 5 ms: from before the connect to the version check's INFO in flight.
        if (round % 6 > 0) await new Promise((resolve) => setTimeout(resolve, round % 6));
        await Promise.all([queue.close(), worker.close()]);
      }
    });
    expect(rejections).toEqual([]);
  }, 60_000);
});
