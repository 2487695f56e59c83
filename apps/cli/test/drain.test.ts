import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GenerationQueues } from '@dfleet/queue';
import {
  SHARED_REDIS_URL,
  deletePrefix,
  eventually,
  fleetEnv,
  getJson,
  postCompletion,
  prompt,
  startGatewayProcess,
  startWorkerProcess,
  uniquePrefix,
  type GatewayProcess,
  type WorkerProcess,
} from './support/fleet-processes.ts';

const prefix = uniquePrefix();
const env = fleetEnv(SHARED_REDIS_URL, prefix, { DFLEET_MAX_ACTIVE_JOBS: '1' });
/** One token per step: a job that runs for a while on the CPU. */
const longJob = (n: number) => ({ model: 'jsfunc-mdm', prompt: prompt(n), max_tokens: 96, dfleet: { strategy: 'reference', steps: 96 } });

let gateway: GatewayProcess;
const workers: WorkerProcess[] = [];
let queue: GenerationQueues;

beforeAll(async () => {
  gateway = await startGatewayProcess(env);
  queue = new GenerationQueues({ connection: { url: SHARED_REDIS_URL }, prefix });
}, 120_000);

afterAll(async () => {
  await Promise.all([gateway, ...workers].filter(Boolean).map((p) => p.process.stop()));
  await queue?.close();
  await deletePrefix(SHARED_REDIS_URL, prefix);
}, 60_000);

async function startWorker(id: string, extra: Record<string, string> = {}): Promise<WorkerProcess> {
  const worker = await startWorkerProcess({ ...env, ...extra }, id);
  workers.push(worker);
  return worker;
}

async function activeJobOf(worker: WorkerProcess): Promise<string> {
  return eventually(`${worker.id} holds a job`, async () => (await queue.getJobs(['active'])).find((job) => job.processedBy === worker.id)?.id);
}

describe('graceful drain on SIGTERM', () => {
  it('a worker stops claiming, finishes what it holds within its grace, or hands it back unspent', async () => {
    const finisher = await startWorker('drain-finisher', { DFLEET_SHUTDOWN_TIMEOUT_MS: '30000' });
    const first = postCompletion(gateway.httpUrl, longJob(1));
    const firstId = await activeJobOf(finisher);

    finisher.process.child.kill('SIGTERM');
    // A batch job: an interactive one could be claimed in an extra slot (one only interactive jobs
    // take) in the moment between the signal and its handler on a loaded machine.
    const second = postCompletion(gateway.httpUrl, { ...longJob(2), dfleet: { ...longJob(2).dfleet, priority: 'batch' } });
    expect(await finisher.process.exited).toBe(0);

    // It finished the job it held and claimed nothing after the signal.
    expect((await first).status).toBe(200);
    expect((await first).body['dfleet']).toMatchObject({ worker_id: finisher.id });
    const secondId = await eventually('the second job is queued', async () => (await queue.getJobs(['wait']))[0]?.id);
    expect(secondId).not.toBe(firstId);

    // A worker whose grace is shorter than the job hands it back to the queue without spending an attempt.
    const quitter = await startWorker('drain-quitter', { DFLEET_SHUTDOWN_TIMEOUT_MS: '200' });
    expect(await activeJobOf(quitter)).toBe(secondId);
    quitter.process.child.kill('SIGTERM');
    expect(await quitter.process.exited).toBe(0);
    expect(quitter.log.entries('handing active jobs back')).toHaveLength(1);
    const handedBack = (await queue.getJob(secondId))!;
    expect(['waiting', 'prioritized']).toContain(await handedBack.getState());
    expect(handedBack.attemptsMade).toBe(0);

    const successor = await startWorker('drain-successor');
    const answer = await second;
    expect(answer.status).toBe(200);
    expect(answer.body).toMatchObject({ id: secondId, dfleet: { worker_id: successor.id } });
  }, 60_000);

  it('a gateway refuses new requests with 503 while it finishes the open ones, then exits 0', async () => {
    // No worker until the 503 was seen: the open request cannot finish first and end the drain
    // (a request sent right after the signal may still be accepted, before its handler runs).
    await Promise.all(workers.splice(0).map((worker) => worker.process.stop()));
    const draining = await startGatewayProcess(env, 'gateway-draining');
    const open = postCompletion(draining.httpUrl, longJob(3));
    await eventually('the open request is queued', async () => (await queue.getJobs(['wait'])).length > 0);

    draining.process.child.kill('SIGTERM');
    const refused = await eventually('the gateway refuses new requests', async () => {
      const answer = await postCompletion(draining.httpUrl, longJob(4), { timeoutMs: 5_000 });
      return answer.status === 503 ? answer : undefined;
    });
    expect(refused.headers.get('retry-after')).toBe('1');
    expect(refused.body['error']).toMatchObject({ code: 'not_ready' });
    expect(refused.body['error'].message).toContain('shutting down');
    expect((await getJson(`${draining.httpUrl}/readyz`)).status).toBe(503);

    await startWorker('drain-late-worker');
    expect((await open).status).toBe(200);
    expect(await draining.process.exited).toBe(0);
  }, 60_000);
});
