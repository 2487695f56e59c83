import { UnrecoverableError } from 'bullmq';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { deletePrefix, eventually, getJson, uniquePrefix } from '@dfleet/test-support';
import type { RunningGateway } from '../src/gateway.ts';
import {
  FIXTURE_MODEL,
  generationResultFor,
  postCompletion,
  startTestGateway,
  startTestHeartbeat,
  startTestWorker,
  type TestWorker,
} from './support/test-fleet.ts';
import { newWebhookSecret, WebhookReceiver } from './support/webhook-receiver.ts';

// Gateways in this process with real Redis and BullMQ, BullMQ test workers that return results
// (no callbacks: results reach the gateways through Redis), and a real HTTP receiver that checks
// every signature with the standardwebhooks package.
const prefix = uniquePrefix();
const secret = newWebhookSecret();
const webhookEnv = {
  DFLEET_WEBHOOK_SECRET: secret,
  DFLEET_WEBHOOK_ALLOWED_HOSTS: '127.0.0.1',
  DFLEET_WEBHOOK_ATTEMPTS: '3',
  DFLEET_WEBHOOK_BACKOFF_MS: '100',
  DFLEET_WEBHOOK_TIMEOUT_MS: '5000',
};
let gateway: RunningGateway;
let receiver: WebhookReceiver;
let worker: TestWorker | undefined;

beforeAll(async () => {
  gateway = await startTestGateway(prefix, webhookEnv);
  receiver = await WebhookReceiver.start(secret);
});

afterEach(async () => {
  await worker?.close();
  worker = undefined;
  receiver.answer = () => 200;
});

afterAll(async () => {
  await gateway?.close(1_000);
  await receiver?.close();
  await deletePrefix(prefix);
});

const prompt = 'function add(a, b) {\n';

function answering(text: string): Promise<TestWorker> {
  return startTestWorker(prefix, async () => generationResultFor(text));
}

async function postWithWebhook(target: RunningGateway, url: string, extra: Record<string, unknown> = {}) {
  return postCompletion(target, {
    model: FIXTURE_MODEL,
    prompt,
    max_tokens: 8,
    dfleet: { webhook_url: url },
    ...extra,
  });
}

async function statusBecomes(target: RunningGateway, eventId: string, status: string, tenant = 'default') {
  await eventually(
    `delivery ${eventId} ${status}`,
    async () => (await delivery(target, eventId, tenant)).body.status === status,
  );
}

function delivery(target: RunningGateway, eventId: string, tenant = 'default') {
  return getJson(`${target.httpUrl}/v1/webhooks/deliveries/${eventId}`, { headers: { 'x-dfleet-tenant': tenant } });
}

describe('a completion naming dfleet.webhook_url', () => {
  it('answers 202 with its job, then POSTs one signed completion.completed whose data is the job result', async () => {
    worker = await answering('return a + b;');
    const accepted = await postWithWebhook(gateway, receiver.url('/one'));
    expect(accepted.status).toBe(202);
    expect(accepted.body).toMatchObject({ object: 'dfleet.job', result: null, webhook: { url: receiver.url('/one') } });
    const jobId: string = accepted.body.id;
    expect(accepted.headers.get('x-request-id')).toBe(jobId);
    const eventId: string = accepted.body.webhook.event_id;
    expect(eventId).toBe(`evt_${jobId}`);

    await statusBecomes(gateway, eventId, 'delivered');
    const posts = receiver.deliveriesOf(eventId);
    expect(posts).toHaveLength(1);
    const [post] = posts;
    expect(post?.verifyError).toBeNull();
    const event = JSON.parse(post?.body ?? '');
    expect(event).toMatchObject({ id: eventId, object: 'event', type: 'completion.completed' });
    expect(event.created_at).toBeGreaterThan(0);
    const job = await getJson(`${gateway.httpUrl}/v1/jobs/${jobId}`);
    expect(job.body.state).toBe('completed');
    expect(event.data).toEqual(job.body.result);
    expect(event.data.choices[0].text).toBe('return a + b;');
    expect((await delivery(gateway, eventId)).body).toMatchObject({
      id: eventId,
      object: 'dfleet.webhook_delivery',
      type: 'completion.completed',
      status: 'delivered',
      attempts: 1,
      last_status: 200,
      last_error: null,
      job_id: jobId,
    });
  });

  it('is one job and one delivery when resubmitted with the same idempotency key', async () => {
    worker = await answering('return a / b;');
    const key = { 'idempotency-key': `webhook-twice-${Date.now()}` };
    const body = { model: FIXTURE_MODEL, prompt, dfleet: { webhook_url: receiver.url('/twice') } };
    const first = await postCompletion(gateway, body, key);
    const eventId: string = first.body.webhook.event_id;
    await statusBecomes(gateway, eventId, 'delivered');
    const second = await postCompletion(gateway, body, key);
    expect(second.status).toBe(202);
    expect(second.body).toMatchObject({ id: first.body.id, state: 'completed', webhook: { event_id: eventId } });
    expect(second.body.result.choices[0].text).toBe('return a / b;');
    await statusBecomes(gateway, eventId, 'delivered');
    expect(receiver.deliveriesOf(eventId)).toHaveLength(1);
  });

  it('delivers for a finished job that a resubmission with its idempotency key names with a webhook', async () => {
    worker = await answering('return b;');
    const key = { 'idempotency-key': `webhook-later-${Date.now()}` };
    const plain = await postCompletion(gateway, { model: FIXTURE_MODEL, prompt }, key);
    expect(plain.status).toBe(200);
    const later = await postCompletion(
      gateway,
      { model: FIXTURE_MODEL, prompt, dfleet: { webhook_url: receiver.url('/later') } },
      key,
    );
    expect(later.body).toMatchObject({ id: plain.body.id, state: 'completed' });
    const eventId: string = later.body.webhook.event_id;
    await eventually('one POST of the event', () => receiver.deliveriesOf(eventId).length === 1);
    expect(JSON.parse(receiver.deliveriesOf(eventId)[0]?.body ?? '').data.choices[0].text).toBe('return b;');
  });

  it('reports a failed job that a resubmission with its idempotency key names with a webhook', async () => {
    worker = await startTestWorker(prefix, async () => {
      throw new UnrecoverableError('no answer for this one');
    });
    const key = { 'idempotency-key': `webhook-failed-${Date.now()}` };
    const plain = await postCompletion(gateway, { model: FIXTURE_MODEL, prompt }, key);
    expect(plain.status).toBe(502);
    const later = await postCompletion(
      gateway,
      { model: FIXTURE_MODEL, prompt, dfleet: { webhook_url: receiver.url('/failed-later') } },
      key,
    );
    expect(later.body).toMatchObject({ state: 'failed' });
    const eventId: string = later.body.webhook.event_id;
    await eventually('one POST of the event', () => receiver.deliveriesOf(eventId).length === 1);
    const event = JSON.parse(receiver.deliveriesOf(eventId)[0]?.body ?? '');
    expect(event).toMatchObject({ type: 'completion.failed', data: { id: later.body.id, state: 'failed' } });
  });

  it('reports a waiting job cancelled with DELETE /v1/jobs/:id as completion.failed, job_not_found', async () => {
    const heartbeat = await startTestHeartbeat(prefix);
    let accepted: Awaited<ReturnType<typeof postWithWebhook>>;
    try {
      accepted = await postWithWebhook(gateway, receiver.url('/cancelled'));
    } finally {
      await heartbeat.close();
    }
    const cancelled = await fetch(`${gateway.httpUrl}/v1/jobs/${accepted.body.id}`, { method: 'DELETE' });
    expect(await cancelled.json()).toMatchObject({ cancelled: true, state: 'cancelled' });
    const eventId: string = accepted.body.webhook.event_id;
    await eventually('one POST of the event', () => receiver.deliveriesOf(eventId).length === 1);
    const event = JSON.parse(receiver.deliveriesOf(eventId)[0]?.body ?? '');
    expect(event).toMatchObject({
      type: 'completion.failed',
      data: { id: accepted.body.id, error: { code: 'job_not_found' } },
    });
  });

  it('reports a job that failed for good as completion.failed with its error', async () => {
    worker = await startTestWorker(prefix, async () => {
      throw new UnrecoverableError('the model cannot decode this');
    });
    const accepted = await postWithWebhook(gateway, receiver.url('/failed'));
    const eventId: string = accepted.body.webhook.event_id;
    await eventually('one POST of the event', () => receiver.deliveriesOf(eventId).length === 1);
    const event = JSON.parse(receiver.deliveriesOf(eventId)[0]?.body ?? '');
    expect(event.type).toBe('completion.failed');
    expect(event.data).toMatchObject({ id: accepted.body.id, object: 'dfleet.job', state: 'failed' });
    expect(event.data.error.message).toContain('the model cannot decode this');
  });

  it('retries a receiver that fails twice: three attempts, one success, the same event and bytes each time', async () => {
    const before = receiver.received.length;
    receiver.answer = (index) => (index - before < 2 ? 500 : 200);
    worker = await answering('return a - b;');
    const accepted = await postWithWebhook(gateway, receiver.url('/flaky'));
    const eventId: string = accepted.body.webhook.event_id;

    await statusBecomes(gateway, eventId, 'delivered');
    const posts = receiver.deliveriesOf(eventId);
    expect(posts.map((post) => post.answeredStatus)).toEqual([500, 500, 200]);
    expect(posts.every((post) => post.verifyError === null)).toBe(true);
    expect(new Set(posts.map((post) => post.body)).size).toBe(1);
    expect((await delivery(gateway, eventId)).body).toMatchObject({ attempts: 3, last_status: 200 });
  });

  it('lists an event no attempt delivered as failed, for its tenant only, and sends it again on retry', async () => {
    receiver.answer = () => 503;
    worker = await answering('return a * b;');
    const accepted = await postCompletion(
      gateway,
      { model: FIXTURE_MODEL, prompt, dfleet: { webhook_url: receiver.url('/down') } },
      { 'x-dfleet-tenant': 'acme' },
    );
    const eventId: string = accepted.body.webhook.event_id;
    const failedOf = (tenant: string) =>
      getJson(`${gateway.httpUrl}/v1/webhooks/deliveries?status=failed`, { headers: { 'x-dfleet-tenant': tenant } });

    await eventually('the event listed as failed', async () =>
      (await failedOf('acme')).body.data.some((one: { id: string }) => one.id === eventId),
    );
    const listed = (await failedOf('acme')).body.data.find((one: { id: string }) => one.id === eventId);
    expect(listed).toMatchObject({
      url: receiver.url('/down'),
      status: 'failed',
      attempts: 3,
      last_status: 503,
      type: 'completion.completed',
    });
    expect(listed.last_error).toContain('HTTP 503');
    expect(receiver.deliveriesOf(eventId)).toHaveLength(3);
    // Another tenant sees neither the list entry nor the delivery.
    expect((await failedOf('default')).body.data.map((one: { id: string }) => one.id)).not.toContain(eventId);
    expect((await delivery(gateway, eventId, 'default')).status).toBe(404);

    receiver.answer = () => 204;
    const retried = await fetch(`${gateway.httpUrl}/v1/webhooks/deliveries/${eventId}/retry`, {
      method: 'POST',
      headers: { 'x-dfleet-tenant': 'acme' },
    });
    expect(retried.status).toBe(202);
    await statusBecomes(gateway, eventId, 'delivered', 'acme');
    expect(receiver.deliveriesOf(eventId).at(-1)?.answeredStatus).toBe(204);
    expect((await failedOf('acme')).body.data.map((one: { id: string }) => one.id)).not.toContain(eventId);
    // A delivered event is not retried.
    const again = await fetch(`${gateway.httpUrl}/v1/webhooks/deliveries/${eventId}/retry`, {
      method: 'POST',
      headers: { 'x-dfleet-tenant': 'acme' },
    });
    expect(again.status).toBe(409);
    expect(((await again.json()) as { error: { code: string } }).error.code).toBe('delivery_not_failed');
  });

  it('pages the failed list: the latest failure first, at most limit', async () => {
    receiver.answer = (_, path) => (path.startsWith('/pager') ? 500 : 200);
    worker = await answering('return 1;');
    const headers = { 'x-dfleet-tenant': 'pager' };
    const body = (path: string) => ({ model: FIXTURE_MODEL, prompt, dfleet: { webhook_url: receiver.url(path) } });
    const first = await postCompletion(gateway, body('/pager-1'), headers);
    await statusBecomes(gateway, first.body.webhook.event_id, 'failed', 'pager');
    const second = await postCompletion(gateway, body('/pager-2'), headers);
    await statusBecomes(gateway, second.body.webhook.event_id, 'failed', 'pager');

    const page = (limit: number) =>
      getJson(`${gateway.httpUrl}/v1/webhooks/deliveries?status=failed&limit=${limit}`, { headers });
    expect((await page(1)).body.data.map((one: { id: string }) => one.id)).toEqual([second.body.webhook.event_id]);
    expect((await page(5)).body.data.map((one: { id: string }) => one.id)).toEqual([
      second.body.webhook.event_id,
      first.body.webhook.event_id,
    ]);
    const tooMany = await page(500);
    expect(tooMany.status).toBe(400);
    expect(tooMany.body.error).toMatchObject({ param: 'limit' });
  });

  it('gives up at once on 410 Gone', async () => {
    receiver.answer = () => 410;
    worker = await answering('return 0;');
    const accepted = await postWithWebhook(gateway, receiver.url('/gone'));
    const eventId: string = accepted.body.webhook.event_id;
    await statusBecomes(gateway, eventId, 'failed');
    expect(receiver.deliveriesOf(eventId)).toHaveLength(1);
  });

  it('is still delivered, by another gateway, when the gateway that accepted it closed before the result', async () => {
    const accepting = await startTestGateway(prefix, webhookEnv);
    const other = await startTestGateway(prefix, webhookEnv);
    try {
      // A heartbeat lets the gateway accept an interactive job; nothing claims it yet.
      const heartbeat = await startTestHeartbeat(prefix);
      const accepted = await postWithWebhook(accepting, receiver.url('/survivor'));
      await heartbeat.close();
      expect(accepted.status).toBe(202);
      const eventId: string = accepted.body.webhook.event_id;
      await accepting.close(1_000);
      // The suite's own gateway too: only `other` is left to deliver.
      await gateway.close(1_000);

      worker = await answering('return a % b;');
      await eventually('one POST of the event', () => receiver.deliveriesOf(eventId).length === 1);
      const event = JSON.parse(receiver.deliveriesOf(eventId)[0]?.body ?? '');
      expect(event.type).toBe('completion.completed');
      expect(event.data.choices[0].text).toBe('return a % b;');
      expect((await delivery(other, eventId)).body.status).toBe('delivered');
    } finally {
      await accepting.close(1_000);
      await other.close(1_000);
      gateway = await startTestGateway(prefix, webhookEnv);
    }
  });
});

describe('requests a webhook cannot serve', () => {
  it.each([
    ['stream: true', { stream: true }, 'stream', /stream: true and dfleet.webhook_url cannot be combined/],
    ['n > 1', { n: 2 }, 'n', /n > 1 and dfleet.webhook_url/],
    ['several prompts', { prompt: ['a', 'b'] }, 'dfleet.webhook_url', /prompt as an array and dfleet.webhook_url/],
  ])('%s answers 400 naming the fields', async (_, extra, param, message) => {
    const answer = await postWithWebhook(gateway, receiver.url(), extra);
    expect(answer.status).toBe(400);
    expect(answer.body.error).toMatchObject({ code: 'invalid_request', param });
    expect(answer.body.error.message).toMatch(message);
  });

  it('a host outside DFLEET_WEBHOOK_ALLOWED_HOSTS answers 400 webhook_url_not_allowed', async () => {
    const heartbeat = await startTestHeartbeat(prefix);
    try {
      const answer = await postWithWebhook(gateway, 'http://10.0.0.1/hook');
      expect(answer.status).toBe(400);
      expect(answer.body.error).toMatchObject({ code: 'webhook_url_not_allowed', param: 'dfleet.webhook_url' });
      expect(answer.body.error.message).toContain('DFLEET_WEBHOOK_ALLOWED_HOSTS: 127.0.0.1');
    } finally {
      await heartbeat.close();
    }
  });

  it('a gateway without a webhook secret answers 400 webhooks_not_configured', async () => {
    const plain = await startTestGateway(prefix);
    try {
      const answer = await postWithWebhook(plain, receiver.url());
      expect(answer.status).toBe(400);
      expect(answer.body.error).toMatchObject({ code: 'webhooks_not_configured', param: 'dfleet.webhook_url' });
      expect(answer.body.error.message).toContain('DFLEET_WEBHOOK_SECRET');
      const list = await getJson(`${plain.httpUrl}/v1/webhooks/deliveries?status=failed`);
      expect(list.status).toBe(400);
      expect(list.body.error.code).toBe('webhooks_not_configured');
    } finally {
      await plain.close(1_000);
    }
  });

  it('listing another status is a 400 naming status', async () => {
    const answer = await getJson(`${gateway.httpUrl}/v1/webhooks/deliveries?status=pending`);
    expect(answer.status).toBe(400);
    expect(answer.body.error).toMatchObject({ code: 'invalid_request', param: 'status' });
  });
});
