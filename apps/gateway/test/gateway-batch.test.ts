import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { deletePrefix, getJson, uniquePrefix } from '@dfleet/test-support';
import type { RunningGateway } from '../src/gateway.ts';
import { requestIdFor } from '../src/request-identity.ts';
import {
  FIXTURE_MODEL,
  generationResultFor,
  postCompletion,
  reportResult,
  resultReportFor,
  startTestGateway,
  startTestWorker,
  type TestWorker,
} from './support/test-fleet.ts';

const prefix = uniquePrefix();
let gateway: RunningGateway;
let worker: TestWorker | undefined;

beforeAll(async () => {
  gateway = await startTestGateway(prefix, { DFLEET_MAX_BATCH_PROMPTS: '4' });
});

afterEach(async () => {
  await worker?.close();
  worker = undefined;
});

afterAll(async () => {
  await gateway.close(1_000);
  await deletePrefix(prefix);
});

/** A worker that answers each prompt with its reverse, or fails the prompts containing "FAIL". */
function startEchoWorker(): Promise<TestWorker> {
  return startTestWorker(prefix, async (job) => {
    if (job.data.prompt.includes('FAIL')) {
      await reportResult(job.data.callback.address, {
        ...resultReportFor(job, ''),
        errorCode: 'decode_failed',
        errorMessage: 'the model broke',
      });
      throw new Error('the model broke');
    }
    const text = [...job.data.prompt].reverse().join('');
    await reportResult(job.data.callback.address, resultReportFor(job, text));
    return generationResultFor(text);
  });
}

describe('several prompts in one request', () => {
  it('answers one choice per prompt, in order, each its own job readable by id', async () => {
    worker = await startEchoWorker();

    const response = await postCompletion(gateway, { model: FIXTURE_MODEL, prompt: ['ab', 'cd', 'ef'], max_tokens: 8 });

    expect(response.status).toBe(200);
    expect(response.body.choices.map((choice: { index: number; text: string }) => [choice.index, choice.text])).toEqual(
      [
        [0, 'ba'],
        [1, 'dc'],
        [2, 'fe'],
      ],
    );
    const jobIds: string[] = response.body.dfleet.job_ids;
    expect(new Set(jobIds).size).toBe(3);
    expect(response.body.id).toBe(jobIds[0]);
    expect(response.body.choices[1].dfleet).toMatchObject({
      job_id: jobIds[1],
      steps: 3,
      nfe: 3,
      worker_id: 'test-worker',
    });
    expect(response.body.usage).toMatchObject({ steps: 9, nfe: 9, prompt_tokens: 15 });
    const second = await getJson(`${gateway.httpUrl}/v1/jobs/${jobIds[1]}`);
    expect(second.body).toMatchObject({ state: 'completed', result: { choices: [{ text: 'dc' }] } });
  });

  it('names the same jobs when resubmitted with the same idempotency key', async () => {
    worker = await startEchoWorker();
    const body = { model: FIXTURE_MODEL, prompt: ['x1', 'x2'], max_tokens: 8 };

    const first = await postCompletion(gateway, body, { 'idempotency-key': 'batch-42' });
    const again = await postCompletion(gateway, body, { 'idempotency-key': 'batch-42' });

    expect(first.body.dfleet.job_ids).toEqual([
      requestIdFor('default', 'batch-42#0'),
      requestIdFor('default', 'batch-42#1'),
    ]);
    expect(again.body.dfleet.job_ids).toEqual(first.body.dfleet.job_ids);
  });

  it('refuses an empty or oversized batch, and names the prompt that is wrong', async () => {
    const tooMany = await postCompletion(gateway, { model: FIXTURE_MODEL, prompt: ['a', 'b', 'c', 'd', 'e'] });
    const empty = await postCompletion(gateway, { model: FIXTURE_MODEL, prompt: [] });
    const notText = await postCompletion(gateway, { model: FIXTURE_MODEL, prompt: ['a', 7] });
    const tooLong = await postCompletion(gateway, {
      model: FIXTURE_MODEL,
      prompt: ['a', 'b', 'x'.repeat(500)],
      max_tokens: 8,
    });
    const badField = await postCompletion(gateway, { model: FIXTURE_MODEL, prompt: ['a', 'b'], max_tokens: -1 });

    expect(tooMany.status).toBe(400);
    expect(tooMany.body.error).toMatchObject({ param: 'prompt' });
    expect(tooMany.body.error.message).toContain('array of 5 prompts; send 1 to 4 (DFLEET_MAX_BATCH_PROMPTS)');
    expect(empty.body.error).toMatchObject({ param: 'prompt' });
    expect(notText.body.error).toMatchObject({
      param: 'prompt.1',
      message: 'prompt[1] must be a string (token ids are not supported)',
    });
    expect(tooLong.status).toBe(400);
    expect(tooLong.body.error).toMatchObject({ code: 'prompt_too_long', param: 'prompt.2' });
    expect(tooLong.body.error.message).toMatch(/^prompt\[2\]: prompt is 500 tokens/);
    expect(badField.body.error).toMatchObject({ param: 'max_tokens' });
  });

  it("reports a failed prompt's job with its index and every job id, while the others complete", async () => {
    worker = await startEchoWorker();

    const response = await postCompletion(gateway, {
      model: FIXTURE_MODEL,
      prompt: ['ok', 'FAIL', 'fine'],
      max_tokens: 8,
    });

    expect(response.status).toBe(502);
    expect(response.body.error.code).toBe('generation_failed');
    expect(response.body.error.message).toMatch(
      /^prompt\[1\] \(job idem-[0-9a-f]{32}\): job 'idem-[0-9a-f]{32}' failed: decode_failed: the model broke; 1 of 3 prompts failed/,
    );
    const jobIds = [...(response.body.error.message as string).matchAll(/idem-[0-9a-f]{32}/g)]
      .map((match) => match[0])
      .slice(2);
    expect(jobIds).toHaveLength(3);
    expect((await getJson(`${gateway.httpUrl}/v1/jobs/${jobIds[2]}`)).body).toMatchObject({
      state: 'completed',
      result: { choices: [{ text: 'enif' }] },
    });
  });
});
