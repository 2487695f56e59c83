import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { EnvConfigError } from '@dfleet/env-config';
import { loadGatewayConfig } from '../src/config.ts';

describe('the webhook settings of the gateway config', () => {
  it('are off without DFLEET_WEBHOOK_SECRET', () => {
    expect(loadGatewayConfig({}).webhooks).toBeNull();
  });

  it('decode the secret and apply the documented defaults', () => {
    const raw = randomBytes(32);
    expect(loadGatewayConfig({ DFLEET_WEBHOOK_SECRET: `whsec_${raw.toString('base64')}` }).webhooks).toEqual({
      key: raw,
      hostPolicy: { kind: 'public' },
      timeoutMs: 10_000,
      attempts: 8,
      backoffMs: 5_000,
    });
  });

  it('read the allowed hosts', () => {
    const config = loadGatewayConfig({
      DFLEET_WEBHOOK_SECRET: `whsec_${randomBytes(32).toString('base64')}`,
      DFLEET_WEBHOOK_ALLOWED_HOSTS: 'hooks.example.com, *.example.org',
    });
    expect(config.webhooks?.hostPolicy).toEqual({ kind: 'listed', patterns: ['hooks.example.com', '*.example.org'] });
  });

  it('refuse a secret that is not a Standard Webhooks one, naming the variable and the fix', () => {
    const load = () => loadGatewayConfig({ DFLEET_WEBHOOK_SECRET: 'hunter2' });
    expect(load).toThrow(EnvConfigError);
    expect(load).toThrow(/DFLEET_WEBHOOK_SECRET.*must start with whsec_/s);
  });
});
