import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RESULT_CALLBACK_GIVEN_UP } from '@dfleet/worker';
import {
  TestFleet,
  eventually,
  getJson,
  killHard,
  postCompletion,
  prompt,
  type GatewayProcess,
} from '@dfleet/test-support';

const fleet = new TestFleet();
let accepting: GatewayProcess;
let other: GatewayProcess;

beforeAll(async () => {
  [accepting, other] = await Promise.all([fleet.startGateway('gateway-a'), fleet.startGateway('gateway-b')]);
}, 120_000);

afterAll(() => fleet.close(), 60_000);

describe('the gateway that accepted a job dies (SIGKILL) before the job is done', () => {
  it('the worker retries the callback with backoff, gives up, and another gateway serves the result from Redis', async () => {
    const request = postCompletion(
      accepting.httpUrl,
      // Batch: with no live worker yet an interactive request would be refused at once (no_worker).
      {
        model: 'jsfunc-mdm',
        prompt: prompt(3),
        max_tokens: 48,
        dfleet: { strategy: 'reference', steps: 48, priority: 'batch' },
      },
      { headers: { 'Idempotency-Key': `gateway-dies-${fleet.prefix}` } },
    ).catch((error: Error) => error);

    // No worker yet: the gateway dies before the job can finish, however fast the machine.
    const jobId = await eventually('the job is queued', async () => {
      const [queued] = await fleet.queue.getJobs(['wait']);
      return queued?.id;
    });
    await killHard(accepting.process);
    // The client of the dead gateway lost its connection, not its job.
    expect(await request).toBeInstanceOf(Error);
    const worker = await fleet.startWorker('gateway-dies-worker');

    const gaveUp = await eventually(
      'the worker gives up calling back the dead gateway',
      async () => worker.log.entries(RESULT_CALLBACK_GIVEN_UP).find((entry) => entry['jobId'] === jobId),
      30_000,
    );
    // 1 + 5 retries (250 ms .. 4 s backoff) against a refused connection.
    expect(gaveUp).toMatchObject({ jobId, address: accepting.callbackAddress, tries: 6 });

    const job = await getJson(`${other.httpUrl}/v1/jobs/${jobId}`);
    expect(job.status).toBe(200);
    expect(job.body).toMatchObject({ id: jobId, state: 'completed', error: null });
    expect(job.body['result']).toMatchObject({
      id: jobId,
      object: 'text_completion',
      dfleet: { worker_id: worker.id },
    });
    expect(job.body['result'].usage.nfe).toBe(48);
  }, 90_000);
});
