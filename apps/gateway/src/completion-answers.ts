import { toChatCompletionResponseBody, type ChatCompletionResponseBody } from './chat-response.ts';
import { BatchPromptError, parseCompletionBatch, type CompletionBatch } from './completion-batch.ts';
import { expandChoices } from './completion-choices.ts';
import { parseCompletionRequest, type CompletionRequest, type CompletionRequestContext } from './completion-request.ts';
import {
  toBatchCompletionResponseBody,
  toChoicesCompletionResponseBody,
  toCompletionResponseBody,
  type BatchCompletionResponseBody,
  type ChoiceRendering,
  type CompletionResponseBody,
  type FinishedGeneration,
} from './completion-response.ts';
import type { CompletionService } from './completion-service.ts';
import { GatewayError } from './errors.ts';
import type { ModelCatalog } from './model-catalog.ts';
import { WaitAbortedError } from './pending-results.ts';

/** A validated POST /v1/completions body: an array of prompts answered together, or one prompt (`n` choices). */
export type CompletionsCall =
  | { kind: 'prompts'; batch: CompletionBatch }
  | { kind: 'single'; completion: CompletionRequest };

/** What an endpoint answers with 200, and the job its `x-request-id` names. */
export interface EndpointAnswer<Body> {
  jobId: string;
  body: Body;
}

export interface AnswerContext {
  tenant: string;
  /** Aborts the wait (the client went away): the answer then throws WaitAbortedError. */
  signal?: AbortSignal;
}

/**
 * Validates a POST /v1/completions body.
 * @throws what parseCompletionRequest and parseCompletionBatch throw.
 */
export function parseCompletionsCall(
  body: unknown,
  catalog: ModelCatalog,
  context: CompletionRequestContext & { tenant: string; maxBatchPrompts: number },
): CompletionsCall {
  const batch = parseCompletionBatch(body, catalog, context);
  if (batch !== null) return { kind: 'prompts', batch };
  return { kind: 'single', completion: parseCompletionRequest(body, catalog, context) };
}

function renderingOf(request: CompletionRequest): ChoiceRendering {
  return { echo: request.reply.echo, texts: request.model };
}

/**
 * The non-streamed answer of POST /v1/completions, as the route sends it and a batch line records it.
 * An array of prompts fails as a whole with the first failed prompt, naming every job of the batch
 * so the client can read the ones that finished.
 */
export async function answerCompletions(
  service: CompletionService,
  call: CompletionsCall,
  context: AnswerContext,
): Promise<EndpointAnswer<CompletionResponseBody | BatchCompletionResponseBody>> {
  if (call.kind === 'prompts') return answerPrompts(service, call.batch, context);
  const { completion } = call;
  const finished = await Promise.all(expandChoices(completion).map((choice) => service.complete(choice, context)));
  const first = finished[0] as FinishedGeneration;
  const rendering = renderingOf(completion);
  return {
    jobId: first.jobId,
    body:
      finished.length === 1
        ? toCompletionResponseBody(first, rendering)
        : toChoicesCompletionResponseBody(finished, rendering),
  };
}

async function answerPrompts(
  service: CompletionService,
  { requests, jobIds }: CompletionBatch,
  context: AnswerContext,
): Promise<EndpointAnswer<BatchCompletionResponseBody>> {
  const outcomes = await Promise.allSettled(requests.map((item) => service.complete(item, context)));
  if (context.signal?.aborted) throw new WaitAbortedError('the client went away before every prompt was answered');
  const failedAt = outcomes.findIndex((outcome) => outcome.status === 'rejected');
  if (failedAt === -1) {
    const finished = outcomes.map((outcome) => (outcome as PromiseFulfilledResult<FinishedGeneration>).value);
    const rendering = renderingOf(requests[0] as CompletionRequest);
    return { jobId: finished[0]?.jobId ?? '', body: toBatchCompletionResponseBody(finished, rendering) };
  }
  const failure = (outcomes[failedAt] as PromiseRejectedResult).reason as unknown;
  if (!(failure instanceof GatewayError)) throw failure;
  const failures = outcomes.filter((outcome) => outcome.status === 'rejected').length;
  throw new BatchPromptError(
    failedAt,
    failure,
    `prompt[${failedAt}] (job ${jobIds[failedAt]}): ${failure.message}; ` +
      `${failures} of ${requests.length} prompts failed. This batch's jobs are ${jobIds.join(', ')}: ` +
      'read each with GET /v1/jobs/:id, or resubmit with the same idempotency key',
  );
}

/** The non-streamed answer of POST /v1/chat/completions: one choice per job (`n`). */
export async function answerChatCompletion(
  service: CompletionService,
  completion: CompletionRequest,
  context: AnswerContext,
): Promise<EndpointAnswer<ChatCompletionResponseBody>> {
  const finished = await Promise.all(expandChoices(completion).map((choice) => service.complete(choice, context)));
  return {
    jobId: (finished[0] as FinishedGeneration).jobId,
    body: toChatCompletionResponseBody(finished, completion.model),
  };
}
