import { UnrecoverableError, type Job } from 'bullmq';
import { describeJobFailure, generationJobSchema } from '@dfleet/queue';
import type { CallbackReporter } from './callback-reporter.ts';
import { JobRejectedError } from './errors.ts';
import { jobLoggerOf, traceIdField } from './job-logger.ts';
import { JOB_FAILED } from './log-messages.ts';
import type { Logger } from './logger.ts';

export interface FailedJobReporterDeps {
  readonly workerId: string;
  readonly reporter: CallbackReporter;
  readonly logger: Logger;
  /** Called when the failure means this worker cannot go on (its inference thread died). */
  readonly onFatal?: (error: Error) => void;
}

/**
 * What the worker does when an attempt fails: log it, and when no retry is left, tell the job's
 * gateway (through its callback) why, so the client hears at once rather than at its timeout.
 */
export function createFailedJobReporter(deps: FailedJobReporterDeps): (job: Job | undefined, error: Error) => void {
  const { workerId, reporter, logger } = deps;
  return (job, error) => {
    if (!job) return;
    const final = error instanceof UnrecoverableError || job.attemptsMade >= (job.opts.attempts ?? 1);
    jobLoggerOf(logger, job).warn({ attempt: job.attemptsMade, final, err: error.message }, JOB_FAILED);
    if ((error as { code?: unknown }).code === 'denoiser_closed') deps.onFatal?.(error);
    if (!final) return;
    const data = job.data as { callback?: unknown; traceContext?: unknown } | null;
    const callback = generationJobSchema.shape.callback.safeParse(data?.callback);
    if (!callback.success) return;
    // The gateway's receipt of the error joins the request's trace, under the job's enqueue.
    const trace = generationJobSchema.shape.traceContext.safeParse(data?.traceContext);
    void reporter.reportResult(
      {
        address: callback.data.address,
        token: callback.data.token,
        jobId: job.id ?? '',
        attempt: job.attemptsMade,
        ...traceIdField(job),
      },
      {
        workerId,
        traceContext: trace.success ? trace.data : {},
        ...(error instanceof JobRejectedError
          ? { errorCode: error.code, errorMessage: error.message }
          : describeJobFailure(error.message)),
      },
    );
  };
}
