import type { FastifyReply } from 'fastify';
import type { CompletionRequest } from '../completion-request.ts';
import type { CompletionService } from '../completion-service.ts';
import { setJobRequestId } from '../http-hooks/request-id.ts';
import { jobBody } from './jobs.ts';

/** 202 with the job (as GET /v1/jobs/:id shows it) and the event that will POST its result to the webhook. */
export async function answerAccepted(
  reply: FastifyReply,
  service: CompletionService,
  request: CompletionRequest,
  context: { tenant: string; object: 'text_completion' | 'chat.completion' },
): Promise<FastifyReply> {
  const { view, eventId } = await service.accept(request, context);
  setJobRequestId(reply, view.id);
  return reply.code(202).send({ ...jobBody(view), webhook: { event_id: eventId, url: request.webhookUrl } });
}
