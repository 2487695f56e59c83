import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { deletePrefix, eventually, getJson, uniquePrefix } from '@dfleet/test-support';
import OpenAI, { toFile } from 'openai';
import { pino } from 'pino';
import { startGateway, type RunningGateway } from '../src/gateway.ts';
import {
  FIXTURE_MODEL,
  generationResultFor,
  startTestGateway,
  startTestWorker,
  testGatewayConfig,
  type TestWorker,
} from './support/test-fleet.ts';
import { newWebhookSecret, WebhookReceiver } from './support/webhook-receiver.ts';

// A gateway in this process runs batches (its batch runner) whose lines BullMQ test workers answer;
// the batch names a webhook, which a real receiver verifies with the standardwebhooks package.
const prefix = uniquePrefix();
const secret = newWebhookSecret();
let gateway: RunningGateway;
let receiver: WebhookReceiver;
let worker: TestWorker | undefined;
let openai: OpenAI;

beforeAll(async () => {
  gateway = await startTestGateway(prefix, {
    DFLEET_WEBHOOK_SECRET: secret,
    DFLEET_WEBHOOK_ALLOWED_HOSTS: '127.0.0.1',
    DFLEET_WEBHOOK_BACKOFF_MS: '100',
  });
  receiver = await WebhookReceiver.start(secret);
  openai = new OpenAI({ baseURL: `${gateway.httpUrl}/v1`, apiKey: 'not-checked', maxRetries: 0 });
});

afterEach(async () => {
  await worker?.close();
  worker = undefined;
});

afterAll(async () => {
  await gateway?.close(1_000);
  await receiver?.close();
  await deletePrefix(prefix);
});

async function uploadLines(lines: readonly unknown[], client = openai) {
  const text = `${lines.map((line) => JSON.stringify(line)).join('\n')}\n`;
  return client.files.create({ file: await toFile(Buffer.from(text), 'input.jsonl'), purpose: 'batch' });
}

const line = (index: number, body: Record<string, unknown> = {}) => ({
  custom_id: `line-${index}`,
  method: 'POST',
  url: '/v1/completions',
  body: { model: FIXTURE_MODEL, prompt: `function f${index}(x) {\n`, ...body },
});

/** Fields the SDK's types do not know (`dfleet`), sent as they are. */
function withWebhook<T extends object>(params: T, url: string): T {
  return { ...params, dfleet: { webhook_url: url } } as T;
}

describe('a batch naming dfleet.webhook_url', () => {
  it('POSTs one signed batch.completed whose data is the batch object, once it completed', async () => {
    worker = await startTestWorker(prefix, async () => generationResultFor('return x;'));
    const input = await uploadLines([line(0), line(1), line(2, { dfleet: { webhook_url: receiver.url('/line') } })]);
    const created = await openai.batches.create(
      withWebhook(
        { input_file_id: input.id, endpoint: '/v1/completions', completion_window: '24h' },
        receiver.url('/batch'),
      ),
    );
    const eventId = `evt_${created.id}`;
    await eventually('the batch event POSTed', () => receiver.deliveriesOf(eventId).length > 0, 60_000);
    const [post] = receiver.deliveriesOf(eventId);
    expect(post?.verifyError).toBeNull();
    const event = JSON.parse(post?.body ?? '');
    expect(event).toMatchObject({ id: eventId, object: 'event', type: 'batch.completed' });
    const batch = await getJson(`${gateway.httpUrl}/v1/batches/${created.id}`);
    expect(batch.body.status).toBe('completed');
    expect(event.data).toEqual(batch.body);
    expect(event.data.request_counts).toEqual({ total: 3, completed: 2, failed: 1 });
    // A line naming a webhook of its own is a bad line, and only the batch's webhook is POSTed.
    const errors = await (await openai.files.content(batch.body.error_file_id)).text();
    expect(errors).toContain('dfleet.webhook_url is not taken in a batch line');
    expect(
      receiver.received.filter((one) => one.headers['webhook-id'] !== eventId && one.body.includes('line-')),
    ).toEqual([]);
    await eventually(
      'the delivery recorded as delivered',
      async () => (await getJson(`${gateway.httpUrl}/v1/webhooks/deliveries/${eventId}`)).body.status === 'delivered',
    );
    expect(receiver.deliveriesOf(eventId)).toHaveLength(1);
  });

  it('POSTs batch.cancelled for a cancelled batch', async () => {
    // No worker: the lines wait, and the batch is cancelled while in progress.
    const input = await uploadLines([line(3), line(4)]);
    const created = await openai.batches.create(
      withWebhook({ input_file_id: input.id, endpoint: '/v1/completions', completion_window: '24h' }, receiver.url()),
    );
    await openai.batches.cancel(created.id);
    const eventId = `evt_${created.id}`;
    await eventually('the batch event POSTed', () => receiver.deliveriesOf(eventId).length > 0, 60_000);
    expect(JSON.parse(receiver.deliveriesOf(eventId)[0]?.body ?? '').type).toBe('batch.cancelled');
  });

  it('is announced again when announcing failed (the run is retried), and still POSTed once', async () => {
    const otherPrefix = uniquePrefix();
    let announcements = 0;
    const flaky = await startGateway(
      testGatewayConfig({
        DFLEET_REDIS_PREFIX: otherPrefix,
        DFLEET_WEBHOOK_SECRET: secret,
        DFLEET_WEBHOOK_ALLOWED_HOSTS: '127.0.0.1',
      }),
      {
        logger: pino({ level: 'silent' }),
        onBatchFinished: () => {
          announcements += 1;
          if (announcements === 1) throw new Error('Redis went away just then');
        },
      },
    );
    const otherWorker = await startTestWorker(otherPrefix, async () => generationResultFor('return y;'));
    try {
      const client = new OpenAI({ baseURL: `${flaky.httpUrl}/v1`, apiKey: 'not-checked', maxRetries: 0 });
      const input = await uploadLines([line(6)], client);
      const created = await client.batches.create(
        withWebhook({ input_file_id: input.id, endpoint: '/v1/completions', completion_window: '24h' }, receiver.url()),
      );
      const eventId = `evt_${created.id}`;
      await eventually('the batch event POSTed', () => receiver.deliveriesOf(eventId).length > 0, 60_000);
      // The failed announcement fails the run; its retry finds the batch final and announces again.
      await eventually('a second announcement', () => announcements >= 2, 60_000);
      await eventually(
        'the delivery recorded as delivered',
        async () => (await getJson(`${flaky.httpUrl}/v1/webhooks/deliveries/${eventId}`)).body.status === 'delivered',
      );
      expect(receiver.deliveriesOf(eventId)).toHaveLength(1);
    } finally {
      await otherWorker.close();
      await flaky.close(1_000);
      await deletePrefix(otherPrefix);
    }
  });

  it('refuses a webhook host that is not allowed, naming the field', async () => {
    const input = await uploadLines([line(5)]);
    const answer = await fetch(`${gateway.httpUrl}/v1/batches`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        input_file_id: input.id,
        endpoint: '/v1/completions',
        completion_window: '24h',
        dfleet: { webhook_url: 'http://192.168.0.10/hook' },
      }),
    });
    expect(answer.status).toBe(400);
    expect(((await answer.json()) as { error: unknown }).error).toMatchObject({
      code: 'webhook_url_not_allowed',
      param: 'dfleet.webhook_url',
    });
  });
});
