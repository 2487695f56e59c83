import { randomUUID } from 'node:crypto';
import {
  parseCompletionRequest,
  promptTokensThatFit,
  type CompletionRequest,
  type CompletionRequestContext,
} from './completion-request.ts';
import { GatewayError, InvalidRequestError } from './errors.ts';
import type { ModelCatalog } from './model-catalog.ts';
import { requestIdFor } from './request-identity.ts';

/** @defaultValue DFLEET_MAX_BATCH_PROMPTS */
export const DEFAULT_MAX_BATCH_PROMPTS = 32;

/** An HTTP body with `prompt` as an array: one job per prompt, answered together. */
export interface CompletionBatch {
  requests: CompletionRequest[];
  /** Job id of each prompt, known before anything is enqueued so a partial failure can name them. */
  jobIds: string[];
}

/**
 * Splits a body whose `prompt` is an array into one validated request per prompt. Each prompt
 * becomes its own job with an idempotency key derived from the request's key (or a fresh one)
 * and its index, so job ids are known up front and a resubmission with the same key names the
 * same jobs. A problem with one prompt names it (`prompt.2`); any other field is checked once.
 * @returns null when `prompt` is not an array (a single completion).
 */
export function parseCompletionBatch(
  body: unknown,
  catalog: ModelCatalog,
  context: CompletionRequestContext & { tenant: string; maxBatchPrompts: number },
): CompletionBatch | null {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) return null;
  const prompts: unknown = (body as Record<string, unknown>)['prompt'];
  if (!Array.isArray(prompts)) return null;
  const { maxBatchPrompts } = context;
  if (prompts.length === 0 || prompts.length > maxBatchPrompts) {
    throw new InvalidRequestError(
      `prompt is an array of ${prompts.length} prompts; send 1 to ${maxBatchPrompts} (DFLEET_MAX_BATCH_PROMPTS) per request, or a single string`,
      'prompt',
    );
  }
  prompts.forEach((prompt, index) => {
    if (typeof prompt !== 'string') {
      throw new InvalidRequestError(
        `prompt[${index}] must be a string (token ids are not supported)`,
        `prompt.${index}`,
      );
    }
  });

  // The whole body is checked once, with the first prompt; the others differ only in the prompt.
  const first = atPrompt(0, () => parseCompletionRequest({ ...body, prompt: prompts[0] }, catalog, context));
  if (first.webhookUrl !== null) {
    throw new InvalidRequestError(
      'prompt as an array and dfleet.webhook_url cannot be combined: a webhook reports one job; send one request ' +
        'per prompt, or use the Batch API (POST /v1/batches, which takes a webhook for the whole batch)',
      'dfleet.webhook_url',
    );
  }
  if (first.reply.n > 1) {
    throw new InvalidRequestError(
      'n > 1 needs a single prompt (a string); for several prompts send n: 1, or one request per prompt',
      'n',
    );
  }
  if (first.reply.stream !== null) {
    throw new InvalidRequestError(
      'stream: true needs a single prompt (a string); send one streaming request per prompt',
      'stream',
    );
  }
  const clientKey = first.idempotencyKey;
  const batchKey = clientKey ?? `batch-${randomUUID()}`;
  const requests = (prompts as string[]).map((prompt, index) => ({
    ...first,
    prompt,
    promptTokens:
      index === 0
        ? first.promptTokens
        : atPrompt(index, () =>
            promptTokensThatFit(first.model, prompt, first.options.maxNewTokens, first.options.suffix ?? null),
          ),
    idempotencyKey: `${batchKey}#${index}`,
    idempotencyKeyIsFresh: clientKey === null,
  }));
  return { requests, jobIds: requests.map((request) => requestIdFor(context.tenant, request.idempotencyKey)) };
}

/** Runs a check of prompt `index`, naming that prompt in an error about the prompt. */
function atPrompt<T>(index: number, check: () => T): T {
  try {
    return check();
  } catch (error) {
    if (error instanceof GatewayError && error.param === 'prompt')
      throw new BatchPromptError(index, error, `prompt[${index}]: ${error.message}`);
    throw error;
  }
}

/** One prompt of a batch was refused, or its job failed: the inner error's status, naming the prompt. */
export class BatchPromptError extends GatewayError {
  readonly code: string;
  readonly httpStatus: number;
  readonly grpcStatus: GatewayError['grpcStatus'];
  override readonly retryAfterSeconds: number | null;
  readonly index: number;

  constructor(index: number, inner: GatewayError, message: string) {
    super(message, inner.param === 'prompt' ? `prompt.${index}` : inner.param, { cause: inner });
    this.index = index;
    this.code = inner.code;
    this.httpStatus = inner.httpStatus;
    this.grpcStatus = inner.grpcStatus;
    this.retryAfterSeconds = inner.retryAfterSeconds;
  }
}
