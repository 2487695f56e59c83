import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createWorkerCallbackClient, type StepReport } from '@dfleet/proto';
import { deletePrefix, uniquePrefix } from '@dfleet/test-support';
import OpenAI from 'openai';
import type { RunningGateway } from '../src/gateway.ts';
import {
  FIXTURE_MODEL,
  generationResultFor,
  reportResult,
  resultReportFor,
  startTestGateway,
  startTestWorker,
  type TestWorker,
} from './support/test-fleet.ts';

// An in-process gateway and a scripted worker: the stream's failure comes after its first byte.
const prefix = uniquePrefix();
let gateway: RunningGateway;
let worker: TestWorker | undefined;

beforeAll(async () => {
  gateway = await startTestGateway(prefix);
});

afterEach(async () => {
  await worker?.close();
  worker = undefined;
});

afterAll(async () => {
  await gateway?.close(1_000);
  await deletePrefix(prefix);
});

/** A step report on the worker's report stream; steps are not answered, so this resolves once it ended. */
function reportStep(address: string, step: StepReport): Promise<void> {
  const client = createWorkerCallbackClient(address);
  const call = client.Report();
  return new Promise<void>((resolve, reject) => {
    call.on('data', () => undefined);
    call.on('error', reject);
    call.on('end', resolve);
    call.write({ step });
    call.end();
  }).finally(() => client.close());
}

describe('a stream that fails after its first byte', () => {
  it('ends with an error event, not [DONE], which the SDK throws as an APIError with its code', async () => {
    worker = await startTestWorker(prefix, async (job) => {
      const { jobId, attempt, callbackToken } = resultReportFor(job, '');
      await reportStep(gateway.callbackAddress, {
        jobId,
        attempt,
        callbackToken,
        step: 1,
        nfe: 1,
        committedPositions: [0],
        committedTokens: [generationResultFor('r').tokenIds[0] as number],
        answerLength: 16,
        finalPrefix: 1,
        decodeMs: 1,
        finished: false,
      });
      await reportResult(gateway.callbackAddress, {
        ...resultReportFor(job, ''),
        errorCode: 'decode_failed',
        errorMessage: 'the model produced NaN logits',
      });
      return generationResultFor('');
    });
    const openai = new OpenAI({ baseURL: `${gateway.httpUrl}/v1`, apiKey: 'not-checked', maxRetries: 0 });
    const body = { model: FIXTURE_MODEL, prompt: 'function f(x) {\n', stream: true as const };
    const { data: stream, response } = await openai.completions.create(body).withResponse();
    expect(response.status).toBe(200);
    const received: OpenAI.Completion[] = [];
    let failure: unknown;
    try {
      for await (const chunk of stream) received.push(chunk);
    } catch (error) {
      failure = error;
    }
    expect(received.length).toBeGreaterThan(0);
    expect(failure).toBeInstanceOf(OpenAI.APIError);
    expect((failure as InstanceType<typeof OpenAI.APIError>).code).toBe('generation_failed');
    expect((failure as Error).message).toContain('decode_failed: the model produced NaN logits');

    // On the wire: deltas, then the error as the last event, and no [DONE].
    const raw = await fetch(`${gateway.httpUrl}/v1/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ ...body, prompt: 'function g(x) {\n' }),
    });
    expect(raw.status).toBe(200);
    const events = (await raw.text()).trim().split('\n\n');
    expect(events.length).toBeGreaterThan(1);
    expect(JSON.parse((events.at(-1) as string).replace(/^data: /, ''))).toMatchObject({
      error: { code: 'generation_failed', type: 'server_error' },
    });
    expect(events).not.toContain('data: [DONE]');
  });
});
