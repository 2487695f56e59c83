import { mkdtempSync, rmSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateApiKey, hashApiKey, writeApiKeysFile } from '@dfleet/api-keys';
import { createGenerationClient, grpc, type GenerateRequest, type GenerationServiceClient } from '@dfleet/proto';
import { TestFleet, type GatewayProcess, type WorkerProcess } from '@dfleet/test-support';

/**
 * Malformed requests against real gateway and worker processes (real Redis, real gRPC, the real
 * model): every one must get a 4xx (gRPC: a client-error status) that names the field, and no
 * process may crash or log an unexpected error. The few well-formed cases (special-token text in
 * prompts) must decode normally, with that text read as plain characters.
 */

const dir = mkdtempSync(join(tmpdir(), 'dfleet-fuzz-'));
const keysFile = join(dir, 'keys.json');
const apiKey = generateApiKey();
const fleet = new TestFleet({ env: { DFLEET_API_KEYS_FILE: keysFile, LOG_LEVEL: 'warn' } });
const SEED = 20261129;
/**
 * The largest max_tokens the gateway takes: it is a cap on the answer, not the canvas (that is
 * dfleet.gen_length, at most the model's sequence less one), so only absurd caps are refused.
 */
const MAX_TOKENS_CAP = 1_048_576;
/** The most choices (`n`) one request may ask for. */
const MAX_CHOICES = 8;

let gateway: GatewayProcess;
let worker: WorkerProcess;
let grpcClient: GenerationServiceClient;
let model: string;
let maxTokensLimit: number;

/** Outcome counts per category, printed at the end (and quoted in the notes). */
const tally = new Map<string, Map<string, number>>();
function count(category: string, outcome: string): void {
  const outcomes = tally.get(category) ?? new Map<string, number>();
  outcomes.set(outcome, (outcomes.get(outcome) ?? 0) + 1);
  tally.set(category, outcomes);
}

beforeAll(async () => {
  writeApiKeysFile(keysFile, { keys: [{ id: 'fuzz', tenant: 'fuzz', sha256: hashApiKey(apiKey), rate_limit: null }] });
  [gateway, worker] = await Promise.all([fleet.startGateway(), fleet.startWorker('fuzz-worker')]);
  grpcClient = createGenerationClient(gateway.grpcAddress);
  const models = (await (
    await fetch(`${gateway.httpUrl}/v1/models`, { headers: { authorization: `Bearer ${apiKey}` } })
  ).json()) as {
    data: { id: string; dfleet: { max_sequence_length: number } }[];
  };
  model = models.data[0]!.id;
  maxTokensLimit = models.data[0]!.dfleet.max_sequence_length - 1;
}, 120_000);

afterAll(async () => {
  grpcClient?.close();
  await fleet.close();
  rmSync(dir, { recursive: true, force: true });
  const lines = [...tally].map(
    ([category, outcomes]) => `  ${category}: ${[...outcomes].map(([o, n]) => `${o} x${n}`).join(', ')}`,
  );
  const total = [...tally.values()].reduce(
    (sum, outcomes) => sum + [...outcomes.values()].reduce((a, b) => a + b, 0),
    0,
  );
  console.log(`fuzz: ${total} requests\n${lines.join('\n')}`);
  // Now the gateway's log is complete (no line left in the pipe): still no error in it.
  expect(gateway?.log.entriesAtLeast('error')).toEqual([]);
});

interface Answer {
  status: number;
  body: { error?: { code?: string; message?: string; param?: string | null } } & Record<string, unknown>;
}

async function send(
  path: string,
  init: { method?: string; headers?: Record<string, string>; body?: string | Uint8Array },
): Promise<Answer> {
  const response = await fetch(`${gateway.httpUrl}${path}`, {
    method: init.method ?? 'POST',
    headers: { authorization: `Bearer ${apiKey}`, ...init.headers },
    ...(init.body === undefined ? {} : { body: init.body }),
  });
  const text = await response.text();
  let body: Answer['body'];
  try {
    body = JSON.parse(text) as Answer['body'];
  } catch {
    throw new Error(`HTTP ${response.status} with a body that is not JSON: ${text.slice(0, 200)}`);
  }
  return { status: response.status, body };
}

/** POST with `Expect: 100-continue`, as curl does for large bodies: the body goes only if the gateway wants it. */
function postLarge(text: string): Promise<Answer> {
  const body = Buffer.from(text);
  return new Promise((resolve, reject) => {
    const request = httpRequest(`${gateway.httpUrl}/v1/completions`, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        'content-length': body.length,
        expect: '100-continue',
        authorization: `Bearer ${apiKey}`,
      },
    });
    let answered = false;
    request.on('continue', () => request.end(body));
    request.on('response', (response) => {
      answered = true;
      let received = '';
      response.on('data', (chunk: Buffer) => (received += chunk.toString()));
      response.on('end', () =>
        resolve({ status: response.statusCode ?? 0, body: JSON.parse(received) as Answer['body'] }),
      );
    });
    request.on('error', (error) => {
      if (!answered) reject(error);
    });
  });
}

const postJson = (body: unknown, headers: Record<string, string> = {}) =>
  send('/v1/completions', { headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) });

/** A client error in the OpenAI shape with a message; `param` when the error is about one field. */
function expectClientError(category: string, answer: Answer, param: string | null, statuses: number[] = [400]): void {
  count(category, `${answer.status} ${answer.body.error?.code ?? '?'}`);
  expect(statuses, JSON.stringify(answer.body)).toContain(answer.status);
  expect(answer.body.error?.message?.length ?? 0).toBeGreaterThan(10);
  expect(answer.body.error?.param ?? null, answer.body.error?.message).toBe(param);
}

// Values of the wrong JSON type for any field.
const notANumber = fc.oneof(
  fc.string({ maxLength: 12 }),
  fc.boolean(),
  fc.array(fc.integer(), { maxLength: 3 }),
  fc.dictionary(fc.string({ maxLength: 4 }), fc.integer(), { maxKeys: 2 }),
);
const notAString = fc.oneof(
  fc.double({ noNaN: true, noDefaultInfinity: true }),
  fc.boolean(),
  fc.array(fc.string(), { maxLength: 3 }),
  fc.dictionary(fc.string({ maxLength: 4 }), fc.string(), { maxKeys: 2 }),
);
const finite = (min: number, max: number) => fc.double({ min, max, noNaN: true, noDefaultInfinity: true });
const HUGE = fc.constantFrom(1e308, -1e308, 2 ** 53 + 2, -(2 ** 63), 1e21);
const nonInteger = finite(-1e6, 1e6).filter((v) => !Number.isInteger(v));
const intBelow = (min: number) =>
  fc.oneof(
    fc.integer({ min: -2_000_000_000, max: min - 1 }),
    HUGE.filter((v) => v < min),
  );
const intAbove = (max: number) =>
  fc.oneof(
    fc.integer({ min: max + 1, max: max + 1_000_000 }),
    HUGE.filter((v) => v > max),
  );
const isOneOf = (allowed: readonly string[]) => (value: string) => !allowed.includes(value);

/** Per field: values that must be refused, each naming that field. */
function invalidValues(): Record<string, fc.Arbitrary<unknown>> {
  return {
    model: fc.oneof(
      notAString,
      fc.string({ minLength: 1, maxLength: 20 }).filter((name) => name !== model),
    ),
    prompt: fc.oneof(
      fc.oneof(
        fc.double({ noNaN: true, noDefaultInfinity: true }),
        fc.boolean(),
        fc.constant(null),
        fc.dictionary(fc.string({ maxLength: 4 }), fc.string(), { maxKeys: 2 }),
      ),
      // Arrays are batches: empty, over DFLEET_MAX_BATCH_PROMPTS (32), or with a non-string.
      fc.constant([]),
      fc.array(fc.string({ maxLength: 3 }), { minLength: 33, maxLength: 40 }),
      fc
        .tuple(
          fc.array(fc.string({ maxLength: 3 }), { maxLength: 3 }),
          fc.oneof(fc.integer(), fc.boolean(), fc.constant(null)),
        )
        .map(([texts, bad]) => [...texts, bad]),
    ),
    max_tokens: fc.oneof(notANumber, intBelow(1), intAbove(MAX_TOKENS_CAP), nonInteger),
    temperature: fc.oneof(notANumber, finite(-1e308, -1e-9), finite(2.000001, 1e308)),
    seed: fc.oneof(notANumber, intBelow(0), intAbove(4_294_967_295), nonInteger),
    stop: fc.oneof(
      fc.constant(''),
      fc.array(fc.string({ minLength: 1, maxLength: 3 }), { minLength: 9, maxLength: 20 }),
      fc
        .array(fc.oneof(fc.constant(''), fc.integer()), { minLength: 1, maxLength: 3 })
        .filter((items) => items.some((item) => item === '' || typeof item === 'number')),
      fc.integer(),
      fc.dictionary(fc.string({ maxLength: 3 }), fc.string(), { maxKeys: 2 }),
    ),
    // n is 1 to MAX_CHOICES (one job per choice); stream is a boolean, true streaming.
    n: fc.oneof(notANumber, intBelow(1), intAbove(MAX_CHOICES), nonInteger),
    stream: fc.oneof(fc.integer(), fc.string()),
    top_p: fc.oneof(
      notANumber,
      finite(-10, 10).filter((v) => v !== 1),
    ),
    idempotency_key: fc.oneof(
      fc.constant(''),
      fc.string({ minLength: 257, maxLength: 400 }),
      fc.integer(),
      fc.boolean(),
    ),
    'dfleet.strategy': fc.oneof(
      fc.string({ maxLength: 20 }).filter(isOneOf(['reference', 'threshold', 'factor', 'entropy-bounded'])),
      notAString,
    ),
    'dfleet.threshold': fc.oneof(notANumber, finite(-1e308, 0), finite(1.000001, 1e308)),
    'dfleet.min_threshold': fc.oneof(notANumber, finite(-1e308, -1e-9), finite(1.000001, 1e308)),
    // With an 8-token canvas (dfleet.gen_length 8) in one block, 1 to 8 steps are valid; more are not.
    'dfleet.steps': fc.oneof(notANumber, intBelow(1), nonInteger, fc.integer({ min: 9, max: 100 })),
    'dfleet.factor': fc.oneof(notANumber, finite(-1e308, 0)),
    'dfleet.gamma': fc.oneof(notANumber, finite(-1e308, -1e-9)),
    'dfleet.block_length': fc.oneof(
      notANumber,
      intBelow(1),
      intAbove(maxTokensLimit),
      nonInteger,
      fc.constantFrom(3, 5, 7),
    ),
    'dfleet.max_steps': fc.oneof(notANumber, intBelow(1), intAbove(1_000_000), nonInteger),
    'dfleet.priority': fc.oneof(fc.string({ maxLength: 12 }).filter(isOneOf(['interactive', 'batch'])), notAString),
    'dfleet.remasking': fc.oneof(
      fc.string({ maxLength: 12 }).filter(isOneOf(['low_confidence', 'random'])),
      notAString,
    ),
    'dfleet.deadline_ms': fc.oneof(notANumber, intBelow(1), intAbove(86_400_000), nonInteger),
    // undefined would vanish from the JSON and leave a valid body.
    'dfleet.unknown_knob': fc.anything().filter((value) => value !== undefined),
    unknown_field: fc.anything().filter((value) => value !== undefined),
  };
}

/** A well-formed body with `field` (a.b for nested) set to `value`. */
function bodyWith(field: string, value: unknown): Record<string, unknown> {
  const canvas = { gen_length: 8 };
  const body: Record<string, unknown> = { model, prompt: 'function f(x) {\n', max_tokens: 8, dfleet: canvas };
  const [head, tail] = field.split('.') as [string, string | undefined];
  if (tail === undefined) body[head] = value;
  else
    body[head] = {
      ...canvas,
      ...(tail === 'steps' || tail === 'remasking' ? { strategy: 'reference' } : {}),
      [tail]: value,
    };
  // The 8-token canvas has divisors 1, 2, 4, 8: 3, 5, 7 are valid block lengths of nothing.
  return body;
}

describe('malformed requests against a running fleet', () => {
  it('answers every malformed HTTP request with a 4xx naming the field, and keeps serving', async () => {
    // 1. One field wrong at a time, over every field (600 cases).
    const fields = invalidValues();
    await fc.assert(
      fc.asyncProperty(
        fc
          .constantFrom(...Object.keys(fields))
          .chain((field) => fields[field]!.map((value) => [field, value] as const)),
        async ([field, value]) => {
          const badPrompt =
            field === 'prompt' && Array.isArray(value) ? value.findIndex((item) => typeof item !== 'string') : -1;
          const expectedParam = badPrompt >= 0 ? `prompt.${badPrompt}` : field;
          const statuses = field === 'model' && typeof value === 'string' ? [404] : [400];
          expectClientError('one bad field', await postJson(bodyWith(field, value)), expectedParam, statuses);
        },
      ),
      { numRuns: 600, seed: SEED },
    );

    // 2. Bodies that are not a JSON object: NaN/Infinity literals, cut JSON, arbitrary text, other JSON values (150).
    const good = JSON.stringify({ model, prompt: 'function f(x) {\n', max_tokens: 8 });
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(
          fc
            .constantFrom('NaN', 'Infinity', '-Infinity', '1e999999')
            .map((literal) => good.replace('"max_tokens":8', `"max_tokens":${literal}`)),
          fc.integer({ min: 1, max: good.length - 1 }).map((cut) => good.slice(0, cut)),
          fc.string({ unit: 'binary', maxLength: 60 }).filter((text) => !/^\s*\{/.test(text)),
          fc
            .oneof(fc.array(fc.integer()), fc.integer(), fc.constant(null), fc.string())
            .map((value) => JSON.stringify(value)),
        ),
        async (text) => {
          const answer = await send('/v1/completions', { headers: { 'content-type': 'application/json' }, body: text });
          // '1e999999' parses (to Infinity in JSON.parse? no: JSON.parse gives Infinity for 1e999999) and then fails on max_tokens.
          const param = answer.body.error?.param ?? null;
          expectClientError('not a JSON object', answer, param === 'max_tokens' ? 'max_tokens' : null);
          if (param === null) expect(answer.body.error?.message).toMatch(/request body/);
        },
      ),
      { numRuns: 150, seed: SEED },
    );

    // 3. Invalid UTF-8 inside an otherwise valid body (60).
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom([0xff], [0xc3, 0x28], [0xed, 0xa0, 0x80], [0xf8, 0x88, 0x80, 0x80, 0x80], [0xe2, 0x82], [0x80]),
        fc.integer({ min: 0, max: 10 }),
        async (bad, at) => {
          const [before, after] = [`{"model":"${model}","prompt":"function f(x) {`, '\\n","max_tokens":8}'];
          const bytes = Buffer.concat([Buffer.from(before + 'x'.repeat(at)), Buffer.from(bad), Buffer.from(after)]);
          const answer = await send('/v1/completions', {
            headers: { 'content-type': 'application/json' },
            body: new Uint8Array(bytes),
          });
          expectClientError('invalid UTF-8', answer, null);
          expect(answer.body.error?.message).toContain('not valid UTF-8');
        },
      ),
      { numRuns: 60, seed: SEED },
    );

    // 4. Wrong or missing content types (60).
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom(
          'text/plain',
          'application/x-www-form-urlencoded',
          'multipart/form-data; boundary=x',
          'application/xml',
          'application/json; charset=latin1',
          'application/json; charset=utf-16',
          null,
        ),
        async (contentType) => {
          const bytes = new Uint8Array(Buffer.from(good));
          const answer = await send('/v1/completions', {
            ...(contentType === null ? {} : { headers: { 'content-type': contentType } }),
            body: bytes,
          });
          expectClientError('wrong content type', answer, null, [415]);
          expect(answer.body.error?.message).toMatch(/Content-Type/);
        },
      ),
      { numRuns: 60, seed: SEED },
    );

    // 5. Too large: 10 MB and 2 MB bodies (413), a 200,000-character prompt within the body limit (400).
    for (const megabytes of [10, 10, 2]) {
      const answer = await postLarge(JSON.stringify({ model, prompt: 'x'.repeat(megabytes * 1_048_576) }));
      expectClientError('too large', answer, null, [413]);
      expect(answer.body.error?.message).toContain('request body is larger than 1048576 bytes');
    }
    // A client that streams 10 MB without waiting for 100-continue meets a closed connection
    // after the 413 (the gateway will not read 10 MB it refuses); the gateway itself is unharmed.
    await fetch(`${gateway.httpUrl}/v1/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: 'x'.repeat(10 * 1_048_576),
    }).catch(() => undefined);
    count('too large', 'naive 10 MB upload: connection closed');
    expectClientError('too large', await postJson({ model, prompt: 'x'.repeat(200_000) }), 'prompt');

    // 6. Keys: none, unknown, not a bearer token (50).
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(
          fc.constant(''),
          fc.constant(`Bearer ${generateApiKey()}`),
          fc.string({
            minLength: 1,
            maxLength: 80,
            unit: fc.integer({ min: 0x21, max: 0x7e }).map((c) => String.fromCharCode(c)),
          }),
        ),
        async (authorization) => {
          const answer = await send('/v1/completions', {
            headers: { 'content-type': 'application/json', authorization },
            body: good,
          });
          expectClientError('bad API key', answer, 'authorization', [401]);
        },
      ),
      { numRuns: 50, seed: SEED },
    );

    // 7. Job ids that are malformed or unknown, to read and to cancel (100).
    await fc.assert(
      fc.asyncProperty(
        fc.string({ minLength: 1, maxLength: 300 }),
        fc.constantFrom('GET', 'DELETE'),
        async (id, method) => {
          const answer = await send(`/v1/jobs/${encodeURIComponent(id)}`, { method });
          expectClientError('bad job id', answer, 'id', [400, 404]);
        },
      ),
      { numRuns: 100, seed: SEED },
    );

    // 8. Headers: an idempotency key too long, a tenant that is not the key's (20).
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(
          fc
            .string({ minLength: 257, maxLength: 300, unit: fc.constantFrom('a', 'b', '-') })
            .map((v) => ['idempotency-key', v, 'Idempotency-Key', 400] as const),
          fc
            .stringMatching(/^[a-z]{1,20}$/)
            .filter((t) => t !== 'fuzz')
            .map((v) => ['x-dfleet-tenant', v, 'x-dfleet-tenant', 403] as const),
        ),
        async ([header, value, param, status]) => {
          const answer = await send('/v1/completions', {
            headers: { 'content-type': 'application/json', [header]: value },
            body: good,
          });
          expectClientError('bad header', answer, param, [status]);
        },
      ),
      { numRuns: 20, seed: SEED },
    );

    // 9. Special-token text in prompts is plain text: it decodes normally (30).
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.constantFrom('<|eos|>', '<|mask|>', '<|pad|>', '<|bos|>', '<|unk|>', '<|endoftext|>', '[MASK]'), {
          minLength: 1,
          maxLength: 3,
        }),
        async (specials) => {
          const prompt = `// ${specials.join(' ')}\nfunction f(x) {\n`;
          const answer = await postJson({ model, prompt, max_tokens: 8 });
          count('special-token prompt', String(answer.status));
          expect(answer.status, JSON.stringify(answer.body)).toBe(200);
          // One token per character (plus bos at most): no special-token text collapsed into one id.
          expect((answer.body['usage'] as { prompt_tokens: number }).prompt_tokens).toBeGreaterThanOrEqual(
            prompt.length,
          );
        },
      ),
      { numRuns: 30, seed: SEED },
    );

    expect(gateway.process.child.exitCode).toBeNull();
    expect(worker.process.child.exitCode).toBeNull();
    expect(gateway.log.entriesAtLeast('error')).toEqual([]);
    expect((await postJson({ model, prompt: 'function f(x) {\n', max_tokens: 8 })).status).toBe(200);
  }, 300_000);

  it('answers every malformed gRPC request with a client-error status naming the field, and keeps serving', async () => {
    const withKey = () => {
      const metadata = new grpc.Metadata();
      metadata.set('authorization', `Bearer ${apiKey}`);
      return metadata;
    };
    const generate = (request: GenerateRequest, metadata = withKey()) =>
      new Promise<grpc.ServiceError | null>((resolve) =>
        grpcClient.Generate(request, metadata, (error) => resolve(error)),
      );
    const base: GenerateRequest = { model, prompt: 'function f(x) {\n', maxTokens: 8, genLength: 8 };
    const special = fc.constantFrom(Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY);
    const cases: Record<string, fc.Arbitrary<GenerateRequest>> = {
      model: fc
        .string({ maxLength: 20 })
        .filter((name) => name !== model)
        .map((name) => ({ ...base, model: name })),
      max_tokens: fc
        .oneof(fc.constant(0), fc.integer({ min: MAX_TOKENS_CAP + 1, max: 4_294_967_295 }))
        .map((maxTokens) => ({ ...base, maxTokens })),
      temperature: fc
        .oneof(special, finite(-1e308, -1e-9), finite(2.000001, 1e308))
        .map((temperature) => ({ ...base, temperature })),
      stop: fc.array(fc.constant(''), { minLength: 1, maxLength: 3 }).map((stop) => ({ ...base, stop })),
      'dfleet.strategy': fc
        .string({ minLength: 1, maxLength: 20 })
        .filter(isOneOf(['reference', 'threshold', 'factor', 'entropy-bounded']))
        .map((strategy) => ({ ...base, decoding: { strategy } })),
      'dfleet.threshold': fc
        .oneof(special, finite(-1e308, 0), finite(1.000001, 1e308))
        .map((threshold) => ({ ...base, decoding: { threshold } })),
      'dfleet.factor': fc
        .oneof(special, finite(-1e308, 0))
        .map((factor) => ({ ...base, decoding: { strategy: 'factor', factor } })),
      'dfleet.gamma': fc
        .oneof(special, finite(-1e308, -1e-9))
        .map((gamma) => ({ ...base, decoding: { strategy: 'entropy-bounded', gamma } })),
      'dfleet.block_length': fc
        .constantFrom(3, 5, 7, 9, 1000)
        .map((blockLength) => ({ ...base, decoding: { blockLength } })),
      'dfleet.priority': fc
        .string({ minLength: 1, maxLength: 12 })
        .filter(isOneOf(['interactive', 'batch']))
        .map((priority) => ({ ...base, priority })),
      'dfleet.deadline_ms': fc
        .integer({ min: 86_400_001, max: 4_294_967_295 })
        .map((deadlineMs) => ({ ...base, deadlineMs })),
      idempotency_key: fc
        .string({ minLength: 257, maxLength: 300 })
        .map((idempotencyKey) => ({ ...base, idempotencyKey })),
    };
    await fc.assert(
      fc.asyncProperty(
        fc
          .constantFrom(...Object.keys(cases))
          .chain((field) => cases[field]!.map((request) => [field, request] as const)),
        async ([field, request]) => {
          const error = await generate(request);
          count('gRPC one bad field', error ? grpc.status[error.code] : 'OK');
          expect(error?.code).toBe(
            field === 'model' && request.model !== '' ? grpc.status.NOT_FOUND : grpc.status.INVALID_ARGUMENT,
          );
          expect(error?.metadata.get('dfleet-error-param')).toEqual([field]);
        },
      ),
      { numRuns: 200, seed: SEED },
    );

    // Bytes that are not a GenerateRequest / GetJobRequest / CancelJobRequest (100).
    const raw = new grpc.Client(gateway.grpcAddress, grpc.credentials.createInsecure());
    try {
      await fc.assert(
        fc.asyncProperty(
          fc.uint8Array({ minLength: 1, maxLength: 200 }),
          fc.constantFrom('Generate', 'GetJob', 'CancelJob'),
          async (bytes, method) => {
            const error = await new Promise<grpc.ServiceError | null>((resolve) =>
              raw.makeUnaryRequest(
                `/dfleet.v1.GenerationService/${method}`,
                (b: Buffer) => b,
                (b: Buffer) => b,
                Buffer.from(bytes),
                withKey(),
                (e) => resolve(e),
              ),
            );
            count('gRPC garbage bytes', error ? grpc.status[error.code] : 'OK');
            expect([grpc.status.INVALID_ARGUMENT, grpc.status.NOT_FOUND], error?.details).toContain(error?.code);
          },
        ),
        { numRuns: 100, seed: SEED },
      );
    } finally {
      raw.close();
    }

    // No key, and a message over the size limit.
    for (let i = 0; i < 10; i += 1) {
      const error = await generate(base, new grpc.Metadata());
      count('gRPC no key', error ? grpc.status[error.code] : 'OK');
      expect(error?.code).toBe(grpc.status.UNAUTHENTICATED);
      expect(error?.metadata.get('dfleet-error-param')).toEqual(['authorization']);
    }
    const oversized = await generate({ ...base, prompt: 'x'.repeat(2 * 1_048_576) });
    count('gRPC oversized', oversized ? grpc.status[oversized.code] : 'OK');
    expect(oversized?.code).toBe(grpc.status.RESOURCE_EXHAUSTED);

    expect(gateway.process.child.exitCode).toBeNull();
    expect(gateway.log.entriesAtLeast('error')).toEqual([]);
    expect(await generate(base)).toBeNull();
  }, 300_000);
});
