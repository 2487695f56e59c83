import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually, TestFleet, type GatewayProcess } from '@dfleet/test-support';
import OpenAI, { toFile } from 'openai';
import { heldoutPrompt } from './support/heldout.ts';

// The Batch API end to end: a gateway process, a real worker with the shipped model, and the official openai client.
const MODEL = 'jsfunc-mdm';
const fleet = new TestFleet();
let gateway: GatewayProcess;

beforeAll(async () => {
  gateway = await fleet.startGateway('batches-gateway', { DFLEET_BATCH_WINDOW: '4' });
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

async function sdkError(call: Promise<unknown>): Promise<InstanceType<typeof OpenAI.APIError>> {
  try {
    await call;
  } catch (error) {
    if (error instanceof OpenAI.APIError) return error;
    throw error;
  }
  throw new Error('expected the SDK call to fail');
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
});
