import { readFileSync } from 'node:fs';
import { createDecodeSession, STRATEGY_CONTRACT, STRATEGY_KNOBS, type DecodingStrategy } from '@dfleet/decoder';
import { strategySchema } from '@dfleet/queue';
import { beforeAll, describe, expect, it } from 'vitest';
import { parseCompletionRequest } from '../src/completion-request.ts';
import { GatewayError, InvalidRequestError, ModelNotFoundError, PromptTooLongError } from '../src/errors.ts';
import { generateRequestToCompletionBody } from '../src/generate-request-body.ts';
import { loadServedModel, ModelCatalog } from '../src/model-catalog.ts';
import { FIXTURE_MODEL, FIXTURE_MODEL_DIR } from './support/test-fleet.ts';

// The fixture model: maxSequenceLength 64, defaults maxNewTokens 16 / blockLength 16.
let catalog: ModelCatalog;
beforeAll(async () => {
  catalog = new ModelCatalog([await loadServedModel(FIXTURE_MODEL_DIR)]);
});

function rejection(body: unknown, header: string | null = null): GatewayError {
  try {
    parseCompletionRequest(body, catalog, { idempotencyKeyHeader: header });
  } catch (error) {
    if (error instanceof GatewayError) return error;
    throw error;
  }
  throw new Error('expected the request to be rejected');
}

const valid = { model: FIXTURE_MODEL, prompt: 'function add(a, b) {\n' };

describe('parseCompletionRequest', () => {
  it('fills defaults from the manifest and the threshold strategy', () => {
    const request = parseCompletionRequest(valid, catalog);
    expect(request.options).toEqual({
      maxNewTokens: 16,
      blockLength: 16,
      strategy: { name: 'threshold', threshold: 0.9 },
      temperature: 0,
      seed: 0,
      stop: [],
      streamSteps: false,
    });
    expect(request.reply).toEqual({ n: 1, echo: false, stream: null });
    expect(request.priority).toBe('interactive');
    expect(request.deadlineMs).toBeNull();
    expect(request.idempotencyKey).toBeNull();
    expect(request.promptTokens).toBeGreaterThan(0);
  });

  it('maps OpenAI fields and dfleet knobs onto generation options', () => {
    const request = parseCompletionRequest(
      {
        ...valid,
        max_tokens: 12,
        temperature: 0.7,
        seed: 42,
        stop: '\n}',
        n: 1,
        user: 'someone',
        dfleet: {
          strategy: 'reference',
          steps: 6,
          remasking: 'random',
          gen_length: 12,
          block_length: 4,
          max_steps: 20,
          priority: 'batch',
          deadline_ms: 5000,
        },
      },
      catalog,
    );
    expect(request.options).toEqual({
      maxNewTokens: 12,
      blockLength: 4,
      strategy: { name: 'reference', steps: 6, remasking: 'random' },
      temperature: 0.7,
      seed: 42,
      maxSteps: 20,
      stop: ['\n}'],
      maxAnswerTokens: 12,
      streamSteps: false,
    });
    expect(request.priority).toBe('batch');
    expect(request.deadlineMs).toBe(5000);
  });

  it('treats null OpenAI fields as absent', () => {
    const request = parseCompletionRequest(
      { ...valid, max_tokens: null, stop: null, logprobs: null, suffix: null },
      catalog,
    );
    expect(request.options.maxNewTokens).toBe(16);
    expect(request.options.stop).toEqual([]);
    expect(request.options).not.toHaveProperty('logprobs');
  });

  it('names model when it is missing and lists the served models', () => {
    const error = rejection({ prompt: 'x' });
    expect(error).toBeInstanceOf(InvalidRequestError);
    expect(error.param).toBe('model');
    expect(error.message).toContain(FIXTURE_MODEL);
  });

  it('answers model_not_found (404) for an unknown model', () => {
    const error = rejection({ ...valid, model: 'gpt-4' });
    expect(error).toBeInstanceOf(ModelNotFoundError);
    expect(error.httpStatus).toBe(404);
    expect(error.code).toBe('model_not_found');
    expect(error.param).toBe('model');
  });

  it.each([
    [{ max_tokens: 0 }, 'max_tokens', 'max_tokens must be an integer between 1 and 1048576: a cap on the answer'],
    [{ max_tokens: 1_048_577 }, 'max_tokens', 'max_tokens must be an integer between 1 and 1048576'],
    [{ max_tokens: 2.5 }, 'max_tokens', 'max_tokens must be an integer between 1 and 1048576'],
    [{ max_tokens: '8' }, 'max_tokens', 'the canvas the model decodes is dfleet.gen_length, at most 63'],
    [{ dfleet: { gen_length: 64 } }, 'dfleet.gen_length', 'dfleet.gen_length must be an integer between 1 and 63'],
    [{ dfleet: { gen_length: 0 } }, 'dfleet.gen_length', 'dfleet.gen_length must be an integer between 1 and 63'],
    [{ prompt: ['a', 'b'] }, 'prompt', 'prompt must be a string'],
    [{ temperature: 3 }, 'temperature', 'temperature must be a number between 0 and 2'],
    [{ seed: -1 }, 'seed', 'seed must be an integer between 0 and 4294967295'],
    [{ stop: ['a', ''] }, 'stop', 'stop must be a non-empty string or an array of at most 8 non-empty strings'],
    [{ n: 0 }, 'n', 'n must be an integer between 1 and 8'],
    [{ n: 9 }, 'n', 'n must be an integer between 1 and 8'],
    [{ best_of: 2 }, 'best_of', 'best_of must be 1'],
    [{ stream: 'yes' }, 'stream', 'stream must be a boolean'],
    [{ echo: 1 }, 'echo', 'echo must be a boolean'],
    [{ top_p: 0.5 }, 'top_p', 'top_p must be 1'],
    [{ logprobs: 6 }, 'logprobs', 'logprobs must be null or an integer between 0 and 5'],
    [{ logprobs: true }, 'logprobs', 'logprobs must be null or an integer between 0 and 5'],
    [{ suffix: '' }, 'suffix', 'suffix must be null or a non-empty string'],
    [
      { stream: true, stream_options: { include_usage: 'yes' } },
      'stream_options.include_usage',
      'stream_options must be',
    ],
    [{ stream: true, dfleet: { stream_states: 1 } }, 'dfleet.stream_states', 'dfleet.stream_states must be a boolean'],
    [{ dfleet: 'fast' }, 'dfleet', 'dfleet must be an object'],
    [
      { dfleet: { strategy: 'greedy' } },
      'dfleet.strategy',
      'dfleet.strategy must be one of reference, threshold, factor, entropy-bounded',
    ],
    [
      { dfleet: { threshold: 1.5 } },
      'dfleet.threshold',
      'dfleet.threshold must be a number greater than 0 and at most 1',
    ],
    [{ dfleet: { strategy: 'factor', factor: 0 } }, 'dfleet.factor', 'dfleet.factor must be a positive number'],
    [{ dfleet: { strategy: 'entropy-bounded', gamma: -1 } }, 'dfleet.gamma', 'dfleet.gamma must be a number >= 0'],
    [{ dfleet: { priority: 'urgent' } }, 'dfleet.priority', 'dfleet.priority must be one of interactive, batch'],
    [{ dfleet: { deadline_ms: 0 } }, 'dfleet.deadline_ms', 'dfleet.deadline_ms must be an integer between 1 and'],
    [
      { dfleet: { remasking: 'low_confidence' } },
      'dfleet.remasking',
      'dfleet.remasking applies only to strategy reference',
    ],
    [
      { dfleet: { strategy: 'threshold', gamma: 0.1 } },
      'dfleet.gamma',
      'dfleet.gamma applies only to strategy entropy-bounded',
    ],
    [
      { dfleet: { threshold: 0 } },
      'dfleet.threshold',
      'dfleet.threshold must be a number greater than 0 and at most 1',
    ],
    // min_threshold is a floor the worker may decode with, so it has tau's range (0, 1].
    [
      { dfleet: { min_threshold: -0.1 } },
      'dfleet.min_threshold',
      'min_threshold must be a number greater than 0 and at most 1',
    ],
    [{ dfleet: { min_threshold: 0 } }, 'dfleet.min_threshold', 'at most 1, at most dfleet.threshold'],
    // LLaDA's classifier-free guidance is not supported.
    [{ dfleet: { strategy: 'reference', cfg_scale: 1 } }, 'dfleet.cfg_scale', "unknown field 'dfleet.cfg_scale'"],
    [
      { dfleet: { threshold: 0.7, min_threshold: 0.8 } },
      'dfleet.min_threshold',
      'dfleet.min_threshold (0.8) must be at most dfleet.threshold (0.7)',
    ],
    [{ dfleet: { min_threshold: 0.95 } }, 'dfleet.min_threshold', 'must be at most dfleet.threshold (0.9)'],
    [
      { dfleet: { strategy: 'factor', min_threshold: 0.5 } },
      'dfleet.min_threshold',
      'dfleet.min_threshold applies only to strategy threshold',
    ],
  ])('rejects %j naming %s', (patch, param, message) => {
    const error = rejection({ ...valid, ...patch });
    expect(error.code).toBe('invalid_request');
    expect(error.httpStatus).toBe(400);
    expect(error.param).toBe(param);
    expect(error.message).toContain(message);
  });

  it("passes dfleet.min_threshold on as the threshold strategy's floor for load-adaptive decoding", () => {
    const request = parseCompletionRequest({ ...valid, dfleet: { threshold: 0.85, min_threshold: 0.6 } }, catalog);
    expect(request.options.strategy).toEqual({ name: 'threshold', threshold: 0.85, minThreshold: 0.6 });
    const grpcBody = generateRequestToCompletionBody({
      model: FIXTURE_MODEL,
      prompt: 'x',
      stop: [],
      decoding: { strategy: '', minThreshold: 0.6 },
      idempotencyKey: '',
      priority: '',
      deadlineMs: 0,
      streamStates: false,
      suffix: '',
    });
    expect(grpcBody['dfleet']).toEqual({ min_threshold: 0.6 });
  });

  it('rejects unknown top-level fields by name and lists the allowed ones', () => {
    const error = rejection({ ...valid, temprature: 0.5 });
    expect(error.param).toBe('temprature');
    expect(error.message).toMatch(/unknown field 'temprature'; allowed fields: model, prompt, max_tokens/);
  });

  it('rejects unknown dfleet fields as dfleet.<name>', () => {
    const error = rejection({ ...valid, dfleet: { blocklength: 8 } });
    expect(error.param).toBe('dfleet.blocklength');
    expect(error.message).toContain('allowed fields of dfleet: strategy');
  });

  it('requires block_length to divide gen_length and lists the divisors', () => {
    const error = rejection({ ...valid, dfleet: { gen_length: 12, block_length: 5 } });
    expect(error.param).toBe('dfleet.block_length');
    expect(error.message).toBe('dfleet.block_length must divide dfleet.gen_length (12): one of 1, 2, 3, 4, 6, 12');
  });

  it('checks block_length against the canvas, not against max_tokens', () => {
    expect(
      parseCompletionRequest({ ...valid, max_tokens: 5, dfleet: { block_length: 8 } }, catalog).options,
    ).toMatchObject({ maxNewTokens: 16, blockLength: 8, maxAnswerTokens: 5 });
  });

  it('requires reference steps to be a multiple of the number of blocks of gen_length', () => {
    const error = rejection({
      ...valid,
      dfleet: { strategy: 'reference', gen_length: 12, block_length: 4, steps: 4 },
    });
    expect(error.param).toBe('dfleet.steps');
    expect(error.message).toBe(
      'dfleet.steps must be a multiple of 3 (dfleet.gen_length 12 / block_length 4) between 3 and 12',
    );
  });

  it('answers prompt_too_long naming the limit for this gen_length', () => {
    const error = rejection({ ...valid, prompt: 'x'.repeat(48), dfleet: { gen_length: 16 } });
    expect(error).toBeInstanceOf(PromptTooLongError);
    expect(error.param).toBe('prompt');
    expect(error.message).toContain('prompt is 48 tokens');
    expect(error.message).toContain('at most 47 prompt tokens with dfleet.gen_length 16');
  });

  it('accepts a prompt exactly at the limit, whatever max_tokens caps', () => {
    const request = parseCompletionRequest({ ...valid, prompt: 'x'.repeat(47), max_tokens: 256 }, catalog);
    expect(request.promptTokens).toBe(47);
    expect(request.options).toMatchObject({ maxNewTokens: 16, maxAnswerTokens: 256 });
  });

  it("takes a client's usual max_tokens (256, beyond any canvas) as a cap and leaves the canvas to the manifest", () => {
    const request = parseCompletionRequest({ ...valid, max_tokens: 256 }, catalog);
    expect(request.options.maxNewTokens).toBe(16);
    expect(request.options.maxAnswerTokens).toBe(256);
    expect(parseCompletionRequest(valid, catalog).options).not.toHaveProperty('maxAnswerTokens');
  });

  it('asks the job for logprobs with that many alternatives', () => {
    expect(parseCompletionRequest({ ...valid, logprobs: 3 }, catalog).options.logprobs).toBe(3);
    expect(parseCompletionRequest({ ...valid, logprobs: 0 }, catalog).options.logprobs).toBe(0);
  });

  it('refuses echo with logprobs, saying a diffusion model has no prompt log-probabilities', () => {
    const error = rejection({ ...valid, echo: true, logprobs: 1 });
    expect(error.param).toBe('echo');
    expect(error.message).toContain('no log-probabilities for prompt tokens');
    expect(parseCompletionRequest({ ...valid, echo: true }, catalog).reply.echo).toBe(true);
  });

  it('refuses suffix with suffix_not_supported on a model whose manifest does not say infill', () => {
    const error = rejection({ ...valid, suffix: '\n}' });
    expect(error.code).toBe('suffix_not_supported');
    expect(error.httpStatus).toBe(400);
    expect(error.param).toBe('suffix');
    expect(error.message).toContain('capabilities.infill');
  });

  it('reads n, stream, stream_options.include_usage and dfleet.stream_states into the reply shape', () => {
    const request = parseCompletionRequest(
      { ...valid, n: 3, stream: true, stream_options: { include_usage: true }, dfleet: { stream_states: true } },
      catalog,
    );
    expect(request.reply).toEqual({ n: 3, echo: false, stream: { includeUsage: true, states: true } });
  });

  it('refuses dfleet.stream_states and stream_options without stream: true', () => {
    const states = rejection({ ...valid, dfleet: { stream_states: true } });
    expect(states.param).toBe('dfleet.stream_states');
    expect(states.message).toContain('needs stream: true');
    const options = rejection({ ...valid, stream: false, stream_options: { include_usage: true } });
    expect(options.param).toBe('stream_options');
  });

  it('rejects a body that is not a JSON object', () => {
    expect(rejection([valid]).message).toBe('request body must be a JSON object');
    expect(rejection('hello').param).toBeNull();
  });

  it('takes the idempotency key from the header or the body, and refuses two different ones', () => {
    expect(parseCompletionRequest(valid, catalog, { idempotencyKeyHeader: 'k1' }).idempotencyKey).toBe('k1');
    expect(parseCompletionRequest({ ...valid, idempotency_key: 'k2' }, catalog).idempotencyKey).toBe('k2');
    const error = rejection({ ...valid, idempotency_key: 'k2' }, 'k1');
    expect(error.param).toBe('idempotency_key');
    expect(rejection(valid, '').param).toBe('Idempotency-Key');
  });
});

describe('generateRequestToCompletionBody', () => {
  it('drops proto3 "unset" values so defaults apply as over HTTP', () => {
    const body = generateRequestToCompletionBody({
      model: FIXTURE_MODEL,
      prompt: 'p',
      stop: [],
      decoding: { strategy: '' },
      idempotencyKey: '',
      priority: '',
      deadlineMs: 0,
      streamStates: false,
      suffix: '',
    });
    expect(body).toEqual({ model: FIXTURE_MODEL, prompt: 'p' });
  });

  it('maps every decoding knob to its HTTP name', () => {
    const body = generateRequestToCompletionBody({
      model: FIXTURE_MODEL,
      prompt: 'p',
      maxTokens: 8,
      temperature: 0.5,
      seed: 7,
      stop: ['x'],
      decoding: { strategy: 'reference', steps: 4, remasking: 'random', blockLength: 4, maxSteps: 9 },
      idempotencyKey: 'key',
      priority: 'batch',
      deadlineMs: 100,
      streamStates: false,
      suffix: '',
    });
    expect(body).toEqual({
      model: FIXTURE_MODEL,
      prompt: 'p',
      max_tokens: 8,
      temperature: 0.5,
      seed: 7,
      stop: ['x'],
      idempotency_key: 'key',
      dfleet: {
        strategy: 'reference',
        steps: 4,
        remasking: 'random',
        block_length: 4,
        max_steps: 9,
        priority: 'batch',
        deadline_ms: 100,
      },
    });
  });
});

describe('the strategy contract, derived at the gateway and the job', () => {
  /** Values around every range in the contract; steps stays <= max_tokens (16) of the fixture. */
  const probes: Record<'number' | 'enum', readonly unknown[]> = {
    number: [-1, 0, 1e-9, 0.5, 1, 1 + 1e-9, 1.5, 2, 16, Number.MAX_VALUE, '0.5', true],
    enum: ['low_confidence', 'random', 'lowest', '', 1],
  };
  // The floor needs a threshold at least as high; 1 lets every in-range floor through.
  const companions = (key: string): Record<string, unknown> =>
    key === 'minThreshold' || key === 'min_threshold' ? { threshold: 1 } : {};
  const cases = STRATEGY_KNOBS.flatMap((owned) => probes[owned.knob.kind].map((value) => [owned, value] as const));

  it.each(cases)('gateway, job and decoder agree on %o = %o', ({ strategy, key, knob }, value) => {
    const body = { ...valid, dfleet: { strategy, [knob.wireName]: value, ...companions(knob.wireName) } };
    let gateway = true;
    try {
      parseCompletionRequest(body, catalog);
    } catch (error) {
      if (!(error instanceof InvalidRequestError)) throw error;
      gateway = false;
    }
    const job = strategySchema.safeParse({ name: strategy, [key]: value, ...companions(key) }).success;
    expect(gateway).toBe(job);
    if (key === 'minThreshold') return; // the worker's floor: the decode itself reads only tau
    let decoder = true;
    try {
      const decodeStrategy = { name: strategy, [key]: value } as DecodingStrategy;
      const specialTokens = { mask: 3, eos: 2 };
      createDecodeSession({ promptIds: [], maxNewTokens: 16, strategy: decodeStrategy, specialTokens }, 8);
    } catch {
      decoder = false;
    }
    expect(decoder).toBe(job);
  });

  it('applies the same gamma default at the gateway, in the job and in the decoder', () => {
    const gamma = STRATEGY_CONTRACT['entropy-bounded'].knobs.gamma.default;
    const request = parseCompletionRequest({ ...valid, dfleet: { strategy: 'entropy-bounded' } }, catalog);
    expect(request.options.strategy).toEqual({ name: 'entropy-bounded', gamma });
    expect(strategySchema.parse({ name: 'entropy-bounded' })).toEqual({ name: 'entropy-bounded', gamma });
  });

  it('documents the numeric defaults of the contract in the gateway README', () => {
    const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');
    for (const { knob } of STRATEGY_KNOBS) {
      if (knob.kind !== 'number' || knob.default === undefined) continue;
      expect(readme).toContain(`| \`dfleet.${knob.wireName}\` | ${knob.default} |`);
    }
  });

  it('maps gen_length, logprobs and suffix onto their HTTP fields, and leaves stream_states to GenerateStream', () => {
    const body = generateRequestToCompletionBody({
      model: FIXTURE_MODEL,
      prompt: 'p',
      stop: [],
      idempotencyKey: '',
      priority: '',
      deadlineMs: 0,
      decoding: null,
      genLength: 24,
      logprobs: 2,
      streamStates: true,
      suffix: '}\n',
    });
    expect(body).toEqual({ model: FIXTURE_MODEL, prompt: 'p', logprobs: 2, suffix: '}\n', dfleet: { gen_length: 24 } });
  });

  it('maps every knob of the contract from gRPC decoding options to its HTTP name', () => {
    const proto = readFileSync(new URL('../../../protos/dfleet/v1/generation.proto', import.meta.url), 'utf8');
    const decodingOptions = /message DecodingOptions \{([^}]*)\}/.exec(proto)?.[1] ?? '';
    for (const { key, knob } of STRATEGY_KNOBS) {
      expect(decodingOptions).toMatch(new RegExp(`\\s${knob.wireName} = \\d+;`));
      const body = generateRequestToCompletionBody({
        model: FIXTURE_MODEL,
        prompt: 'p',
        stop: [],
        decoding: { strategy: '', [key]: 0.5 },
        idempotencyKey: '',
        priority: '',
        deadlineMs: 0,
        streamStates: false,
        suffix: '',
      });
      expect(body['dfleet']).toEqual({ [knob.wireName]: 0.5 });
    }
  });
});
