import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_MODEL_DIR } from '@dfleet/model';
import { deletePrefix, uniquePrefix } from '@dfleet/test-support';
import OpenAI from 'openai';
import type { RunningGateway } from '../src/gateway.ts';
import { heldoutPrompt } from './support/heldout.ts';
import { FIXTURE_MODEL, startTestGateway } from './support/test-fleet.ts';
import { sdkError } from './support/sdk-error.ts';

// Gateways without a worker: everything here is answered before a job would be enqueued.
const prefix = uniquePrefix();
let withCors: RunningGateway;
let withoutCors: RunningGateway;
let shipped: RunningGateway;

beforeAll(async () => {
  [withCors, withoutCors, shipped] = await Promise.all([
    startTestGateway(prefix, { DFLEET_CORS_ORIGINS: 'https://app.example.com,http://localhost:3000' }),
    startTestGateway(prefix),
    startTestGateway(prefix, { DFLEET_MODEL_DIR: DEFAULT_MODEL_DIR }),
  ]);
});

afterAll(async () => {
  await Promise.all([withCors, withoutCors, shipped].map((gateway) => gateway?.close(1_000)));
  await deletePrefix(prefix);
});

const client = (gateway: RunningGateway) =>
  new OpenAI({ baseURL: `${gateway.httpUrl}/v1`, apiKey: 'not-checked', maxRetries: 0 });

describe('CORS', () => {
  it('answers a preflight from a listed origin, allowing the API methods, and exposes x-request-id', async () => {
    const response = await fetch(`${withCors.httpUrl}/v1/chat/completions`, {
      method: 'OPTIONS',
      headers: {
        origin: 'https://app.example.com',
        'access-control-request-method': 'POST',
        'access-control-request-headers': 'content-type,authorization',
      },
    });
    expect(response.status).toBe(204);
    expect(response.headers.get('access-control-allow-origin')).toBe('https://app.example.com');
    expect(response.headers.get('access-control-allow-methods')).toContain('POST');
    const refused = await fetch(`${withCors.httpUrl}/v1/completions`, {
      method: 'POST',
      headers: { origin: 'http://localhost:3000', 'content-type': 'application/json' },
      body: JSON.stringify({ model: FIXTURE_MODEL, prompt: 'x', max_tokens: 0 }),
    });
    expect(refused.status).toBe(400);
    expect(refused.headers.get('access-control-allow-origin')).toBe('http://localhost:3000');
    expect(refused.headers.get('access-control-expose-headers')).toContain('x-request-id');
  });

  it('sends no CORS headers to an origin that is not listed', async () => {
    const response = await fetch(`${withCors.httpUrl}/v1/models`, { headers: { origin: 'https://evil.example' } });
    expect(response.status).toBe(200);
    expect(response.headers.get('access-control-allow-origin')).toBeNull();
  });

  it('is off by default: no CORS headers, and a preflight is not answered as one', async () => {
    const response = await fetch(`${withoutCors.httpUrl}/v1/models`, {
      headers: { origin: 'https://app.example.com' },
    });
    expect(response.headers.get('access-control-allow-origin')).toBeNull();
    const preflight = await fetch(`${withoutCors.httpUrl}/v1/completions`, {
      method: 'OPTIONS',
      headers: { origin: 'https://app.example.com', 'access-control-request-method': 'POST' },
    });
    expect(preflight.status).toBe(404);
    expect(preflight.headers.get('access-control-allow-origin')).toBeNull();
  });
});

describe('x-request-id', () => {
  it('is on a 400 and a 404, and is the one the client sent when that is a plain token', async () => {
    const invalid = await fetch(`${withoutCors.httpUrl}/v1/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-request-id': 'client-trace.42' },
      body: JSON.stringify({ model: FIXTURE_MODEL, prompt: 'x', n: 0 }),
    });
    expect(invalid.status).toBe(400);
    expect(invalid.headers.get('x-request-id')).toBe('client-trace.42');
    const unknownRoute = await fetch(`${withoutCors.httpUrl}/v2/anything`);
    expect(unknownRoute.status).toBe(404);
    expect(unknownRoute.headers.get('x-request-id')).toMatch(/^req-[0-9a-f-]{36}$/);
  });

  it('replaces an incoming id that is not a plain token with a new one', async () => {
    const response = await fetch(`${withoutCors.httpUrl}/v1/models`, {
      headers: { 'x-request-id': 'a b\u00e9<script>' },
    });
    expect(response.headers.get('x-request-id')).toMatch(/^req-/);
  });

  it("reaches the SDK's typed errors as requestID", async () => {
    const error = await sdkError(
      client(withoutCors).completions.create({ model: FIXTURE_MODEL, prompt: 'x', max_tokens: 0 }),
    );
    expect(error).toBeInstanceOf(OpenAI.BadRequestError);
    expect(error.param).toBe('max_tokens');
    expect(error.requestID).toMatch(/^req-/);
  });
});

describe('chat refusals', () => {
  it('answers chat_not_supported, naming the fix, for a model directory without a chat template', async () => {
    const error = await sdkError(
      client(withoutCors).chat.completions.create({ model: FIXTURE_MODEL, messages: [{ role: 'user', content: 'x' }] }),
    );
    expect(error).toBeInstanceOf(OpenAI.BadRequestError);
    expect(error.code).toBe('chat_not_supported');
    expect(error.message).toContain('add a Jinja "chat_template" to tokenizer_config.json');
  });

  it('names the message field it refuses, as the SDK reports it', async () => {
    const error = await sdkError(
      client(shipped).chat.completions.create({
        model: 'jsfunc-mdm',
        messages: [{ role: 'tool', content: 'x', tool_call_id: 'c1' }],
      }),
    );
    expect(error).toBeInstanceOf(OpenAI.BadRequestError);
    expect(error.param).toBe('messages.0.role');
  });

  it('refuses suffix on the shipped model with suffix_not_supported, before any job', async () => {
    const error = await sdkError(
      client(shipped).completions.create({ model: 'jsfunc-mdm', prompt: heldoutPrompt(0), suffix: '\n}' }),
    );
    expect(error).toBeInstanceOf(OpenAI.BadRequestError);
    expect(error.code).toBe('suffix_not_supported');
    expect(error.param).toBe('suffix');
  });

  it('refuses a streaming request before the stream opens, as a JSON error the SDK throws', async () => {
    const error = await sdkError(
      client(shipped).completions.create({
        model: 'jsfunc-mdm',
        prompt: heldoutPrompt(0),
        stream: true,
        echo: true,
        logprobs: 1,
      }),
    );
    expect(error).toBeInstanceOf(OpenAI.BadRequestError);
    expect(error.param).toBe('echo');
    expect(error.message).toContain('no log-probabilities for prompt tokens');
  });
});
