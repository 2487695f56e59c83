import { toChatCompletionResponseBody } from '../chat-response.ts';
import { toCompletionResponseBody } from '../completion-response.ts';
import type { CompletionService } from '../completion-service.ts';
import { JobNotFoundError } from '../errors.ts';
import type { ModelCatalog } from '../model-catalog.ts';
import type { EventBuilder } from './delivery-attempt.ts';

/**
 * A completion's event, read the way GET /v1/jobs/:id reads the job: `completion.completed` with the body
 * the request would have been answered with, or `completion.failed` with the job's error. A job gone
 * before its delivery ran (a waiting job cancelled with DELETE /v1/jobs/:id) fails with `job_not_found`.
 */
export function completionEventBuilder(service: CompletionService, catalog: ModelCatalog): EventBuilder {
  return async ({ source, tenant }) => {
    if (source.kind !== 'completion') throw new Error('not a completion delivery');
    const { jobId } = source;
    let view: Awaited<ReturnType<CompletionService['getJob']>>;
    try {
      view = await service.getJob(jobId, tenant);
    } catch (error) {
      if (!(error instanceof JobNotFoundError)) throw error;
      const failure = { code: 'job_not_found', message: `job '${jobId}' was cancelled or removed before it finished` };
      return { type: 'completion.failed', data: { id: jobId, object: 'dfleet.job', state: 'unknown', error: failure } };
    }
    if (view.result !== null) {
      // Logprobs and echo need the model's tokenizer; a gateway that does not serve the model throws, and
      // the attempt is retried (on another gateway, or here once it does).
      const model = catalog.get(view.result.job.model);
      const data =
        source.object === 'chat.completion'
          ? toChatCompletionResponseBody([view.result], model)
          : toCompletionResponseBody(view.result, { echo: source.echo, texts: model });
      return { type: 'completion.completed', data: { ...data } };
    }
    if (view.error !== null) {
      return {
        type: 'completion.failed',
        data: { id: jobId, object: 'dfleet.job', state: view.state, error: view.error },
      };
    }
    return null;
  };
}
