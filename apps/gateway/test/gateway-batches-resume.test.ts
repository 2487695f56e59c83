import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_MODEL_DIR } from '@dfleet/model';
import { eventually, TestFleet } from '@dfleet/test-support';
import OpenAI, { toFile } from 'openai';
import { pino } from 'pino';
import type { BatchObject } from '../src/batches/batch-objects.ts';
import { startGateway, type RunningGateway } from '../src/gateway.ts';
import { heldoutPrompt } from './support/heldout.ts';
import { testGatewayConfig } from './support/test-fleet.ts';

// Two in-process gateways on one prefix and a real worker process with the shipped model.
const MODEL = 'jsfunc-mdm';
const LINES = 24;
const fleet = new TestFleet();
const gateways: RunningGateway[] = [];
const finishedBatches: BatchObject[] = [];

function startBatchGateway(): Promise<RunningGateway> {
  const config = testGatewayConfig({
    DFLEET_REDIS_PREFIX: fleet.prefix,
    DFLEET_MODEL_DIR: DEFAULT_MODEL_DIR,
    // A small window, so the first gateway is closed with most lines not yet fed.
    DFLEET_BATCH_WINDOW: '2',
    DFLEET_BATCH_RUNNERS: '1',
  });
  return startGateway(config, {
    logger: pino({ level: 'silent' }),
    onBatchFinished: (batch) => {
      finishedBatches.push(batch);
    },
  }).then((gateway) => {
    gateways.push(gateway);
    return gateway;
  });
}

function clientOf(gateway: RunningGateway): OpenAI {
  return new OpenAI({ baseURL: `${gateway.httpUrl}/v1`, apiKey: 'not-checked', maxRetries: 0 });
}

beforeAll(async () => {
  await fleet.startWorker('resume-worker');
}, 180_000);

afterAll(async () => {
  await Promise.all(gateways.map((gateway) => gateway.close(0)));
  await fleet.close();
}, 60_000);

describe('a batch whose gateway closes mid-way', () => {
  it('is resumed by another gateway, and its output has every line exactly once', async () => {
    const first = await startBatchGateway();
    const openai = clientOf(first);
    const lines = Array.from({ length: LINES }, (_, index) => ({
      custom_id: `line-${index}`,
      method: 'POST',
      url: '/v1/completions',
      body: { model: MODEL, prompt: heldoutPrompt(index % 8), seed: index },
    }));
    const input = await openai.files.create({
      file: await toFile(Buffer.from(`${lines.map((line) => JSON.stringify(line)).join('\n')}\n`), 'in.jsonl'),
      purpose: 'batch',
    });
    const created = await openai.batches.create({
      input_file_id: input.id,
      endpoint: '/v1/completions',
      completion_window: '24h',
    });
    await eventually(
      'some lines done on the first gateway',
      async () => ((await openai.batches.retrieve(created.id)).request_counts?.completed ?? 0) >= 2,
      120_000,
      100,
    );

    // Closed before the second starts: with both up, the lines left could all finish while the
    // second gateway loads, and the batch would complete on the first.
    await first.close();
    const second = await startBatchGateway();
    const before = await clientOf(second).batches.retrieve(created.id);
    expect(before.status).toBe('in_progress');
    expect(before.request_counts?.completed).toBeLessThan(LINES);

    const resumed = clientOf(second);
    const batch = await eventually(
      'the batch completed on the second gateway',
      async () => {
        const current = await resumed.batches.retrieve(created.id);
        return current.status === 'completed' ? current : undefined;
      },
      240_000,
      250,
    );
    expect(batch.request_counts).toEqual({ total: LINES, completed: LINES, failed: 0 });
    const text = await (await resumed.files.content(batch.output_file_id ?? '')).text();
    const output = text
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as { custom_id: string; response: { request_id: string } });
    expect(output.map((line) => line.custom_id)).toEqual(lines.map((line) => line.custom_id));
    // One generation job per line, whichever gateway fed it: a re-fed line was the same job.
    const jobIds = new Set(output.map((line) => line.response.request_id));
    expect(jobIds.size).toBe(LINES);
    const batchJobs = await fleet.queue.of('batch').getJobs(['completed', 'active', 'waiting', 'failed']);
    expect(new Set(batchJobs.map((job) => job.id))).toEqual(jobIds);
    expect(batchJobs.every((job) => job.attemptsMade <= 1)).toBe(true);
    expect(finishedBatches.map((finished) => [finished.id, finished.status])).toEqual([[created.id, 'completed']]);
  });
});
