import type { FastifyPluginAsync } from 'fastify';
import { parseChatCompletionRequest } from '../chat-request.ts';
import { answerChatCompletion } from '../completion-answers.ts';
import type { CompletionService } from '../completion-service.ts';
import { callerOf } from '../http-hooks/authentication.ts';
import { setJobRequestId } from '../http-hooks/request-id.ts';
import type { ModelCatalog } from '../model-catalog.ts';
import { WaitAbortedError } from '../pending-results.ts';
import { streamCompletion } from './openai-stream.ts';

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

    if (completion.reply.stream) return streamCompletion(request, reply, { service, tenant, completion, kind: 'chat' });

    // As for completions: a client that hangs up stops waiting, and its job runs on.
    const clientGone = new AbortController();
    reply.raw.on('close', () => {
      if (!reply.raw.writableEnded) clientGone.abort();
    });
    try {
      const answer = await answerChatCompletion(service, completion, { tenant, signal: clientGone.signal });
      setJobRequestId(reply, answer.jobId);
      return reply.code(200).send(answer.body);
    } catch (error) {
      if (error instanceof WaitAbortedError) return reply;
      throw error;
    }
  });
};
