import { randomBytes } from 'node:crypto';
import { Webhook, WebhookVerificationError } from 'standardwebhooks';
import { describe, expect, it } from 'vitest';
import { signWebhook, webhookKeyOf } from '../src/webhooks/webhook-signature.ts';

const secret = `whsec_${randomBytes(32).toString('base64')}`;
const key = (webhookKeyOf(secret) as { key: Buffer }).key;
const nowSeconds = () => Math.floor(Date.now() / 1_000);
const body = JSON.stringify({ id: 'evt_cmpl-1', object: 'event', type: 'completion.completed', data: { text: 'é ✓' } });

/** The reference implementation's check: the payload back, or the error it throws. */
function verify(payload: string, headers: Record<string, string>): unknown {
  return new Webhook(secret).verify(payload, headers);
}

describe('signWebhook', () => {
  it('signs so that the standardwebhooks reference implementation verifies the body', () => {
    const headers = signWebhook(key, { id: 'evt_cmpl-1', timestampSeconds: nowSeconds(), body });
    expect(headers['webhook-signature']).toMatch(/^v1,[A-Za-z0-9+/]+=*$/);
    expect(verify(body, { ...headers })).toEqual(JSON.parse(body));
  });

  it('fails verification when the body was changed by one character', () => {
    const headers = signWebhook(key, { id: 'evt_cmpl-1', timestampSeconds: nowSeconds(), body });
    expect(() => verify(body.replace('✓', '✗'), { ...headers })).toThrow(WebhookVerificationError);
  });

  it('fails verification when the timestamp or the id was changed', () => {
    const timestampSeconds = nowSeconds();
    const headers = signWebhook(key, { id: 'evt_cmpl-1', timestampSeconds, body });
    expect(() => verify(body, { ...headers, 'webhook-timestamp': String(timestampSeconds + 1) })).toThrow(
      WebhookVerificationError,
    );
    expect(() => verify(body, { ...headers, 'webhook-id': 'evt_cmpl-2' })).toThrow(WebhookVerificationError);
  });

  it('is refused by the reference once older than its five-minute tolerance', () => {
    const headers = signWebhook(key, { id: 'evt_cmpl-1', timestampSeconds: nowSeconds() - 6 * 60, body });
    expect(() => verify(body, { ...headers })).toThrow(/too old/i);
  });

  it('does not verify under another secret', () => {
    const other = `whsec_${randomBytes(32).toString('base64')}`;
    const headers = signWebhook(key, { id: 'evt_cmpl-1', timestampSeconds: nowSeconds(), body });
    expect(() => new Webhook(other).verify(body, { ...headers })).toThrow(WebhookVerificationError);
  });
});

describe('webhookKeyOf', () => {
  it('decodes the base64 after whsec_', () => {
    const raw = randomBytes(24);
    expect(webhookKeyOf(`whsec_${raw.toString('base64')}`)).toEqual({ key: raw });
  });

  it.each([
    ['no prefix', randomBytes(32).toString('base64'), /must start with whsec_/],
    ['not base64', 'whsec_not base64!', /followed by base64/],
    ['a short key', `whsec_${randomBytes(8).toString('base64')}`, /24 to 64 random bytes, not 8/],
  ])('refuses %s, saying why', (_, value, reason) => {
    const parsed = webhookKeyOf(value);
    expect('problem' in parsed && parsed.problem).toMatch(reason);
  });
});
