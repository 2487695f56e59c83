import type { FastifyPluginAsync } from 'fastify';
import { toCompletionResponseBody } from '../completion-response.ts';
import type { CompletionService, JobView } from '../completion-service.ts';
import { callerOf } from '../http-hooks/authentication.ts';

export interface JobRoutesOptions {
  service: CompletionService;
}

/** A job as GET /v1/jobs/:id answers it (and a webhook request is answered 202 with). */
export function jobBody(view: JobView) {
  return {
    id: view.id,
    object: 'dfleet.job' as const,
    state: view.state,
    result: view.result ? toCompletionResponseBody(view.result) : null,
    error: view.error,
    progress: view.progress
      ? {
          step: view.progress.step,
          committed_tokens: view.progress.committedTokens,
          total_tokens: view.progress.totalTokens,
          partial_text: view.progress.partialText,
        }
      : null,
  };
}

/** GET and DELETE /v1/jobs/:id: read or cancel one of the caller's jobs. */
export const jobRoutes: FastifyPluginAsync<JobRoutesOptions> = async (app, { service }) => {
  app.get<{ Params: { id: string } }>('/v1/jobs/:id', async (request) =>
    jobBody(await service.getJob(request.params.id, callerOf(request).tenant)),
  );

  app.delete<{ Params: { id: string } }>('/v1/jobs/:id', async (request) => {
    const outcome = await service.cancel(request.params.id, callerOf(request).tenant);
    return { id: outcome.id, object: 'dfleet.job.cancellation', cancelled: outcome.cancelled, state: outcome.state };
  });
};
