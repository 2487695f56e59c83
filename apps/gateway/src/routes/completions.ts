import type { FastifyPluginAsync, FastifyReply } from 'fastify';
import { BatchPromptError, parseCompletionBatch, type CompletionBatch } from '../completion-batch.ts';
import { expandChoices } from '../completion-choices.ts';
import { parseCompletionRequest, type CompletionRequest } from '../completion-request.ts';
import {
  toBatchCompletionResponseBody,
  toChoicesCompletionResponseBody,
  toCompletionResponseBody,
  type ChoiceRendering,
  type FinishedGeneration,
} from '../completion-response.ts';
import type { CompletionService } from '../completion-service.ts';
import { GatewayError } from '../errors.ts';
import { callerOf } from '../http-hooks/authentication.ts';
import { setJobRequestId } from '../http-hooks/request-id.ts';
import type { ModelCatalog } from '../model-catalog.ts';
import { WaitAbortedError } from '../pending-results.ts';
import { streamCompletion } from './openai-stream.ts';
import { answerAccepted } from './webhook-accepted.ts';

export interface CompletionRoutesOptions {
  service: CompletionService;
  catalog: ModelCatalog;
  /** Most prompts in one request (`prompt` as an array). */
  maxBatchPrompts: number;
}

/**
 * Answers a batch once every prompt is done; the first failed prompt fails the whole request,
 * naming every job of the batch so the client can read the ones that finished.
 */
async function completeBatch(
  service: CompletionService,
  { requests, jobIds }: CompletionBatch,
  context: { tenant: string; signal: AbortSignal },
  reply: FastifyReply,
): Promise<FastifyReply> {
  const outcomes = await Promise.allSettled(requests.map((item) => service.complete(item, context)));
  if (context.signal.aborted) return reply;
  const failedAt = outcomes.findIndex((outcome) => outcome.status === 'rejected');
  if (failedAt === -1) {
    const finished = outcomes.map((outcome) => (outcome as PromiseFulfilledResult<FinishedGeneration>).value);
    const rendering = renderingOf(requests[0] as CompletionRequest);
    setJobRequestId(reply, finished[0]?.jobId ?? '');
    return reply.code(200).send(toBatchCompletionResponseBody(finished, rendering));
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

function renderingOf(request: CompletionRequest): ChoiceRendering {
  return { echo: request.reply.echo, texts: request.model };
}

/** POST /v1/completions: one prompt (n choices, streamed or not), or an array of prompts answered together. */
export const completionRoutes: FastifyPluginAsync<CompletionRoutesOptions> = async (app, options) => {
  const { service, catalog, maxBatchPrompts } = options;
  app.post('/v1/completions', async (request, reply) => {
    const { tenant } = callerOf(request);
    const header = request.headers['idempotency-key'];
    const context = { idempotencyKeyHeader: typeof header === 'string' ? header : null };
    const batch = parseCompletionBatch(request.body, catalog, { ...context, tenant, maxBatchPrompts });
    const completion = batch === null ? parseCompletionRequest(request.body, catalog, context) : null;

    if (completion !== null && completion.webhookUrl !== null) {
      return answerAccepted(reply, service, completion, { tenant, object: 'text_completion' });
    }
    if (completion?.reply.stream) {
      return streamCompletion(request, reply, { service, tenant, completion, kind: 'completion' });
    }

    // A client that hangs up stops waiting; the job itself still runs and stays readable.
    const clientGone = new AbortController();
    reply.raw.on('close', () => {
      if (!reply.raw.writableEnded) clientGone.abort();
    });
    try {
      if (completion === null) {
        return await completeBatch(service, batch as CompletionBatch, { tenant, signal: clientGone.signal }, reply);
      }
      const choices = expandChoices(completion);
      const finished = await Promise.all(
        choices.map((choice) => service.complete(choice, { tenant, signal: clientGone.signal })),
      );
      const first = finished[0] as FinishedGeneration;
      setJobRequestId(reply, first.jobId);
      const rendering = renderingOf(completion);
      return reply
        .code(200)
        .send(
          finished.length === 1
            ? toCompletionResponseBody(first, rendering)
            : toChoicesCompletionResponseBody(finished, rendering),
        );
    } catch (error) {
      if (error instanceof WaitAbortedError) return reply;
      throw error;
    }
  });
};
