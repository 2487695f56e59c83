import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually, TestFleet, type GatewayProcess } from '@dfleet/test-support';
import { Redis } from 'ioredis';
import OpenAI, { toFile } from 'openai';
import { batchKeys } from '../src/batches/batch-keys.ts';
import { requestIdFor } from '../src/request-identity.ts';
import { heldoutPrompt } from './support/heldout.ts';
import { sdkError } from './support/sdk-error.ts';

// The Batch API end to end: a gateway process, a real worker with the shipped model, and the official openai client.
const MODEL = 'jsfunc-mdm';
const WINDOW = 4;
const MAX_FILE_BYTES = 65_536;
const fleet = new TestFleet();
let gateway: GatewayProcess;

beforeAll(async () => {
  gateway = await fleet.startGateway('batches-gateway', {
    DFLEET_BATCH_WINDOW: String(WINDOW),
    DFLEET_MAX_FILE_BYTES: String(MAX_FILE_BYTES),
  });
  await fleet.startWorker('batches-worker');
}, 180_000);

afterAll(() => fleet.close(), 60_000);

/** A client acting for `tenant` (auth is off: the tenant header names it). */
function clientFor(tenant: string): OpenAI {
  return new OpenAI({
    baseURL: `${gateway.httpUrl}/v1`,
    apiKey: 'not-checked',
    maxRetries: 0,
    defaultHeaders: { 'x-dfleet-tenant': tenant },
  });
}

interface OutputLine {
  id: string;
  custom_id: string | null;
  response: { status_code: number; request_id: string; body: Record<string, unknown> } | null;
  error: { code: string; message: string } | null;
}

function jsonl(lines: readonly unknown[]): string {
  return `${lines.map((line) => (typeof line === 'string' ? line : JSON.stringify(line))).join('\n')}\n`;
}

async function upload(openai: OpenAI, text: string) {
  return openai.files.create({ file: await toFile(Buffer.from(text), 'input.jsonl'), purpose: 'batch' });
}

async function finished(openai: OpenAI, batchId: string, timeoutMs = 240_000) {
  return eventually(
    `batch ${batchId} finished`,
    async () => {
      const batch = await openai.batches.retrieve(batchId);
      return ['completed', 'failed', 'expired', 'cancelled'].includes(batch.status) ? batch : undefined;
    },
    timeoutMs,
    250,
  );
}

async function linesOf(openai: OpenAI, fileId: string | null | undefined): Promise<OutputLine[]> {
  if (!fileId) return [];
  const text = await (await openai.files.content(fileId)).text();
  return text
    .split('\n')
    .filter((line) => line !== '')
    .map((line) => JSON.parse(line) as OutputLine);
}

describe('the Batch API through the openai client', () => {
  it('runs completions and chat lines whose output matches direct requests of the same bodies line by line', async () => {
    const openai = clientFor('batch-sdk');
    const bodies = [0, 1, 2].map((index) => ({ model: MODEL, prompt: heldoutPrompt(index), temperature: 0, seed: 7 }));
    const input = await upload(
      openai,
      jsonl(
        bodies.map((body, index) => ({ custom_id: `task-${index}`, method: 'POST', url: '/v1/completions', body })),
      ),
    );
    expect(input).toMatchObject({ object: 'file', purpose: 'batch', filename: 'input.jsonl', status: 'processed' });
    expect((await openai.files.retrieve(input.id)).bytes).toBe(input.bytes);

    const created = await openai.batches.create({
      input_file_id: input.id,
      endpoint: '/v1/completions',
      completion_window: '24h',
      metadata: { job: 'sdk-test' },
    });
    expect(created).toMatchObject({ object: 'batch', status: 'validating', metadata: { job: 'sdk-test' } });

    const batch = await finished(openai, created.id);
    expect(batch.status).toBe('completed');
    expect(batch.request_counts).toEqual({ total: 3, completed: 3, failed: 0 });
    expect(batch.error_file_id).toBeNull();
    for (const field of ['in_progress_at', 'finalizing_at', 'completed_at'] as const) {
      expect(batch[field]).toBeGreaterThanOrEqual(batch.created_at);
    }

    const output = await linesOf(openai, batch.output_file_id);
    expect(output.map((line) => line.custom_id)).toEqual(['task-0', 'task-1', 'task-2']);
    for (const [index, line] of output.entries()) {
      const direct = await openai.completions.create(bodies[index] as OpenAI.CompletionCreateParamsNonStreaming);
      const body = line.response?.body as unknown as OpenAI.Completion;
      expect(line.response?.status_code).toBe(200);
      expect(line.error).toBeNull();
      expect(body.object).toBe('text_completion');
      expect(body.id).toBe(line.response?.request_id);
      expect(body.choices[0]?.text).toBe(direct.choices[0]?.text);
      expect(body.choices[0]?.finish_reason).toBe(direct.choices[0]?.finish_reason);
      expect(body.usage).toEqual(direct.usage);
    }
  });

  it('answers chat lines with the chat completion the endpoint would send', async () => {
    const openai = clientFor('batch-chat');
    const body = { model: MODEL, messages: [{ role: 'user', content: heldoutPrompt(3) }], temperature: 0 };
    const input = await upload(
      openai,
      jsonl([{ custom_id: 'chat-0', method: 'POST', url: '/v1/chat/completions', body }]),
    );
    const created = await openai.batches.create({
      input_file_id: input.id,
      endpoint: '/v1/chat/completions',
      completion_window: '24h',
    });
    const batch = await finished(openai, created.id);
    expect(batch.request_counts).toEqual({ total: 1, completed: 1, failed: 0 });
    const [line] = await linesOf(openai, batch.output_file_id);
    const direct = await openai.chat.completions.create(body as OpenAI.ChatCompletionCreateParamsNonStreaming);
    const answer = line?.response?.body as unknown as OpenAI.ChatCompletion;
    expect(answer.object).toBe('chat.completion');
    expect(answer.choices[0]?.message.content).toBe(direct.choices[0]?.message.content);
  });

  it('fails bad lines in the error file with the reason the endpoint would give, and completes the batch', async () => {
    const openai = clientFor('batch-bad-lines');
    const good = { model: MODEL, prompt: heldoutPrompt(4), temperature: 0 };
    const input = await upload(
      openai,
      jsonl([
        { custom_id: 'good', method: 'POST', url: '/v1/completions', body: good },
        '{"custom_id": "broken", "method": "POST", ',
        { custom_id: 'chat-url', method: 'POST', url: '/v1/chat/completions', body: good },
        { custom_id: 'hot', method: 'POST', url: '/v1/completions', body: { ...good, temperature: 5 } },
        { custom_id: 'good', method: 'POST', url: '/v1/completions', body: good },
        { custom_id: 'nobody', method: 'POST', url: '/v1/completions', body: { ...good, model: 'no-such-model' } },
        {
          custom_id: 'pair',
          method: 'POST',
          url: '/v1/completions',
          body: { ...good, prompt: [good.prompt, heldoutPrompt(5)] },
        },
      ]),
    );
    const created = await openai.batches.create({
      input_file_id: input.id,
      endpoint: '/v1/completions',
      completion_window: '24h',
    });
    const batch = await finished(openai, created.id);
    expect(batch.status).toBe('completed');
    expect(batch.request_counts).toEqual({ total: 7, completed: 2, failed: 5 });
    const output = await linesOf(openai, batch.output_file_id);
    expect(output.map((line) => line.custom_id)).toEqual(['good', 'pair']);
    // An array of prompts is answered as the endpoint answers it: one choice per prompt, in order.
    const [single, pair] = output.map((line) => line.response?.body as unknown as OpenAI.Completion);
    expect(pair?.choices.map((choice) => choice.index)).toEqual([0, 1]);
    expect(pair?.choices[0]?.text).toBe(single?.choices[0]?.text);
    const errors = await linesOf(openai, batch.error_file_id);
    expect(errors.map((line) => line.custom_id)).toEqual([null, 'chat-url', 'hot', 'good', 'nobody']);
    const [broken, chatUrl, hot, duplicate, nobody] = errors;
    expect(broken?.error?.code).toBe('invalid_json');
    expect(chatUrl?.error?.code).toBe('invalid_url');
    expect(duplicate?.error?.code).toBe('duplicate_custom_id');
    // What POST /v1/completions answers for the same body, status and error body alike.
    for (const [line, body] of [
      [hot, { ...good, temperature: 5 }],
      [nobody, { ...good, model: 'no-such-model' }],
    ] as const) {
      const direct = await sdkError(openai.completions.create(body as OpenAI.CompletionCreateParamsNonStreaming));
      expect(line?.response?.status_code).toBe(direct.status);
      expect(line?.response?.body).toEqual({ error: direct.error });
      expect(line?.error).toBeNull();
    }
  });

  it('fails the batch, not a line, when the input file is not JSONL at all', async () => {
    const openai = clientFor('batch-not-jsonl');
    const input = await upload(openai, 'name,prompt\nf,"return x"\n');
    const created = await openai.batches.create({
      input_file_id: input.id,
      endpoint: '/v1/completions',
      completion_window: '24h',
    });
    const batch = await finished(openai, created.id);
    expect(batch.status).toBe('failed');
    expect(batch.failed_at).toBeGreaterThanOrEqual(batch.created_at);
    expect(batch.errors?.data?.[0]?.code).toBe('invalid_jsonl');
    expect(batch.output_file_id).toBeNull();
  });

  it('cancels a batch: the lines not done go to the error file as batch_cancelled', async () => {
    // No worker while the batch is cancelled: its runner reads a cancel within a second, and a
    // free worker answers 40 lines sooner than that, which would leave no line to cancel.
    await fleet.stopWorkers();
    try {
      await cancelsEveryLineNotDone();
    } finally {
      await fleet.startWorker('batches-worker-after-cancel');
    }
  });

  async function cancelsEveryLineNotDone(): Promise<void> {
    const openai = clientFor('batch-cancel');
    const lines = Array.from({ length: 40 }, (_, index) => ({
      custom_id: `c-${index}`,
      method: 'POST',
      url: '/v1/completions',
      body: { model: MODEL, prompt: heldoutPrompt(index % 5), seed: index },
    }));
    const input = await upload(openai, jsonl(lines));
    const created = await openai.batches.create({
      input_file_id: input.id,
      endpoint: '/v1/completions',
      completion_window: '24h',
    });
    const cancelling = await openai.batches.cancel(created.id);
    expect(['cancelling', 'cancelled']).toContain(cancelling.status);
    const batch = await finished(openai, created.id);
    expect(batch.status).toBe('cancelled');
    expect(batch.cancelled_at).toBeGreaterThanOrEqual(batch.created_at);
    const { total, completed, failed } = batch.request_counts ?? { total: 0, completed: 0, failed: 0 };
    expect(total).toBe(40);
    expect(completed).toBe(0);
    expect(failed).toBe(40);
    const output = await linesOf(openai, batch.output_file_id);
    const errors = await linesOf(openai, batch.error_file_id);
    expect(output.length).toBe(completed);
    expect(errors.every((line) => line.error?.code === 'batch_cancelled')).toBe(true);
    expect(new Set([...output, ...errors].map((line) => line.custom_id)).size).toBe(40);
    const again = await sdkError(openai.batches.cancel(created.id));
    expect(again.status).toBe(400);
    expect(again.code).toBe('batch_not_cancellable');
  }

  it('expires a batch past its window: the lines done are in the output, the rest batch_expired', async () => {
    const openai = clientFor('batch-expire');
    const lines = Array.from({ length: 60 }, (_, index) => ({
      custom_id: `e-${index}`,
      method: 'POST',
      url: '/v1/completions',
      body: { model: MODEL, prompt: heldoutPrompt(index % 5), seed: index },
    }));
    const created = await openai.batches.create({
      input_file_id: (await upload(openai, jsonl(lines))).id,
      endpoint: '/v1/completions',
      completion_window: '24h',
    });
    // The window bounds this batch's jobs in Redis while it runs: never all 60 at once.
    const jobIds = new Set(lines.map((_, index) => requestIdFor('batch-expire', `${created.id}#${index + 1}`)));
    let mostQueued = 0;
    await eventually(
      'a line done',
      async () => {
        const queued = await fleet.queue.of('batch').getJobs(['waiting', 'active', 'delayed']);
        mostQueued = Math.max(mostQueued, queued.filter((job) => jobIds.has(job.id ?? '')).length);
        return ((await openai.batches.retrieve(created.id)).request_counts?.completed ?? 0) >= 1;
      },
      120_000,
      20,
    );
    // The lines not claimed yet stay undone: a free worker would answer them before the expiry is read.
    await fleet.stopWorkers();
    expect(mostQueued).toBeGreaterThan(0);
    expect(mostQueued).toBeLessThanOrEqual(WINDOW);
    // The 24 hours pass: the window's end moves to a second ago.
    const redis = new Redis(fleet.redisUrl);
    try {
      await redis.hset(
        batchKeys.batch(fleet.prefix, created.id),
        'expires_at',
        String(Math.floor(Date.now() / 1000) - 1),
      );
    } finally {
      redis.disconnect();
    }
    const batch = await finished(openai, created.id);
    expect(batch.status).toBe('expired');
    expect(batch.expired_at).toBeGreaterThanOrEqual(batch.created_at);
    const { completed, failed } = batch.request_counts ?? { completed: 0, failed: 0 };
    expect(completed).toBeGreaterThanOrEqual(1);
    expect(completed + failed).toBe(60);
    expect(failed).toBeGreaterThan(0);
    const output = await linesOf(openai, batch.output_file_id);
    const errors = await linesOf(openai, batch.error_file_id);
    expect(output.length).toBe(completed);
    expect(output.every((line) => line.response?.status_code === 200)).toBe(true);
    expect(errors.length).toBe(failed);
    expect(errors.every((line) => line.error?.code === 'batch_expired')).toBe(true);
    await fleet.startWorker('batches-worker-after-expiry');
  });

  it('refuses an upload over DFLEET_MAX_FILE_BYTES (413) and one of another purpose (400), naming the field', async () => {
    const openai = clientFor('batch-upload-limits');
    const large = await sdkError(upload(openai, 'x'.repeat(MAX_FILE_BYTES + 1)));
    expect(large.status).toBe(413);
    expect(large.param).toBe('file');
    expect(large.message).toContain('DFLEET_MAX_FILE_BYTES');
    const other = await sdkError(
      openai.files.create({ file: await toFile(Buffer.from('{}\n'), 'x.jsonl'), purpose: 'fine-tune' }),
    );
    expect(other.status).toBe(400);
    expect(other.param).toBe('purpose');
    expect((await openai.files.list()).data).toEqual([]);
  });

  it('lists batches newest first, a page at a time', async () => {
    const openai = clientFor('batch-list');
    const input = await upload(openai, jsonl([{ custom_id: 'x', method: 'POST', url: '/v1/completions', body: {} }]));
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) {
      const batch = await openai.batches.create({
        input_file_id: input.id,
        endpoint: '/v1/completions',
        completion_window: '24h',
      });
      ids.push(batch.id);
    }
    const first = await openai.batches.list({ limit: 2 });
    expect(first.data.map((batch) => batch.id)).toEqual([ids[2], ids[1]]);
    expect(first.has_more).toBe(true);
    const second = await openai.batches.list({ limit: 2, after: ids[1] });
    expect(second.data.map((batch) => batch.id)).toEqual([ids[0]]);
    expect(second.has_more).toBe(false);
    const all: string[] = [];
    for await (const batch of openai.batches.list({ limit: 1 })) all.push(batch.id);
    expect(all).toEqual([...ids].reverse());
  });

  it("keeps tenants apart: another tenant's files and batches are not found", async () => {
    const owner = clientFor('batch-owner');
    const other = clientFor('batch-other');
    const input = await upload(owner, jsonl([{ custom_id: 'x', method: 'POST', url: '/v1/completions', body: {} }]));
    const batch = await owner.batches.create({
      input_file_id: input.id,
      endpoint: '/v1/completions',
      completion_window: '24h',
    });
    for (const call of [
      () => other.files.retrieve(input.id),
      () => other.files.content(input.id),
      () => other.files.delete(input.id),
      () => other.batches.retrieve(batch.id),
      () => other.batches.cancel(batch.id),
      () => other.batches.create({ input_file_id: input.id, endpoint: '/v1/completions', completion_window: '24h' }),
    ]) {
      expect((await sdkError(call())).status).toBe(404);
    }
    expect((await other.files.list()).data).toEqual([]);
    expect((await other.batches.list()).data).toEqual([]);
    expect((await owner.files.list()).data.map((file) => file.id)).toContain(input.id);
    expect(await owner.files.delete(input.id)).toMatchObject({ id: input.id, deleted: true });
    expect((await sdkError(owner.files.retrieve(input.id))).status).toBe(404);
  });
});
