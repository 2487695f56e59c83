import type { FastifyPluginAsync } from 'fastify';
import { answerCompletions, parseCompletionsCall } from '../completion-answers.ts';
import type { CompletionService } from '../completion-service.ts';
import { callerOf } from '../http-hooks/authentication.ts';
import { answeredBy } from '../http-hooks/request-log.ts';
import type { ModelCatalog } from '../model-catalog.ts';
import { WaitAbortedError } from '../pending-results.ts';
import { type StreamSettings, streamCompletion } from './openai-stream.ts';
import { answerAccepted } from './webhook-accepted.ts';

export interface CompletionRoutesOptions {
  service: CompletionService;
  catalog: ModelCatalog;
  /** Most prompts in one request (`prompt` as an array). */
  maxBatchPrompts: number;
  streaming: StreamSettings;
}

/** POST /v1/completions: one prompt (n choices, streamed or not), or an array of prompts answered together. */
export const completionRoutes: FastifyPluginAsync<CompletionRoutesOptions> = async (app, options) => {
  const { service, catalog, maxBatchPrompts, streaming } = options;
  app.post('/v1/completions', async (request, reply) => {
    const { tenant } = callerOf(request);
    const header = request.headers['idempotency-key'];
    const context = { idempotencyKeyHeader: typeof header === 'string' ? header : null };
    const call = parseCompletionsCall(request.body, catalog, { ...context, tenant, maxBatchPrompts });

    if (call.kind === 'single' && call.completion.webhookUrl !== null) {
      return answerAccepted(reply, service, call.completion, { tenant, object: 'text_completion' });
    }
    if (call.kind === 'single' && call.completion.reply.stream) {
      return streamCompletion(request, reply, {
        service,
        tenant,
        completion: call.completion,
        kind: 'completion',
        streaming,
      });
    }

    // A client that hangs up stops waiting; the job itself still runs and stays readable.
    const clientGone = new AbortController();
    reply.raw.on('close', () => {
      if (!reply.raw.writableEnded) clientGone.abort();
    });
    try {
      const answer = await answerCompletions(service, call, { tenant, signal: clientGone.signal });
      answeredBy(reply, answer.finished);
      return reply.code(200).send(answer.body);
    } catch (error) {
      if (error instanceof WaitAbortedError) return reply;
      throw error;
    }
  });
};
