import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GenerationQueues } from '@dfleet/queue';
import {
  SHARED_REDIS_URL,
  deletePrefix,
  eventually,
  fleetEnv,
  getJson,
  killHard,
  postCompletion,
  prompt,
  startGatewayProcess,
  startWorkerProcess,
  uniquePrefix,
  type GatewayProcess,
  type WorkerProcess,
} from './support/fleet-processes.ts';

const prefix = uniquePrefix();
const env = fleetEnv(SHARED_REDIS_URL, prefix);

let accepting: GatewayProcess;
let other: GatewayProcess;
let worker: WorkerProcess;
let queue: GenerationQueues;

beforeAll(async () => {
  [accepting, other, worker] = await Promise.all([
    startGatewayProcess(env, 'gateway-a'),
    startGatewayProcess(env, 'gateway-b'),
    startWorkerProcess(env, 'gateway-dies-worker'),
  ]);
  queue = new GenerationQueues({ connection: { url: SHARED_REDIS_URL }, prefix });
}, 120_000);

afterAll(async () => {
  await Promise.all([accepting, other, worker].filter(Boolean).map((p) => p.process.stop()));
  await queue?.close();
  await deletePrefix(SHARED_REDIS_URL, prefix);
}, 60_000);

describe('the gateway that accepted a job dies (SIGKILL) while the job runs', () => {
  it('the worker retries the callback with backoff, gives up, and another gateway serves the result from Redis', async () => {
    // One token per step: long enough to still be running when the gateway is killed.
    const request = postCompletion(
      accepting.httpUrl,
      { model: 'jsfunc-mdm', prompt: prompt(3), max_tokens: 48, dfleet: { strategy: 'reference', steps: 48 } },
      { headers: { 'Idempotency-Key': `gateway-dies-${prefix}` } },
    ).catch((error: Error) => error);

    const jobId = await eventually('the job is active', async () => {
      const [job] = await queue.getJobs(['active']);
      return job?.id;
    });
    await killHard(accepting.process);
    // The client of the dead gateway lost its connection, not its job.
    expect(await request).toBeInstanceOf(Error);

    const gaveUp = await eventually(
      'the worker gives up calling back the dead gateway',
      async () => worker.log.entries('result callback given up').find((entry) => entry['jobId'] === jobId),
      30_000,
    );
    // 1 + 5 retries (250 ms .. 4 s backoff) against a refused connection.
    expect(gaveUp).toMatchObject({ jobId, address: accepting.callbackAddress, tries: 6 });

    const job = await getJson(`${other.httpUrl}/v1/jobs/${jobId}`);
    expect(job.status).toBe(200);
    expect(job.body).toMatchObject({ id: jobId, state: 'completed', error: null });
    expect(job.body['result']).toMatchObject({ id: jobId, object: 'text_completion', dfleet: { worker_id: worker.id } });
    expect(job.body['result'].usage.nfe).toBe(48);
  }, 60_000);
});
