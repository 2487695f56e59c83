import { z } from 'zod';
import type { GenerationOptions, PriorityClass, StrategyOptions } from '@dfleet/queue';
import { InvalidRequestError, PromptTooLongError } from './errors.ts';
import type { ModelCatalog, ServedModel } from './model-catalog.ts';

export const STRATEGY_NAMES = ['reference', 'threshold', 'factor', 'entropy-bounded'] as const;
type StrategyName = (typeof STRATEGY_NAMES)[number];

/**
 * Knob values used when a request names a strategy but not its knob.
 * threshold 0.9 is Fast-dLLM's confidence threshold; factor 1 is its factor-based default.
 */
export const STRATEGY_DEFAULTS = { strategy: 'threshold', threshold: 0.9, factor: 1, gamma: 0.01 } as const;

/** Which strategy each strategy-specific knob belongs to; a knob sent with another strategy is a 400. */
const KNOB_OWNER = {
  steps: 'reference',
  remasking: 'reference',
  threshold: 'threshold',
  min_threshold: 'threshold',
  factor: 'factor',
  gamma: 'entropy-bounded',
} as const satisfies Record<string, StrategyName>;

const MAX_STOP_SEQUENCES = 8;
const MAX_SEED = 4_294_967_295; // uint32 on the gRPC side
const MAX_DEADLINE_MS = 86_400_000;
const MAX_STEPS_LIMIT = 1_000_000;

/** The validated request both front doors (HTTP and gRPC) hand to the job submitter. */
export interface CompletionRequest {
  model: ServedModel;
  prompt: string;
  promptTokens: number;
  options: Omit<GenerationOptions, 'deadlineAt'>;
  priority: PriorityClass;
  /** Milliseconds from acceptance after which the worker stops decoding; null = none. */
  deadlineMs: number | null;
  idempotencyKey: string | null;
  /** The gateway made the key up (one prompt of a batch sent without a key): no earlier job can hold it. */
  idempotencyKeyIsFresh?: boolean;
}

const IDEMPOTENCY_KEY_RULE = 'must be a string of 1 to 256 characters';
const idempotencyKeySchema = z.string().min(1).max(256);

/** One message per field, so every failure of a field names it and says what is allowed. */
function bodySchemaFor(model: ServedModel) {
  const maxTokensLimit = model.maxSequenceLength - 1;
  const m = {
    prompt: 'prompt must be a string, or an array of strings (token ids are not supported)',
    max_tokens: `max_tokens must be an integer between 1 and ${maxTokensLimit}`,
    temperature: 'temperature must be a number between 0 and 2',
    seed: `seed must be an integer between 0 and ${MAX_SEED}`,
    stop: `stop must be a non-empty string or an array of at most ${MAX_STOP_SEQUENCES} non-empty strings`,
    n: 'n must be 1 (one completion per request)',
    best_of: 'best_of must be 1 (one completion per request)',
    stream: 'stream must be false (streaming is not supported)',
    echo: 'echo must be false (the prompt is not echoed)',
    logprobs: 'logprobs must be null (log probabilities are not returned)',
    top_p: 'top_p must be 1 (nucleus sampling is not supported; use temperature)',
    presence_penalty: 'presence_penalty must be 0 (penalties are not supported)',
    frequency_penalty: 'frequency_penalty must be 0 (penalties are not supported)',
    logit_bias: 'logit_bias must be null or {} (logit bias is not supported)',
    suffix: 'suffix must be null (insertion is not supported)',
    user: 'user must be a string',
    idempotency_key: `idempotency_key ${IDEMPOTENCY_KEY_RULE}`,
    dfleet: 'dfleet must be an object',
    strategy: `dfleet.strategy must be one of ${STRATEGY_NAMES.join(', ')}`,
    steps: 'dfleet.steps must be a positive integer',
    remasking: 'dfleet.remasking must be one of low_confidence, random',
    threshold: 'dfleet.threshold must be a number greater than 0 and at most 1',
    min_threshold: 'dfleet.min_threshold must be a number between 0 and 1, at most dfleet.threshold',
    factor: 'dfleet.factor must be a positive number',
    gamma: 'dfleet.gamma must be a number >= 0',
    block_length: 'dfleet.block_length must be a positive integer that divides max_tokens',
    max_steps: `dfleet.max_steps must be an integer between 1 and ${MAX_STEPS_LIMIT}`,
    priority: 'dfleet.priority must be one of interactive, batch',
    deadline_ms: `dfleet.deadline_ms must be an integer between 1 and ${MAX_DEADLINE_MS}`,
  };
  const int = (message: string, min: number, max: number) =>
    z.int({ error: message }).min(min, { error: message }).max(max, { error: message });
  const number = (message: string) => z.number({ error: message }).refine(Number.isFinite, { error: message });
  const only = <T extends number | boolean>(value: T, message: string) => z.literal(value, { error: message });

  const dfleetSchema = z.strictObject(
    {
      strategy: z.enum(STRATEGY_NAMES, { error: m.strategy }).nullish(),
      steps: int(m.steps, 1, MAX_STEPS_LIMIT).nullish(),
      remasking: z.enum(['low_confidence', 'random'], { error: m.remasking }).nullish(),
      threshold: number(m.threshold).refine((v) => v > 0 && v <= 1, { error: m.threshold }).nullish(),
      min_threshold: number(m.min_threshold).refine((v) => v >= 0 && v <= 1, { error: m.min_threshold }).nullish(),
      factor: number(m.factor).refine((v) => v > 0, { error: m.factor }).nullish(),
      gamma: number(m.gamma).refine((v) => v >= 0, { error: m.gamma }).nullish(),
      block_length: int(m.block_length, 1, maxTokensLimit).nullish(),
      max_steps: int(m.max_steps, 1, MAX_STEPS_LIMIT).nullish(),
      priority: z.enum(['interactive', 'batch'], { error: m.priority }).nullish(),
      deadline_ms: int(m.deadline_ms, 1, MAX_DEADLINE_MS).nullish(),
    },
    { error: m.dfleet },
  );

  return z.strictObject({
    model: z.string(),
    prompt: z.string({ error: m.prompt }),
    max_tokens: int(m.max_tokens, 1, maxTokensLimit).nullish(),
    temperature: number(m.temperature).refine((v) => v >= 0 && v <= 2, { error: m.temperature }).nullish(),
    seed: int(m.seed, 0, MAX_SEED).nullish(),
    stop: z
      .union(
        [
          z.string().min(1, { error: m.stop }),
          z.array(z.string({ error: m.stop }).min(1, { error: m.stop })).max(MAX_STOP_SEQUENCES, { error: m.stop }),
        ],
        { error: m.stop },
      )
      .nullish(),
    n: only(1, m.n).nullish(),
    best_of: only(1, m.best_of).nullish(),
    stream: only(false, m.stream).nullish(),
    echo: only(false, m.echo).nullish(),
    logprobs: z.null({ error: m.logprobs }).optional(),
    top_p: only(1, m.top_p).nullish(),
    presence_penalty: only(0, m.presence_penalty).nullish(),
    frequency_penalty: only(0, m.frequency_penalty).nullish(),
    logit_bias: z
      .record(z.string(), z.unknown(), { error: m.logit_bias })
      .refine((bias) => Object.keys(bias).length === 0, { error: m.logit_bias })
      .nullish(),
    suffix: z.null({ error: m.suffix }).optional(),
    user: z.string({ error: m.user }).nullish(),
    idempotency_key: z
      .string({ error: m.idempotency_key })
      .min(1, { error: m.idempotency_key })
      .max(256, { error: m.idempotency_key })
      .nullish(),
    dfleet: dfleetSchema.nullish(),
  });
}

type CompletionBody = z.output<ReturnType<typeof bodySchemaFor>>;

const schemaCache = new WeakMap<ServedModel, ReturnType<typeof bodySchemaFor>>();

function schemaFor(model: ServedModel): ReturnType<typeof bodySchemaFor> {
  let schema = schemaCache.get(model);
  if (!schema) {
    schema = bodySchemaFor(model);
    schemaCache.set(model, schema);
  }
  return schema;
}

function paramOf(path: readonly PropertyKey[]): string | null {
  const named = path.filter((key) => typeof key === 'string');
  return named.length === 0 ? null : named.join('.');
}

/** Turns zod issues into one 400 naming the first offending field (and listing any others). */
function toInvalidRequest(error: z.ZodError, allowedTopLevel: readonly string[]): InvalidRequestError {
  const described = error.issues.map((issue) => {
    if (issue.code === 'unrecognized_keys') {
      const parent = paramOf(issue.path);
      const names = issue.keys.map((key) => (parent ? `${parent}.${key}` : key));
      const allowed = parent === 'dfleet' ? Object.keys(DFLEET_FIELDS) : allowedTopLevel;
      return {
        param: names[0] ?? parent,
        message: `unknown field ${names.map((name) => `'${name}'`).join(', ')}; allowed fields${
          parent ? ` of ${parent}` : ''
        }: ${allowed.join(', ')}`,
      };
    }
    return { param: paramOf(issue.path), message: issue.message };
  });
  const first = described[0] ?? { param: null, message: 'invalid request' };
  const message = [...new Set(described.map((d) => d.message))].join('; ');
  return new InvalidRequestError(message, first.param);
}

const DFLEET_FIELDS = {
  strategy: 1,
  steps: 1,
  remasking: 1,
  threshold: 1,
  min_threshold: 1,
  factor: 1,
  gamma: 1,
  block_length: 1,
  max_steps: 1,
  priority: 1,
  deadline_ms: 1,
} as const;

function divisorsOf(n: number): number[] {
  const divisors: number[] = [];
  for (let d = 1; d <= n; d += 1) if (n % d === 0) divisors.push(d);
  return divisors;
}

function strategyFor(body: CompletionBody, maxNewTokens: number, blockLength: number): StrategyOptions {
  const knobs = body.dfleet ?? {};
  const name: StrategyName = knobs.strategy ?? STRATEGY_DEFAULTS.strategy;
  for (const [knob, owner] of Object.entries(KNOB_OWNER)) {
    const value = knobs[knob as keyof typeof KNOB_OWNER];
    if (value !== undefined && value !== null && owner !== name) {
      throw new InvalidRequestError(
        `dfleet.${knob} applies only to strategy ${owner}, but dfleet.strategy is ${name}`,
        `dfleet.${knob}`,
      );
    }
  }
  switch (name) {
    case 'reference': {
      // LLaDA splits steps evenly over the blocks, so each block needs a whole number of steps.
      const blocks = maxNewTokens / blockLength;
      const steps = knobs.steps ?? maxNewTokens;
      if (steps % blocks !== 0 || steps > maxNewTokens) {
        throw new InvalidRequestError(
          `dfleet.steps must be a multiple of ${blocks} (max_tokens ${maxNewTokens} / block_length ${blockLength}) between ${blocks} and ${maxNewTokens}`,
          'dfleet.steps',
        );
      }
      return { name, steps, remasking: knobs.remasking ?? 'low_confidence' };
    }
    case 'threshold': {
      const threshold = knobs.threshold ?? STRATEGY_DEFAULTS.threshold;
      const minThreshold = knobs.min_threshold ?? undefined;
      if (minThreshold !== undefined && minThreshold > threshold) {
        throw new InvalidRequestError(
          `dfleet.min_threshold (${minThreshold}) must be at most dfleet.threshold (${threshold}): it is the floor a worker under load may lower the threshold to`,
          'dfleet.min_threshold',
        );
      }
      return { name, threshold, ...(minThreshold === undefined ? {} : { minThreshold }) };
    }
    case 'factor':
      return { name, factor: knobs.factor ?? STRATEGY_DEFAULTS.factor };
    case 'entropy-bounded':
      return { name, gamma: knobs.gamma ?? STRATEGY_DEFAULTS.gamma };
  }
}

export interface CompletionRequestContext {
  /** Idempotency-Key header (HTTP) or `idempotency_key` (gRPC); null when absent. */
  idempotencyKeyHeader?: string | null;
}

/**
 * Validates a POST /v1/completions body (gRPC requests are mapped to the same shape first, so both
 * front doors answer with identical errors).
 * @throws InvalidRequestError, ModelNotFoundError or PromptTooLongError.
 */
export function parseCompletionRequest(
  body: unknown,
  catalog: ModelCatalog,
  context: CompletionRequestContext = {},
): CompletionRequest {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw new InvalidRequestError('request body must be a JSON object', null);
  }
  const modelName = (body as Record<string, unknown>)['model'];
  if (typeof modelName !== 'string' || modelName.length === 0) {
    throw new InvalidRequestError(
      `model is required and must be a string naming a served model (one of: ${catalog.names().join(', ')})`,
      'model',
    );
  }
  const model = catalog.get(modelName);
  const schema = schemaFor(model);
  const parsed = schema.safeParse(body);
  if (!parsed.success) throw toInvalidRequest(parsed.error, Object.keys(schema.shape));
  const request = parsed.data;

  const maxNewTokens = request.max_tokens ?? model.defaults.maxNewTokens;
  const blockLength = request.dfleet?.block_length ?? maxNewTokens;
  if (blockLength > maxNewTokens || maxNewTokens % blockLength !== 0) {
    throw new InvalidRequestError(
      `dfleet.block_length must divide max_tokens (${maxNewTokens}): one of ${divisorsOf(maxNewTokens).join(', ')}`,
      'dfleet.block_length',
    );
  }
  const strategy = strategyFor(request, maxNewTokens, blockLength);

  const idempotencyKey = resolveIdempotencyKey(request.idempotency_key ?? null, context.idempotencyKeyHeader ?? null);

  const promptTokens = promptTokensThatFit(model, request.prompt, maxNewTokens);

  const stop = request.stop === undefined || request.stop === null ? [] : [request.stop].flat();
  return {
    model,
    prompt: request.prompt,
    promptTokens,
    options: {
      maxNewTokens,
      blockLength,
      strategy,
      temperature: request.temperature ?? 0,
      seed: request.seed ?? 0,
      ...(request.dfleet?.max_steps ? { maxSteps: request.dfleet.max_steps } : {}),
      stop,
    },
    priority: request.dfleet?.priority ?? 'interactive',
    deadlineMs: request.dfleet?.deadline_ms ?? null,
    idempotencyKey,
  };
}

/**
 * The prompt's token count.
 * @throws PromptTooLongError when it does not fit next to `maxNewTokens`.
 */
export function promptTokensThatFit(model: ServedModel, prompt: string, maxNewTokens: number): number {
  const promptTokens = model.countPromptTokens(prompt);
  const promptLimit = model.maxSequenceLength - maxNewTokens - 1;
  if (promptTokens > promptLimit) {
    throw new PromptTooLongError(
      `prompt is ${promptTokens} tokens; model ${model.name} allows at most ${promptLimit} prompt tokens with max_tokens ${maxNewTokens} (max sequence length ${model.maxSequenceLength} = 1 bos + prompt + max_tokens)`,
    );
  }
  return promptTokens;
}

function resolveIdempotencyKey(fromBody: string | null, fromHeader: string | null): string | null {
  if (fromHeader !== null && !idempotencyKeySchema.safeParse(fromHeader).success) {
    throw new InvalidRequestError(`Idempotency-Key header ${IDEMPOTENCY_KEY_RULE}`, 'Idempotency-Key');
  }
  if (fromBody !== null && fromHeader !== null && fromBody !== fromHeader) {
    throw new InvalidRequestError(
      'idempotency_key and the Idempotency-Key header differ; send one of them, or the same value in both',
      'idempotency_key',
    );
  }
  return fromHeader ?? fromBody;
}
