import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import type { GenerationJob } from '@dfleet/queue';
import { parseCompletionRequest } from '../src/completion-request.ts';
import { CompletionService } from '../src/completion-service.ts';
import { QueueUnavailableError } from '../src/errors.ts';
import type { JobSubmitter } from '../src/job-submitter.ts';
import { loadServedModel, ModelCatalog } from '../src/model-catalog.ts';
import { PendingResults } from '../src/pending-results.ts';
import { createGatewayMetrics } from '../src/gateway-metrics.ts';
import { RequestMetrics } from '../src/request-metrics.ts';
import { WorkerPresence } from '../src/worker-presence.ts';
import { FIXTURE_MODEL, FIXTURE_MODEL_DIR, deferred, generationResultFor, liveWorkerOf } from './support/test-fleet.ts';

let pending: PendingResults;
const silent = pino({ level: 'silent' });
afterEach(() => pending.close());

/**
 * The queue side reduced to what this rule needs: the add succeeds, the read-back that checks an
 * idempotency key's earlier job times out (a loaded gateway's event loop can outlast the Redis budget).
 */
function submitterWhoseReadBackTimesOut(
  added: GenerationJob[],
  readBack: { resolve(value: true): void },
): JobSubmitter {
  return {
    admit: async () => undefined,
    enqueue: async (job: GenerationJob) => void added.push(job),
    find: async () => {
      readBack.resolve(true);
      throw new QueueUnavailableError(
        'Redis at 127.0.0.1:6379 did not answer within 800 ms, so the gateway could not read the job',
      );
    },
  } as unknown as JobSubmitter;
}

describe('CompletionService when the read-back after an idempotent add fails', () => {
  it('waits for the job it added instead of answering 503 "not enqueued" and forgetting it', async () => {
    pending = new PendingResults();
    const added: GenerationJob[] = [];
    const readBack = deferred<true>();
    const catalog = new ModelCatalog([await loadServedModel(FIXTURE_MODEL_DIR)]);
    const service = new CompletionService({
      submitter: submitterWhoseReadBackTimesOut(added, readBack),
      pending,
      callbackAddress: '127.0.0.1:1',
      requestTimeoutMs: 10_000,
      logger: silent,
      workerPresence: new WorkerPresence({ listLiveWorkers: async () => [liveWorkerOf(FIXTURE_MODEL)] }),
      metrics: new RequestMetrics(createGatewayMetrics(async () => ({ interactive: {}, batch: {} }), silent).metrics),
    });
    const request = parseCompletionRequest({ model: FIXTURE_MODEL, prompt: 'function f(x) {\n' }, catalog, {
      idempotencyKeyHeader: 'k-1',
    });

    const answer = service.complete(request, { tenant: 'default' });
    await readBack.promise;
    const job = added[0] as GenerationJob;
    // The worker's callback still finds the job tracked, with the token the job carries.
    expect(
      pending.reportResult(job.requestId, job.callback.token, {
        kind: 'completed',
        result: generationResultFor('done'),
        workerId: 'w',
      }),
    ).toEqual({
      accepted: true,
    });

    expect((await answer).result.text).toBe('done');
  });
});
