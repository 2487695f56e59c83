import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { JOBS_HANDED_BACK_AT_SHUTDOWN } from '@dfleet/worker';
import {
  TestFleet,
  eventually,
  getJson,
  postCompletion,
  prompt,
  type GatewayProcess,
  type WorkerProcess,
} from '@dfleet/test-support';

const fleet = new TestFleet({ env: { DFLEET_MAX_ACTIVE_JOBS: '1' } });
const queue = fleet.queue;

/** One token per step: a job that runs for a while on the CPU. */
const longJob = (n: number) => ({
  model: 'jsfunc-mdm',
  prompt: prompt(n),
  max_tokens: 96,
  dfleet: { strategy: 'reference', steps: 96, gen_length: 96 },
});

let gateway: GatewayProcess;

beforeAll(async () => {
  gateway = await fleet.startGateway();
}, 120_000);

afterAll(() => fleet.close(), 60_000);

async function activeJobOf(worker: WorkerProcess): Promise<string> {
  return eventually(
    `${worker.id} holds a job`,
    async () => (await queue.getJobs(['active'])).find((job) => job.processedBy === worker.id)?.id,
  );
}

describe('graceful drain on SIGTERM', () => {
  it('a worker stops claiming, finishes what it holds within its grace, or hands it back unspent', async () => {
    const finisher = await fleet.startWorker('drain-finisher', { DFLEET_SHUTDOWN_TIMEOUT_MS: '30000' });
    const first = postCompletion(gateway.httpUrl, longJob(1));
    const firstId = await activeJobOf(finisher);

    finisher.process.child.kill('SIGTERM');
    // A batch job: an interactive one could be claimed in an extra slot (one only interactive jobs
    // take) in the moment between the signal and its handler on a loaded machine.
    const second = postCompletion(gateway.httpUrl, {
      ...longJob(2),
      dfleet: { ...longJob(2).dfleet, priority: 'batch' },
    });
    expect(await finisher.process.exited).toBe(0);

    // It finished the job it held and claimed nothing after the signal.
    expect((await first).status).toBe(200);
    expect((await first).body['dfleet']).toMatchObject({ worker_id: finisher.id });
    const secondId = await eventually('the second job is queued', async () => (await queue.getJobs(['wait']))[0]?.id);
    expect(secondId).not.toBe(firstId);

    // A worker whose grace is shorter than the job hands it back to the queue without spending an
    // attempt (1 ms: shorter than any job, however fast the machine).
    const quitter = await fleet.startWorker('drain-quitter', { DFLEET_SHUTDOWN_TIMEOUT_MS: '1' });
    expect(await activeJobOf(quitter)).toBe(secondId);
    quitter.process.child.kill('SIGTERM');
    expect(await quitter.process.exited).toBe(0);
    expect(quitter.log.entries(JOBS_HANDED_BACK_AT_SHUTDOWN)).toHaveLength(1);
    const handedBack = (await queue.getJob(secondId))!;
    expect(['waiting', 'prioritized']).toContain(await handedBack.getState());
    expect(handedBack.attemptsMade).toBe(0);

    const successor = await fleet.startWorker('drain-successor');
    const answer = await second;
    expect(answer.status).toBe(200);
    expect(answer.body).toMatchObject({ id: secondId, dfleet: { worker_id: successor.id } });
  }, 120_000);

  it('a gateway refuses new requests with 503 while it finishes the open ones, then exits 0', async () => {
    // No worker until the 503 was seen: the open request cannot finish first and end the drain
    // (a request sent right after the signal may still be accepted, before its handler runs).
    await fleet.stopWorkers();
    // A grace longer than any worker start plus decode: the drain must end by the open request
    // finishing, not by the grace running out on a loaded machine.
    const draining = await fleet.startGateway('gateway-draining', { DFLEET_SHUTDOWN_TIMEOUT_MS: '120000' });
    // Batch: with no live worker an interactive request would be refused at once (no_worker).
    const asBatch = (job: ReturnType<typeof longJob>) => ({ ...job, dfleet: { ...job.dfleet, priority: 'batch' } });
    const open = postCompletion(draining.httpUrl, asBatch(longJob(3)));
    await eventually('the open request is queued', async () => (await queue.getJobs(['wait'])).length > 0);

    draining.process.child.kill('SIGTERM');
    const refused = await eventually('the gateway refuses new requests', async () => {
      const answer = await postCompletion(draining.httpUrl, asBatch(longJob(4)), { timeoutMs: 5_000 });
      return answer.status === 503 ? answer : undefined;
    });
    expect(refused.headers.get('retry-after')).toBe('1');
    expect(refused.body['error']).toMatchObject({ code: 'not_ready' });
    expect(refused.body['error'].message).toContain('shutting down');
    expect((await getJson(`${draining.httpUrl}/readyz`)).status).toBe(503);

    await fleet.startWorker('drain-late-worker');
    expect((await open).status).toBe(200);
    expect(await draining.process.exited).toBe(0);
  }, 180_000);
});
