import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  TestFleet,
  eventually,
  killHard,
  postCompletion,
  prompt,
  type GatewayProcess,
  type WorkerProcess,
} from '@dfleet/test-support';

const fleet = new TestFleet({
  env: {
    DFLEET_MAX_ACTIVE_JOBS: '1',
    // Short lock and check so three crashes fit in a test; a second stall fails the job for good.
    DFLEET_LOCK_DURATION_MS: '2000',
    DFLEET_STALLED_INTERVAL_MS: '1000',
    DFLEET_MAX_STALLED_COUNT: '1',
  },
});
const queue = fleet.queue;
let gateway: GatewayProcess;
let workers: WorkerProcess[] = [];

beforeAll(async () => {
  [gateway, ...workers] = await Promise.all([
    fleet.startGateway(),
    fleet.startWorker('poison-worker-1'),
    fleet.startWorker('poison-worker-2'),
    fleet.startWorker('poison-worker-3'),
  ]);
}, 120_000);

afterAll(() => fleet.close(), 60_000);

describe('a poison job that takes down every worker it lands on', () => {
  it('fails for good with a clear reason after DFLEET_MAX_STALLED_COUNT stalls, and the fleet keeps serving', async () => {
    const poison = postCompletion(gateway.httpUrl, {
      model: 'jsfunc-mdm',
      prompt: prompt(1),
      max_tokens: 96,
      dfleet: { strategy: 'reference', steps: 96, gen_length: 96 },
    });

    // Each worker that claims it "crashes" (SIGKILL) while decoding it.
    const crashed: string[] = [];
    for (let crash = 0; crash < 2; crash++) {
      const holder = await eventually('a worker holds the poison job', async () => {
        const [job] = await queue.getJobs(['active']);
        return workers.find((w) => w.id === job?.processedBy && !crashed.includes(w.id));
      });
      crashed.push(holder.id);
      await killHard(holder.process);
    }

    const answer = await poison;
    expect(answer.status).toBe(502);
    expect(answer.body['error']).toMatchObject({ code: 'generation_failed' });
    expect(answer.body['error'].message).toContain('stalled_too_often: job stalled more than allowable limit');
    expect(answer.body['error'].message).toContain('DFLEET_MAX_STALLED_COUNT');
    const job = (await queue.getJob(answer.body['error'].message.match(/job '([^']+)'/)[1]))!;
    expect(await job.getState()).toBe('failed');
    expect(job.stalledCounter).toBe(2);
    // Failed at once on its third claim: its retry policy (3 attempts, backoff) was not used.
    expect(job.attemptsMade).toBe(1);

    console.log(
      `poison job after ${crashed.length} worker crashes: HTTP ${answer.status} ${answer.body['error'].message}`,
    );

    const survivor = workers.find((w) => !crashed.includes(w.id))!;
    const next = await postCompletion(gateway.httpUrl, { model: 'jsfunc-mdm', prompt: prompt(2), max_tokens: 8 });
    expect(next.status).toBe(200);
    expect(next.body['dfleet']).toMatchObject({ worker_id: survivor.id });
  }, 60_000);
});
