import type { FastifyPluginAsync } from 'fastify';
import { parseChatCompletionRequest } from '../chat-request.ts';
import { toChatCompletionResponseBody } from '../chat-response.ts';
import { choicesWithJobIds, expandChoices } from '../completion-choices.ts';
import type { FinishedGeneration } from '../completion-response.ts';
import type { CompletionService } from '../completion-service.ts';
import { callerOf } from '../http-hooks/authentication.ts';
import { setJobRequestId } from '../http-hooks/request-id.ts';
import type { ModelCatalog } from '../model-catalog.ts';
import { OpenAiStreamChunks } from '../openai-stream-chunks.ts';
import { WaitAbortedError } from '../pending-results.ts';
import { streamChoices } from './openai-stream.ts';

export interface ChatCompletionRoutesOptions {
  service: CompletionService;
  catalog: ModelCatalog;
}

/** POST /v1/chat/completions: the messages rendered by the model's chat template, then a completion. */
export const chatCompletionRoutes: FastifyPluginAsync<ChatCompletionRoutesOptions> = async (app, options) => {
  const { service, catalog } = options;
  app.post('/v1/chat/completions', async (request, reply) => {
    const { tenant } = callerOf(request);
    const header = request.headers['idempotency-key'];
    const completion = parseChatCompletionRequest(request.body, catalog, {
      idempotencyKeyHeader: typeof header === 'string' ? header : null,
    });

    if (completion.reply.stream) {
      const { requests, jobIds } = choicesWithJobIds(completion, tenant);
      const firstJobId = jobIds[0] as string;
      setJobRequestId(reply, firstJobId);
      const chunks = new OpenAiStreamChunks({
        kind: 'chat',
        id: firstJobId,
        model: completion.model.name,
        created: Math.floor(Date.now() / 1000),
        logprobs: completion.options.logprobs ?? null,
        echo: null,
        includeUsage: completion.reply.stream.includeUsage,
        texts: completion.model,
      });
      return streamChoices(request, reply, {
        service,
        requests,
        tenant,
        states: completion.reply.stream.states,
        chunks,
      });
    }

    // As for completions: a client that hangs up stops waiting, and its job runs on.
    const clientGone = new AbortController();
    reply.raw.on('close', () => {
      if (!reply.raw.writableEnded) clientGone.abort();
    });
    try {
      const finished = await Promise.all(
        expandChoices(completion).map((choice) => service.complete(choice, { tenant, signal: clientGone.signal })),
      );
      setJobRequestId(reply, (finished[0] as FinishedGeneration).jobId);
      return reply.code(200).send(toChatCompletionResponseBody(finished, completion.model));
    } catch (error) {
      if (error instanceof WaitAbortedError) return reply;
      throw error;
    }
  });
};
