import type { FastifyPluginAsync } from 'fastify';
import { parseChatCompletionRequest } from '../chat-request.ts';
import { answerChatCompletion } from '../completion-answers.ts';
import type { CompletionService } from '../completion-service.ts';
import { callerOf } from '../http-hooks/authentication.ts';
import { answeredBy } from '../http-hooks/request-log.ts';
import type { ModelCatalog } from '../model-catalog.ts';
import { WaitAbortedError } from '../pending-results.ts';
import { type StreamSettings, streamCompletion } from './openai-stream.ts';
import { answerAccepted } from './webhook-accepted.ts';

export interface ChatCompletionRoutesOptions {
  service: CompletionService;
  catalog: ModelCatalog;
  streaming: StreamSettings;
}

/** POST /v1/chat/completions: the messages rendered by the model's chat template, then a completion. */
export const chatCompletionRoutes: FastifyPluginAsync<ChatCompletionRoutesOptions> = async (app, options) => {
  const { service, catalog, streaming } = options;
  app.post('/v1/chat/completions', async (request, reply) => {
    const { tenant } = callerOf(request);
    const header = request.headers['idempotency-key'];
    const completion = parseChatCompletionRequest(request.body, catalog, {
      idempotencyKeyHeader: typeof header === 'string' ? header : null,
    });

    if (completion.webhookUrl !== null) {
      return answerAccepted(reply, service, completion, { tenant, object: 'chat.completion' });
    }
    if (completion.reply.stream)
      return streamCompletion(request, reply, { service, tenant, completion, kind: 'chat', streaming });

    // As for completions: a client that hangs up stops waiting, and its job runs on.
    const clientGone = new AbortController();
    reply.raw.on('close', () => {
      if (!reply.raw.writableEnded) clientGone.abort();
    });
    try {
      const answer = await answerChatCompletion(service, completion, { tenant, signal: clientGone.signal });
      answeredBy(reply, answer.finished);
      return reply.code(200).send(answer.body);
    } catch (error) {
      if (error instanceof WaitAbortedError) return reply;
      throw error;
    }
  });
};
