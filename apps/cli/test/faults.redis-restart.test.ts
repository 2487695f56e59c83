import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  OwnRedisServer,
  TestFleet,
  eventually,
  getJson,
  postCompletion,
  prompt,
  type GatewayProcess,
  type WorkerProcess,
} from '@dfleet/test-support';

const JOBS = 12;
let redis: OwnRedisServer;
let fleet: TestFleet;
let gateway: GatewayProcess;
let worker: WorkerProcess;

beforeAll(async () => {
  redis = await OwnRedisServer.create();
  await redis.start();
  // Two jobs at a time, so most of the burst below is still waiting when Redis goes down.
  fleet = new TestFleet({ redisUrl: redis.url, env: { DFLEET_MAX_ACTIVE_JOBS: '2' } });
  [gateway, worker] = await Promise.all([fleet.startGateway(), fleet.startWorker('redis-restart-worker')]);
}, 120_000);

afterAll(async () => {
  await fleet?.close();
  await redis?.destroy();
}, 60_000);

describe('Redis restarts under a running fleet (AOF on)', () => {
  it('keeps waiting jobs, answers 503 quickly during the outage, and the fleet reconnects by itself', async () => {
    const answers = Array.from({ length: JOBS }, (_, i) =>
      postCompletion(gateway.httpUrl, {
        model: 'jsfunc-mdm',
        prompt: prompt(i),
        max_tokens: 48,
        dfleet: { strategy: 'reference', steps: 48 },
      }),
    );
    const waitingAtStop = await eventually('jobs waiting in the queue', async () => {
      const counts = await fleet.queue.getJobCounts('wait', 'active');
      const waiting = counts['wait']!;
      return waiting + counts['active']! === JOBS && waiting >= JOBS / 2 ? waiting : undefined;
    });

    await redis.stop();

    const startedAt = performance.now();
    const refused = await postCompletion(
      gateway.httpUrl,
      { model: 'jsfunc-mdm', prompt: prompt(99), max_tokens: 8 },
      { timeoutMs: 10_000 },
    );
    const refusedMs = performance.now() - startedAt;
    expect(refused.status).toBe(503);
    expect(refused.headers.get('retry-after')).toBe('1');
    expect(refused.body['error']).toMatchObject({ code: 'queue_unavailable' });
    expect((await getJson(`${gateway.httpUrl}/readyz`)).status).toBe(503);

    await redis.start();

    const settled = await Promise.all(answers);
    expect(settled.map((a) => a.status)).toEqual(Array(JOBS).fill(200));
    for (const answer of settled) {
      expect(await fleet.queue.getJobState(answer.body['id'] as string)).toBe('completed');
    }
    // Both processes reconnected: the worker beats again and a new request is served.
    await eventually(
      'the gateway is ready again',
      async () => (await getJson(`${gateway.httpUrl}/readyz`)).status === 200,
    );
    const after = await postCompletion(gateway.httpUrl, { model: 'jsfunc-mdm', prompt: prompt(7), max_tokens: 8 });
    expect(after.status).toBe(200);
    expect(after.body['dfleet']).toMatchObject({ worker_id: worker.id });

    console.log(
      `Redis restart: ${waitingAtStop} of ${JOBS} jobs were waiting at the stop, all ${JOBS} completed after it; ` +
        `a request during the outage got 503 in ${refusedMs.toFixed(0)} ms`,
    );
  }, 60_000);
});
