import { z } from 'zod';
import {
  canvasLength,
  DEFAULT_STRATEGY,
  decodingStrategySchema,
  describeKnobRange,
  enumKnobSchema,
  numberKnobSchema,
  promptTooLong,
  STRATEGY_KNOBS,
  STRATEGY_NAMES,
  type OwnedKnob,
  type StrategyKnob,
  type StrategyKnobWireName,
  type StrategyName,
} from '@dfleet/decoder';
import type { GenerationOptions, PriorityClass, StrategyOptions } from '@dfleet/queue';
import { InvalidRequestError, PromptTooLongError, SuffixNotSupportedError } from './errors.ts';
import type { ModelCatalog, ServedModel } from './model-catalog.ts';
import { webhookUrlSchema } from './webhooks/webhook-url.ts';

/**
 * The `dfleet` knobs of every strategy, by wire name. Names, ranges, defaults and owners come from
 * the decoder's strategy contract; a knob sent with another strategy is a 400.
 */
const KNOBS_BY_WIRE_NAME = new Map<string, OwnedKnob>(STRATEGY_KNOBS.map((owned) => [owned.knob.wireName, owned]));

const MAX_STOP_SEQUENCES = 8;
const MAX_SEED = 4_294_967_295; // uint32 on the gRPC side
const MAX_DEADLINE_MS = 86_400_000;
const MAX_STEPS_LIMIT = 1_000_000;
/** max_tokens is only a cap (the canvas is dfleet.gen_length), so any large value is harmless. */
const MAX_TOKENS_LIMIT = 1_048_576;
/** Most choices one request may ask for (`n`): each is a job of its own. */
const MAX_CHOICES = 8;
/** OpenAI's limit on alternatives per token (completions `logprobs`, chat `top_logprobs`). */
export const MAX_TOP_LOGPROBS = 5;

/** How the HTTP answer is shaped; the jobs do not depend on it. */
interface CompletionReplyShape {
  /** Choices asked for (`n`), each decoded by its own job with seed `seed + index`. */
  readonly n: number;
  /** Prepend the prompt to each choice's text (completions only). */
  readonly echo: boolean;
  /** Server-sent events instead of one JSON body; null = not streamed. */
  readonly stream: { readonly includeUsage: boolean; readonly states: boolean } | null;
}

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
  /** What the HTTP route does with the outcome (gRPC ignores it). */
  reply: CompletionReplyShape;
  /** `dfleet.webhook_url`: answered 202 at once, the result POSTed there; null = answered with the result. */
  webhookUrl: string | null;
}

const IDEMPOTENCY_KEY_RULE = 'must be a string of 1 to 256 characters';
const idempotencyKeySchema = z.string().min(1).max(256);

/** `dfleet.<knob> must be <its range in the contract>[, at most dfleet.<other knob>]`. */
function knobMessage({ strategy, knob }: OwnedKnob): string {
  const atMost =
    knob.kind === 'number' && knob.atMost !== undefined ? `, at most dfleet.${wireNameOf(strategy, knob.atMost)}` : '';
  return `dfleet.${knob.wireName} must be ${describeKnobRange(knob)}${atMost}`;
}

function knobOf(strategy: StrategyName, key: string): StrategyKnob | undefined {
  return STRATEGY_KNOBS.find((owned) => owned.strategy === strategy && owned.key === key)?.knob;
}

function wireNameOf(strategy: StrategyName, key: string): string {
  return knobOf(strategy, key)?.wireName ?? key;
}

const knobFields = Object.fromEntries(
  STRATEGY_KNOBS.map((owned) => {
    const message = knobMessage(owned);
    const { knob } = owned;
    const schema = knob.kind === 'number' ? numberKnobSchema(knob, message) : enumKnobSchema(knob, message);
    return [owned.knob.wireName, schema.nullish()];
  }),
) as Record<StrategyKnobWireName, z.ZodOptional<z.ZodNullable<z.ZodType<number | string>>>>;

/** One message per field, so every failure of a field names it and says what is allowed. */
function bodySchemaFor(model: ServedModel) {
  // An empty prompt leaves the whole canvas but its bos to the answer.
  const maxTokensLimit = model.maxSequenceLength - canvasLength(0, 0, model.specialTokens);
  const m = {
    prompt: 'prompt must be a string, or an array of strings (token ids are not supported)',
    max_tokens:
      `max_tokens must be an integer between 1 and ${MAX_TOKENS_LIMIT}: a cap on the answer ` +
      `(the canvas the model decodes is dfleet.gen_length, at most ${maxTokensLimit} for ${model.name})`,
    temperature: 'temperature must be a number between 0 and 2',
    seed: `seed must be an integer between 0 and ${MAX_SEED}`,
    stop: `stop must be a non-empty string or an array of at most ${MAX_STOP_SEQUENCES} non-empty strings`,
    n: `n must be an integer between 1 and ${MAX_CHOICES} (each choice is a job with seed seed+index)`,
    best_of: 'best_of must be 1 (one sample per choice; ask for more choices with n)',
    stream: 'stream must be a boolean',
    stream_options: 'stream_options must be an object { include_usage: boolean } and needs stream: true',
    echo: 'echo must be a boolean',
    logprobs: `logprobs must be null or an integer between 0 and ${MAX_TOP_LOGPROBS} (alternatives per token)`,
    top_p: 'top_p must be 1 (nucleus sampling is not supported; use temperature)',
    presence_penalty: 'presence_penalty must be 0 (penalties are not supported)',
    frequency_penalty: 'frequency_penalty must be 0 (penalties are not supported)',
    logit_bias: 'logit_bias must be null or {} (logit bias is not supported)',
    suffix: 'suffix must be null or a non-empty string',
    user: 'user must be a string',
    idempotency_key: `idempotency_key ${IDEMPOTENCY_KEY_RULE}`,
    dfleet: 'dfleet must be an object',
    strategy: `dfleet.strategy must be one of ${STRATEGY_NAMES.join(', ')}`,
    gen_length: `dfleet.gen_length must be an integer between 1 and ${maxTokensLimit} (the canvas of ${model.name})`,
    block_length: 'dfleet.block_length must be a positive integer that divides dfleet.gen_length',
    max_steps: `dfleet.max_steps must be an integer between 1 and ${MAX_STEPS_LIMIT}`,
    priority: 'dfleet.priority must be one of interactive, batch',
    deadline_ms: `dfleet.deadline_ms must be an integer between 1 and ${MAX_DEADLINE_MS}`,
    stream_states: 'dfleet.stream_states must be a boolean (canvas states after each step; needs stream: true)',
  };
  const int = (message: string, min: number, max: number) =>
    z.int({ error: message }).min(min, { error: message }).max(max, { error: message });
  const number = (message: string) => z.number({ error: message }).refine(Number.isFinite, { error: message });
  const only = <T extends number | boolean>(value: T, message: string) => z.literal(value, { error: message });

  const dfleetSchema = z.strictObject(
    {
      strategy: z.enum(STRATEGY_NAMES, { error: m.strategy }).nullish(),
      ...knobFields,
      gen_length: int(m.gen_length, 1, maxTokensLimit).nullish(),
      block_length: int(m.block_length, 1, maxTokensLimit).nullish(),
      max_steps: int(m.max_steps, 1, MAX_STEPS_LIMIT).nullish(),
      priority: z.enum(['interactive', 'batch'], { error: m.priority }).nullish(),
      deadline_ms: int(m.deadline_ms, 1, MAX_DEADLINE_MS).nullish(),
      stream_states: z.boolean({ error: m.stream_states }).nullish(),
      webhook_url: webhookUrlSchema.nullish(),
    },
    { error: m.dfleet },
  );

  return z.strictObject({
    model: z.string(),
    prompt: z.string({ error: m.prompt }),
    max_tokens: int(m.max_tokens, 1, MAX_TOKENS_LIMIT).nullish(),
    temperature: number(m.temperature)
      .refine((v) => v >= 0 && v <= 2, { error: m.temperature })
      .nullish(),
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
    n: int(m.n, 1, MAX_CHOICES).nullish(),
    best_of: only(1, m.best_of).nullish(),
    stream: z.boolean({ error: m.stream }).nullish(),
    stream_options: z
      .strictObject({ include_usage: z.boolean({ error: m.stream_options }).nullish() }, { error: m.stream_options })
      .nullish(),
    echo: z.boolean({ error: m.echo }).nullish(),
    logprobs: int(m.logprobs, 0, MAX_TOP_LOGPROBS).nullish(),
    top_p: only(1, m.top_p).nullish(),
    presence_penalty: only(0, m.presence_penalty).nullish(),
    frequency_penalty: only(0, m.frequency_penalty).nullish(),
    logit_bias: z
      .record(z.string(), z.unknown(), { error: m.logit_bias })
      .refine((bias) => Object.keys(bias).length === 0, { error: m.logit_bias })
      .nullish(),
    suffix: z.string({ error: m.suffix }).min(1, { error: m.suffix }).nullish(),
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

/** The body's fields and those of its `dfleet` object, read off the schema that enforces them. */
function allowedFieldsOf(schema: ReturnType<typeof bodySchemaFor>): Record<string, readonly string[]> {
  return { '': Object.keys(schema.shape), dfleet: Object.keys(schema.shape.dfleet.unwrap().unwrap().shape) };
}

function paramOf(path: readonly PropertyKey[], keepIndexes = false): string | null {
  const named = path.filter((key) => typeof key === 'string' || (keepIndexes && typeof key === 'number')).map(String);
  return named.length === 0 ? null : named.join('.');
}

/**
 * Turns zod issues into one 400 naming the first offending field (and listing any others).
 * @param allowedFields the fields an object takes, by its path ('' = the body), for unknown-field errors.
 * @param keepIndexes name array elements (`messages.2.role`); else the array itself (`stop`).
 */
export function toInvalidRequest(
  error: z.ZodError,
  allowedFields: Readonly<Record<string, readonly string[]>>,
  keepIndexes = false,
): InvalidRequestError {
  const described = error.issues.map((issue) => {
    if (issue.code === 'unrecognized_keys') {
      const parent = paramOf(issue.path);
      const names = issue.keys.map((key) => (parent ? `${parent}.${key}` : key));
      const allowed = allowedFields[parent ?? ''] ?? [];
      return {
        param: names[0] ?? parent,
        message: `unknown field ${names.map((name) => `'${name}'`).join(', ')}; allowed fields${
          parent ? ` of ${parent}` : ''
        }: ${allowed.join(', ')}`,
      };
    }
    return { param: paramOf(issue.path, keepIndexes), message: issue.message };
  });
  const first = described[0] ?? { param: null, message: 'invalid request' };
  const message = [...new Set(described.map((d) => d.message))].join('; ');
  return new InvalidRequestError(message, first.param);
}

function divisorsOf(n: number): number[] {
  const divisors: number[] = [];
  for (let d = 1; d <= n; d += 1) if (n % d === 0) divisors.push(d);
  return divisors;
}

function strategyFor(body: CompletionBody, maxNewTokens: number, blockLength: number): StrategyOptions {
  const knobs: Partial<Record<string, unknown>> = body.dfleet ?? {};
  const name: StrategyName = body.dfleet?.strategy ?? DEFAULT_STRATEGY;
  const options: Record<string, unknown> = { name };
  for (const [wireName, { strategy, key }] of KNOBS_BY_WIRE_NAME) {
    const value = knobs[wireName];
    if (value === undefined || value === null) continue;
    if (strategy !== name) {
      throw new InvalidRequestError(
        `dfleet.${wireName} applies only to strategy ${strategy}, but dfleet.strategy is ${name}`,
        `dfleet.${wireName}`,
      );
    }
    options[key] = value;
  }
  if (name === 'reference') {
    // LLaDA splits steps evenly over the blocks, so each block needs a whole number of steps.
    const blocks = maxNewTokens / blockLength;
    const steps = (options['steps'] as number | undefined) ?? maxNewTokens;
    if (steps % blocks !== 0 || steps > maxNewTokens) {
      throw new InvalidRequestError(
        `dfleet.steps must be a multiple of ${blocks} (dfleet.gen_length ${maxNewTokens} / block_length ${blockLength}) ` +
          `between ${blocks} and ${maxNewTokens}`,
        'dfleet.steps',
      );
    }
    options['steps'] = steps;
  }
  for (const { strategy, key, knob } of STRATEGY_KNOBS) {
    if (strategy !== name || knob.kind !== 'number' || knob.atMost === undefined) continue;
    const value = options[key] as number | undefined;
    const other = knobOf(strategy, knob.atMost);
    const otherDefault = other?.kind === 'number' ? other.default : undefined;
    const bound = (options[knob.atMost] as number | undefined) ?? otherDefault;
    if (value !== undefined && bound !== undefined && value > bound) {
      throw new InvalidRequestError(
        `dfleet.${knob.wireName} (${value}) must be at most dfleet.${wireNameOf(strategy, knob.atMost)} (${bound}): ` +
          `it is ${knob.description}`,
        `dfleet.${knob.wireName}`,
      );
    }
  }
  // Every knob is in range by now: this applies the contract's defaults.
  return decodingStrategySchema.parse(options);
}

export interface CompletionRequestContext {
  /** Idempotency-Key header (HTTP) or `idempotency_key` (gRPC); null when absent. */
  idempotencyKeyHeader?: string | null;
}

/**
 * The served model a body names, checked before the body itself (its schema depends on the model).
 * @throws InvalidRequestError (not an object, no model) or ModelNotFoundError.
 */
export function requestedModel(body: unknown, catalog: ModelCatalog): ServedModel {
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
  return catalog.get(modelName);
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
  const model = requestedModel(body, catalog);
  const schema = schemaFor(model);
  const parsed = schema.safeParse(body);
  if (!parsed.success) throw toInvalidRequest(parsed.error, allowedFieldsOf(schema));
  const request = parsed.data;

  const maxNewTokens = request.dfleet?.gen_length ?? model.defaults.maxNewTokens;
  const blockLength = request.dfleet?.block_length ?? maxNewTokens;
  if (blockLength > maxNewTokens || maxNewTokens % blockLength !== 0) {
    throw new InvalidRequestError(
      `dfleet.block_length must divide dfleet.gen_length (${maxNewTokens}): one of ${divisorsOf(maxNewTokens).join(', ')}`,
      'dfleet.block_length',
    );
  }
  const strategy = strategyFor(request, maxNewTokens, blockLength);
  const reply = replyShapeOf(request);
  const webhookUrl = request.dfleet?.webhook_url ?? null;
  if (webhookUrl !== null) checkWebhookReply(reply);
  const logprobs = request.logprobs ?? null;
  if (reply.echo && logprobs !== null) {
    throw new InvalidRequestError(
      'echo cannot be combined with logprobs: a diffusion model has no log-probabilities for prompt tokens ' +
        '(it never predicts them); send echo or logprobs, not both',
      'echo',
    );
  }
  const suffix = request.suffix ?? null;
  if (suffix !== null && !model.capabilities.infill) throw new SuffixNotSupportedError(model.name);

  const idempotencyKey = resolveIdempotencyKey(request.idempotency_key ?? null, context.idempotencyKeyHeader ?? null);

  const promptTokens = promptTokensThatFit(model, request.prompt, maxNewTokens, suffix);

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
      ...(request.max_tokens ? { maxAnswerTokens: request.max_tokens } : {}),
      ...(logprobs !== null ? { logprobs } : {}),
      ...(suffix !== null ? { suffix } : {}),
      streamSteps: false,
    },
    priority: request.dfleet?.priority ?? 'interactive',
    deadlineMs: request.dfleet?.deadline_ms ?? null,
    idempotencyKey,
    reply,
    webhookUrl,
  };
}

/** A webhook request is answered at once and its one result POSTed later: nothing to stream, one job. */
function checkWebhookReply(reply: CompletionReplyShape): void {
  if (reply.stream !== null) {
    throw new InvalidRequestError(
      'stream: true and dfleet.webhook_url cannot be combined: a webhook request is answered 202 at once and its ' +
        'result POSTed to the URL; send one of them',
      'stream',
    );
  }
  if (reply.n > 1) {
    throw new InvalidRequestError(
      'n > 1 and dfleet.webhook_url cannot be combined: a webhook reports one job; send n: 1, one request per ' +
        'choice (with seed, seed + 1, ...), or use the Batch API',
      'n',
    );
  }
}

function replyShapeOf(request: CompletionBody): CompletionReplyShape {
  const stream = request.stream ?? false;
  const states = request.dfleet?.stream_states ?? false;
  if (!stream && states) {
    throw new InvalidRequestError(
      'dfleet.stream_states needs stream: true (canvas states are server-sent events)',
      'dfleet.stream_states',
    );
  }
  if (!stream && request.stream_options !== undefined && request.stream_options !== null) {
    throw new InvalidRequestError('stream_options needs stream: true', 'stream_options');
  }
  return {
    n: request.n ?? 1,
    echo: request.echo ?? false,
    stream: stream ? { includeUsage: request.stream_options?.include_usage ?? false, states } : null,
  };
}

/**
 * The prompt's token count.
 * @throws PromptTooLongError when it (and the suffix pinned after the answer) does not fit next to
 * the canvas of `maxNewTokens` (the decoder's canvas rule).
 */
export function promptTokensThatFit(
  model: ServedModel,
  prompt: string,
  maxNewTokens: number,
  suffix: string | null = null,
): number {
  const promptTokens = model.countPromptTokens(prompt);
  const suffixTokens = suffix === null ? 0 : model.countPromptTokens(suffix);
  const tooLong = promptTooLong({
    promptTokens,
    maxNewTokens,
    maxSequenceLength: model.maxSequenceLength,
    specialTokens: model.specialTokens,
    suffixTokens,
    modelName: model.name,
    maxNewTokensName: 'dfleet.gen_length',
  });
  if (tooLong !== null) throw new PromptTooLongError(tooLong);
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
