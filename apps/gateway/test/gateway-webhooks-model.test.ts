import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually, getJson, killHard, postCompletion, TestFleet, type GatewayProcess } from '@dfleet/test-support';
import { heldoutPrompt } from './support/heldout.ts';
import { newWebhookSecret, WebhookReceiver } from './support/webhook-receiver.ts';

// Gateway and worker processes with the shipped model, and a receiver that verifies every POST with
// the standardwebhooks reference implementation.
const MODEL = 'jsfunc-mdm';
const secret = newWebhookSecret();
const fleet = new TestFleet({
  env: {
    DFLEET_WEBHOOK_SECRET: secret,
    DFLEET_WEBHOOK_ALLOWED_HOSTS: '127.0.0.1',
    DFLEET_WEBHOOK_BACKOFF_MS: '200',
  },
});
let accepting: GatewayProcess;
let survivor: GatewayProcess;
let receiver: WebhookReceiver;

beforeAll(async () => {
  receiver = await WebhookReceiver.start(secret);
  [accepting, survivor] = await Promise.all([
    fleet.startGateway('webhook-gateway-a'),
    fleet.startGateway('webhook-gateway-b'),
  ]);
}, 180_000);

afterAll(async () => {
  await fleet.close();
  await receiver?.close();
}, 60_000);

async function onePostOf(eventId: string) {
  await eventually(`a POST of ${eventId}`, () => receiver.deliveriesOf(eventId).length > 0, 120_000);
  return receiver.deliveriesOf(eventId);
}

describe('webhooks from a real fleet', () => {
  it('delivers the result after the gateway that accepted the request was killed with SIGKILL', async () => {
    // No worker yet, so the job waits (batch priority queues without one); the gateway dies first.
    const accepted = await postCompletion(accepting.httpUrl, {
      model: MODEL,
      prompt: heldoutPrompt(2),
      dfleet: { priority: 'batch', webhook_url: receiver.url('/killed') },
    });
    expect(accepted.status).toBe(202);
    const eventId: string = accepted.body.webhook.event_id;
    await killHard(accepting.process);
    await fleet.startWorker('webhook-worker');

    const posts = await onePostOf(eventId);
    const event = JSON.parse(posts[0]?.body ?? '');
    expect(posts[0]?.verifyError).toBeNull();
    expect(event.type).toBe('completion.completed');
    const job = await getJson(`${survivor.httpUrl}/v1/jobs/${accepted.body.id}`);
    expect(job.body.state).toBe('completed');
    expect(event.data).toEqual(job.body.result);
  }, 180_000);

  it('POSTs exactly one signed event per completion, whose data is GET /v1/jobs/:id result', async () => {
    const accepted = await postCompletion(survivor.httpUrl, {
      model: MODEL,
      prompt: heldoutPrompt(0),
      dfleet: { webhook_url: receiver.url('/completion') },
    });
    expect(accepted.status).toBe(202);
    expect(accepted.body).toMatchObject({ object: 'dfleet.job', result: null });
    const eventId: string = accepted.body.webhook.event_id;
    const posts = await onePostOf(eventId);
    const event = JSON.parse(posts[0]?.body ?? '');
    expect(posts[0]?.verified).toEqual(event);
    const job = await getJson(`${survivor.httpUrl}/v1/jobs/${accepted.body.id}`);
    expect(event.data).toEqual(job.body.result);
    // Decoded by the model: the same text a synchronous request gets.
    const direct = await postCompletion(survivor.httpUrl, { model: MODEL, prompt: heldoutPrompt(0) });
    expect(event.data.choices[0].text).toBe(direct.body.choices[0].text);
    const delivered = await getJson(`${survivor.httpUrl}/v1/webhooks/deliveries/${eventId}`);
    expect(delivered.body).toMatchObject({ status: 'delivered', attempts: 1 });
    expect(receiver.deliveriesOf(eventId)).toHaveLength(1);
  }, 180_000);

  it('answers a chat request with a webhook by POSTing a chat.completion', async () => {
    const response = await fetch(`${survivor.httpUrl}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        model: MODEL,
        messages: [{ role: 'user', content: heldoutPrompt(1) }],
        dfleet: { webhook_url: receiver.url('/chat') },
      }),
    });
    expect(response.status).toBe(202);
    const accepted = (await response.json()) as { id: string; webhook: { event_id: string } };
    const posts = await onePostOf(accepted.webhook.event_id);
    expect(posts[0]?.verifyError).toBeNull();
    const event = JSON.parse(posts[0]?.body ?? '');
    expect(event.data).toMatchObject({ id: accepted.id, object: 'chat.completion' });
    const job = await getJson(`${survivor.httpUrl}/v1/jobs/${accepted.id}`);
    expect(event.data.choices[0].message.content).toBe(job.body.result.choices[0].text);
  }, 180_000);
});
