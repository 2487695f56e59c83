import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  createGenerationClient,
  grpc,
  type GenerateRequest,
  type GenerateResponse__Output,
  type GenerationServiceClient,
  type Job__Output,
} from '@dfleet/proto';
import { deletePrefix, uniquePrefix } from '@dfleet/test-support';
import { GRPC_ERROR_CODE_KEY, GRPC_ERROR_PARAM_KEY } from '../src/errors.ts';
import type { RunningGateway } from '../src/gateway.ts';
import {
  FIXTURE_MODEL,
  generationResultFor,
  postCompletion,
  reportResult,
  resultReportFor,
  startTestGateway,
  startTestHeartbeat,
  startTestWorker,
  type TestWorker,
} from './support/test-fleet.ts';

const prefix = uniquePrefix();
let gateway: RunningGateway;
let client: GenerationServiceClient;
let worker: TestWorker | undefined;
/** A worker that is alive but claims nothing, for tests that need interactive jobs to stay queued. */
let idleWorker: { close(): Promise<void> } | undefined;

beforeAll(async () => {
  gateway = await startTestGateway(prefix);
  client = createGenerationClient(gateway.grpcAddress);
});

afterEach(async () => {
  await worker?.close();
  await idleWorker?.close();
  worker = undefined;
  idleWorker = undefined;
});

afterAll(async () => {
  client?.close();
  await gateway?.close(1_000);
  await deletePrefix(prefix);
});

function generate(request: GenerateRequest, metadata = new grpc.Metadata()): Promise<GenerateResponse__Output> {
  return new Promise((resolve, reject) =>
    client.Generate(request, metadata, (error, response) => (error || !response ? reject(error) : resolve(response))),
  );
}

function getJob(id: string, metadata = new grpc.Metadata()): Promise<Job__Output> {
  return new Promise((resolve, reject) =>
    client.GetJob({ id }, metadata, (error, response) => (error || !response ? reject(error) : resolve(response))),
  );
}

async function grpcFailure(call: Promise<unknown>): Promise<grpc.ServiceError> {
  try {
    await call;
  } catch (error) {
    return error as grpc.ServiceError;
  }
  throw new Error('expected the call to fail');
}

const prompt = 'function add(a, b) {\n';

describe('GenerationService over gRPC', () => {
  it('Generate enqueues, waits for the callback and answers with text, usage and timing', async () => {
    const jobIds: string[] = [];
    worker = await startTestWorker(prefix, async (job) => {
      jobIds.push(job.id ?? '');
      await reportResult(job.data.callback.address, resultReportFor(job, 'return a + b;'));
      return generationResultFor('return a + b;');
    });
    const metadata = new grpc.Metadata();
    metadata.set('x-dfleet-tenant', 'acme');

    const response = await generate(
      { model: FIXTURE_MODEL, prompt, maxTokens: 8, decoding: { strategy: 'factor', factor: 2 } },
      metadata,
    );

    expect(response).toMatchObject({
      id: jobIds[0],
      model: FIXTURE_MODEL,
      text: 'return a + b;',
      finishReason: 'eos',
      usage: { promptTokens: 5, completionTokens: 13, totalTokens: 18, steps: 3, nfe: 3 },
      timing: { queueMs: 1.5, decodeMs: 2.5 },
    });
    expect(response.tokenIds).toHaveLength(13);

    const job = await getJob(response.id, metadata);
    expect(job).toMatchObject({
      id: response.id,
      state: 'completed',
      errorCode: '',
      result: { text: 'return a + b;' },
    });
    // Another tenant (here the default one) does not see acme's job at all.
    expect((await grpcFailure(getJob(response.id))).code).toBe(grpc.status.NOT_FOUND);
  });

  it('answers INVALID_ARGUMENT with the same message and param as HTTP', async () => {
    const http = await postCompletion(gateway, { model: FIXTURE_MODEL, prompt, max_tokens: 0 });
    const error = await grpcFailure(generate({ model: FIXTURE_MODEL, prompt, maxTokens: 0 }));

    expect(error.code).toBe(grpc.status.INVALID_ARGUMENT);
    expect(error.details).toBe(http.body.error.message);
    expect(error.metadata.get(GRPC_ERROR_CODE_KEY)).toEqual(['invalid_request']);
    expect(error.metadata.get(GRPC_ERROR_PARAM_KEY)).toEqual(['max_tokens']);
  });

  it('answers INVALID_ARGUMENT naming dfleet.strategy for an unknown strategy', async () => {
    const error = await grpcFailure(generate({ model: FIXTURE_MODEL, prompt, decoding: { strategy: 'greedy' } }));
    expect(error.code).toBe(grpc.status.INVALID_ARGUMENT);
    expect(error.details).toBe('dfleet.strategy must be one of reference, threshold, factor, entropy-bounded');
    expect(error.metadata.get(GRPC_ERROR_PARAM_KEY)).toEqual(['dfleet.strategy']);
  });

  it('answers INVALID_ARGUMENT prompt_too_long with the limit', async () => {
    const error = await grpcFailure(generate({ model: FIXTURE_MODEL, prompt: 'q'.repeat(60) }));
    expect(error.code).toBe(grpc.status.INVALID_ARGUMENT);
    expect(error.metadata.get(GRPC_ERROR_CODE_KEY)).toEqual(['prompt_too_long']);
    expect(error.details).toContain('at most 47 prompt tokens');
  });

  it('answers NOT_FOUND for an unknown model and an unknown job', async () => {
    const model = await grpcFailure(generate({ model: 'llama-7b', prompt }));
    expect(model.code).toBe(grpc.status.NOT_FOUND);
    expect(model.metadata.get(GRPC_ERROR_CODE_KEY)).toEqual(['model_not_found']);

    const job = await grpcFailure(getJob('cmpl-nothing-here'));
    expect(job.code).toBe(grpc.status.NOT_FOUND);
    expect(job.metadata.get(GRPC_ERROR_CODE_KEY)).toEqual(['job_not_found']);
  });

  it('CancelJob removes a queued job and Generate for it answers CANCELLED', async () => {
    idleWorker = await startTestHeartbeat(prefix);
    const pendingGenerate = grpcFailure(generate({ model: FIXTURE_MODEL, prompt, idempotencyKey: `cancel-${prefix}` }));
    // The id is derived from tenant and key, so the test can name the job before it exists.
    const { requestIdFor } = await import('../src/request-identity.ts');
    const id = requestIdFor('default', `cancel-${prefix}`);
    let cancelled: { cancelled: boolean; state: string } | undefined;
    for (let attempt = 0; attempt < 400 && !cancelled?.cancelled; attempt += 1) {
      cancelled = await new Promise((resolve, reject) =>
        client.CancelJob({ id }, (error, response) =>
          error && error.code !== grpc.status.NOT_FOUND ? reject(error) : resolve(response ?? undefined),
        ),
      );
      if (!cancelled?.cancelled) await new Promise((resolve) => setTimeout(resolve, 25));
    }

    expect(cancelled).toMatchObject({ cancelled: true, state: 'cancelled' });
    const error = await pendingGenerate;
    expect(error.code).toBe(grpc.status.CANCELLED);
    expect(error.metadata.get(GRPC_ERROR_CODE_KEY)).toEqual(['job_cancelled']);
  });
});
