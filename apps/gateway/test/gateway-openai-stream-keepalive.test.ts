import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { Tokenizer } from '@dfleet/model';
import { deletePrefix, uniquePrefix } from '@dfleet/test-support';
import OpenAI from 'openai';
import type { RunningGateway } from '../src/gateway.ts';
import {
  FIXTURE_MODEL,
  FIXTURE_MODEL_DIR,
  generationResultFor,
  reportResult,
  reportStepsThenResult,
  resultReportFor,
  startTestGateway,
  startTestWorker,
  stepReportsFor,
  type TestWorker,
} from './support/test-fleet.ts';

// An in-process gateway with a short keep-alive, and scripted workers that hold a job well past it
// before its first step, as a job waiting behind a long queue would be.
const KEEP_ALIVE_MS = 200;
const FIRST_STEP_AFTER_MS = 1_200;
const ANSWER = 'return x + 1;\n}';
const prefix = uniquePrefix();
let gateway: RunningGateway;
let tokenizer: Tokenizer;
let worker: TestWorker | undefined;

beforeAll(async () => {
  gateway = await startTestGateway(prefix, { DFLEET_STREAM_KEEPALIVE_MS: String(KEEP_ALIVE_MS) });
  tokenizer = await Tokenizer.fromFile(join(FIXTURE_MODEL_DIR, 'tokenizer.json'));
});

afterEach(async () => {
  await worker?.close();
  worker = undefined;
});

afterAll(async () => {
  await gateway?.close(1_000);
  await deletePrefix(prefix);
});

const body = (prompt: string) => ({ model: FIXTURE_MODEL, prompt, stream: true as const });

/** A worker that waits, then reports the answer's steps and its result; records when the steps began. */
async function startLateWorker(): Promise<{ stepsBeganAt: number[] }> {
  const tokenIds = tokenizer.encode(ANSWER);
  const text = tokenizer.decode(tokenIds);
  const stepsBeganAt: number[] = [];
  worker = await startTestWorker(prefix, async (job) => {
    await sleep(FIRST_STEP_AFTER_MS);
    stepsBeganAt.push(performance.now());
    await reportStepsThenResult(
      job.data.callback.address,
      stepReportsFor(job, tokenIds, 4),
      resultReportFor(job, text, { tokenIds, text }),
    );
    return { ...generationResultFor(text), tokenIds, text };
  });
  return { stepsBeganAt };
}

describe('a stream whose job waits past DFLEET_STREAM_KEEPALIVE_MS before its first step', () => {
  it('gets its 200 before the first step, and SSE comments while it waits', async () => {
    const { stepsBeganAt } = await startLateWorker();
    const sent = performance.now();
    const response = await fetch(`${gateway.httpUrl}/v1/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body('function f(x) {\n')),
    });
    const headersAt = performance.now();
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toContain('text/event-stream');
    const events = (await response.text()).trim().split('\n\n');

    expect(stepsBeganAt).toHaveLength(1);
    // The 200 came about one keep-alive after the request, not with the first step.
    expect(headersAt - sent).toBeLessThan(FIRST_STEP_AFTER_MS);
    expect(headersAt).toBeLessThan(stepsBeganAt[0] as number);
    const firstData = events.findIndex((event) => event.startsWith('data: '));
    const commentsBefore = events.slice(0, firstData);
    // About FIRST_STEP_AFTER_MS / KEEP_ALIVE_MS - 1 of them; a loaded host may fire fewer timers.
    expect(commentsBefore.length).toBeGreaterThanOrEqual(2);
    for (const comment of commentsBefore) expect(comment).toBe(': keep-alive');
    expect(events.at(-1)).toBe('data: [DONE]');
    const text = events
      .filter((event) => event.startsWith('data: {'))
      .map((event) => (JSON.parse(event.slice('data: '.length)) as OpenAI.Completion).choices[0]?.text ?? '')
      .join('');
    expect(text).toBe(tokenizer.decode(tokenizer.encode(ANSWER)));
  });

  it('reads as a plain stream through the openai client, which skips the comments', async () => {
    await startLateWorker();
    const openai = new OpenAI({ baseURL: `${gateway.httpUrl}/v1`, apiKey: 'not-checked', maxRetries: 0 });
    const stream = await openai.completions.create(body('function g(x) {\n'));
    let text = '';
    for await (const chunk of stream) text += chunk.choices[0]?.text ?? '';
    expect(text).toBe(tokenizer.decode(tokenizer.encode(ANSWER)));
  });

  it('gets a failure after the 200 as an error event, which the openai client throws with its code', async () => {
    worker = await startTestWorker(prefix, async (job) => {
      await sleep(FIRST_STEP_AFTER_MS);
      await reportResult(job.data.callback.address, {
        ...resultReportFor(job, ''),
        errorCode: 'decode_failed',
        errorMessage: 'the model produced NaN logits',
      });
      return generationResultFor('');
    });
    const openai = new OpenAI({ baseURL: `${gateway.httpUrl}/v1`, apiKey: 'not-checked', maxRetries: 0 });
    const { data: stream, response } = await openai.completions.create(body('function h(x) {\n')).withResponse();
    expect(response.status).toBe(200);
    const failure = await (async () => {
      for await (const _ of stream) {
        // No chunk comes before the failure: the job failed before its first step.
      }
    })().then(
      () => null,
      (error: unknown) => error,
    );
    expect(failure).toBeInstanceOf(OpenAI.APIError);
    expect((failure as InstanceType<typeof OpenAI.APIError>).code).toBe('generation_failed');
  });
});
