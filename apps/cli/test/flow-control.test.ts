import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createGenerationClient, grpc } from '@dfleet/proto';
import type { GenerationJob } from '@dfleet/queue';
import {
  TestFleet,
  eventually,
  postCompletion,
  prompt,
  type GatewayProcess,
  type HttpAnswer,
  type WorkerProcess,
} from '@dfleet/test-support';

// One job at a time, so queued jobs stay queued long enough to look at.
const fleet = new TestFleet({ env: { DFLEET_MAX_ACTIVE_JOBS: '1' } });
const queue = fleet.queue;
// Batch priority: with no live worker an interactive request is refused at once (no_worker); a
// batch one is queued, which is what these tests need to fill the queue.
const quickJob = (n: number) => ({
  model: 'jsfunc-mdm',
  prompt: prompt(n),
  max_tokens: 8,
  dfleet: { priority: 'batch' },
});
const longJob = (n: number, priority: 'interactive' | 'batch') => ({
  model: 'jsfunc-mdm',
  prompt: prompt(n),
  max_tokens: 48,
  dfleet: { strategy: 'reference', steps: 48, priority },
});

let capped: GatewayProcess;
let uncapped: GatewayProcess;
let worker: WorkerProcess | undefined;

beforeAll(async () => {
  [capped, uncapped] = await Promise.all([
    fleet.startGateway('gateway-capped', { DFLEET_MAX_WAITING_JOBS: '4', DFLEET_MAX_WAITING_JOBS_PER_TENANT: '2' }),
    fleet.startGateway('gateway-uncapped', { DFLEET_MAX_WAITING_JOBS: '0' }),
  ]);
}, 120_000);

afterAll(() => fleet.close(), 60_000);

const asTenant = (tenant: string) => ({ headers: { 'x-dfleet-tenant': tenant } });

async function waitingCount(): Promise<number> {
  const counts = await queue.getJobCounts('wait');
  return counts['wait']!;
}

function expectQueueFull(answer: HttpAnswer, cap: string): void {
  expect(answer.status).toBe(429);
  expect(answer.headers.get('retry-after')).toBe('1');
  expect(answer.body['error']).toMatchObject({ code: 'queue_full' });
  expect(answer.body['error'].message).toContain(cap);
}

function generateOverGrpc(address: string, tenant: string): Promise<grpc.ServiceError> {
  const client = createGenerationClient(address);
  const metadata = new grpc.Metadata();
  metadata.set('x-dfleet-tenant', tenant);
  return new Promise((resolve, reject) =>
    client.Generate({ model: 'jsfunc-mdm', prompt: prompt(13), priority: 'batch' }, metadata, (error) => {
      client.close();
      return error ? resolve(error) : reject(new Error('Generate was admitted over the cap'));
    }),
  );
}

describe('flow control', () => {
  it('answers 429 with Retry-After over the per-tenant and global caps, and runs every job it accepted', async () => {
    // No worker yet: accepted (batch) jobs stay waiting.
    const accepted: Promise<HttpAnswer>[] = [];
    for (const tenant of ['tenant-a', 'tenant-b']) {
      for (let i = 0; i < 2; i++) {
        accepted.push(postCompletion(capped.httpUrl, quickJob(accepted.length), asTenant(tenant)));
        await eventually('the job is queued', async () => (await waitingCount()) === accepted.length);
      }
    }
    expectQueueFull(
      await postCompletion(capped.httpUrl, quickJob(10), asTenant('tenant-a')),
      'DFLEET_MAX_WAITING_JOBS',
    );
    expectQueueFull(
      await postCompletion(capped.httpUrl, quickJob(11), asTenant('tenant-c')),
      'DFLEET_MAX_WAITING_JOBS=4',
    );
    const overGrpc = await generateOverGrpc(capped.grpcAddress, 'tenant-c');
    expect(overGrpc.code).toBe(grpc.status.RESOURCE_EXHAUSTED);
    expect(overGrpc.metadata.get('retry-after')).toEqual(['1']);
    expect(overGrpc.metadata.get('dfleet-error-code')).toEqual(['queue_full']);
    expect(await waitingCount()).toBe(4);

    worker = await fleet.startWorker('flow-control-worker');
    const answers = await Promise.all(accepted);
    expect(answers.map((a) => a.status)).toEqual([200, 200, 200, 200]);
    // With the backlog gone the tenant is admitted again.
    expect((await postCompletion(capped.httpUrl, quickJob(12), asTenant('tenant-a'))).status).toBe(200);
  }, 60_000);

  it('refuses a tenant over its own cap while other tenants are still admitted', async () => {
    await worker!.process.stop();
    worker = undefined;
    const held = [
      postCompletion(capped.httpUrl, quickJob(20), asTenant('tenant-d')),
      postCompletion(capped.httpUrl, quickJob(21), asTenant('tenant-d')),
    ];
    await eventually('both jobs queued', async () => (await waitingCount()) === 2);
    const refused = await postCompletion(capped.httpUrl, quickJob(22), asTenant('tenant-d'));
    expectQueueFull(refused, "tenant 'tenant-d' has 2 jobs waiting");
    const other = postCompletion(capped.httpUrl, quickJob(23), asTenant('tenant-e'));
    await eventually('the other tenant is queued', async () => (await waitingCount()) === 3);

    worker = await fleet.startWorker('flow-control-worker-2');
    expect((await Promise.all([...held, other])).map((a) => a.status)).toEqual([200, 200, 200]);
  }, 60_000);

  it('claims an interactive job queued behind a batch backlog before the backlog', async () => {
    const batch = Array.from({ length: 5 }, (_, i) => postCompletion(uncapped.httpUrl, longJob(30 + i, 'batch')));
    await eventually('the batch backlog is queued', async () => (await waitingCount()) >= 3);
    const interactive = postCompletion(uncapped.httpUrl, longJob(40, 'interactive'));
    await eventually(
      'the interactive job is queued',
      async () => (await queue.getJobs(['wait', 'active'])).length >= 5,
    );
    const waitingBatchAtSubmit = new Set(
      (await queue.getJobs(['wait']))
        .filter((job) => (job.data as GenerationJob).priority === 'batch')
        .map((job) => job.id),
    );

    const [interactiveAnswer, ...batchAnswers] = await Promise.all([interactive, ...batch]);
    const started = async (id: string) => (await queue.getJob(id))!.processedOn!;
    const interactiveStarted = await started(interactiveAnswer!.body['id']);
    const overtaken = batchAnswers.filter((a) => waitingBatchAtSubmit.has(a.body['id']));
    expect(overtaken.length).toBeGreaterThanOrEqual(2);
    for (const answer of overtaken) expect(await started(answer.body['id'])).toBeGreaterThan(interactiveStarted);
  }, 60_000);
});
