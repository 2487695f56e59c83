import type { Logger } from 'pino';
import { requestIdSchema, type GenerationJob } from '@dfleet/queue';
import type { CompletionRequest } from './completion-request.ts';
import type { FinishedGeneration } from './completion-response.ts';
import {
  GenerationFailedError,
  GenerationTimeoutError,
  IdempotencyKeyReusedError,
  InvalidRequestError,
  JobCancelledError,
  JobNotFoundError,
  QueueUnavailableError,
} from './errors.ts';
import type { JobSubmitter, PublicJobState } from './job-submitter.ts';
import { WaitTimeoutError, type JobProgress, type PendingResults } from './pending-results.ts';
import type { RequestDrain } from './request-drain.ts';
import { requestIdFor } from './request-identity.ts';
import { sameGeneration } from './same-generation.ts';
import type { WaitingJobLimits } from './waiting-job-limits.ts';

export interface CompletionServiceOptions {
  submitter: JobSubmitter;
  pending: PendingResults;
  /** host:port workers call back on. */
  callbackAddress: string;
  requestTimeoutMs: number;
  logger: Logger;
  /** Counts open requests and refuses new ones once a shutdown began. */
  drain?: RequestDrain;
  /** Caps on waiting jobs; absent = no caps. */
  waitingJobLimits?: WaitingJobLimits;
}

/** A job as GET /v1/jobs/:id and GetJob report it. */
export interface JobView {
  id: string;
  state: PublicJobState;
  result: FinishedGeneration | null;
  error: { code: string; message: string } | null;
  /** Latest progress a worker reported to this gateway, while the job runs. */
  progress: JobProgress | null;
}

/** What both front doors do with a validated request: enqueue it and wait for its outcome. */
export class CompletionService {
  readonly #options: CompletionServiceOptions;

  constructor(options: CompletionServiceOptions) {
    this.#options = options;
  }

  /**
   * @throws QueueUnavailableError (Redis down), GenerationTimeoutError, GenerationFailedError,
   * JobCancelledError, IdempotencyKeyReusedError, NotReadyError (shutting down).
   */
  async complete(
    request: CompletionRequest,
    context: { tenant: string; signal?: AbortSignal },
  ): Promise<FinishedGeneration> {
    const leave = this.#options.drain?.enter();
    try {
      return await this.#complete(request, context);
    } finally {
      leave?.();
    }
  }

  async #complete(
    request: CompletionRequest,
    context: { tenant: string; signal?: AbortSignal },
  ): Promise<FinishedGeneration> {
    const { submitter, pending, callbackAddress, requestTimeoutMs } = this.#options;
    const jobId = requestIdFor(context.tenant, request.idempotencyKey);
    const { token, created } = pending.track(jobId);
    const acceptedAt = Date.now();
    // Built from a validated request, so not parsed again (the worker validates what it claims).
    let job: GenerationJob = {
      requestId: jobId,
      tenant: context.tenant,
      model: request.model.name,
      prompt: request.prompt,
      options: {
        ...request.options,
        ...(request.deadlineMs !== null ? { deadlineAt: acceptedAt + request.deadlineMs } : {}),
      },
      priority: request.priority,
      callback: { address: callbackAddress, token },
      traceContext: {},
      acceptedAt,
    };

    try {
      // A job already tracked here is a resubmission of an admitted one: never refuse it.
      if (created && this.#options.waitingJobLimits) await submitter.admit(job, this.#options.waitingJobLimits);
      await submitter.enqueue(job);
    } catch (error) {
      if (created) pending.forget(jobId);
      throw error;
    }

    this.#options.logger.debug({ jobId, tenant: context.tenant, priority: request.priority }, 'job enqueued');

    if (request.idempotencyKey !== null && !request.idempotencyKeyIsFresh) {
      // The key may name a job enqueued earlier (here or by another gateway): answer with that job.
      try {
        job = await this.#adoptExistingJob(job);
      } catch (error) {
        if (!(error instanceof QueueUnavailableError)) {
          if (created) pending.forget(jobId);
          throw error;
        }
        // The job is in Redis (the add succeeded), so a 503 would tell the client "not enqueued"
        // about a job that runs, and forgetting it would refuse its callback. Wait for it instead;
        // only the check that an earlier job under this key had the same options is skipped.
        this.#options.logger.warn(
          { jobId, err: error },
          'could not read back an idempotent job after adding it; waiting for it unchecked',
        );
      }
    }

    try {
      const outcome = await pending.wait(jobId, {
        timeoutMs: requestTimeoutMs,
        ...(context.signal ? { signal: context.signal } : {}),
      });
      switch (outcome.kind) {
        case 'completed':
          return { jobId, job, result: outcome.result, finishedAt: Date.now() };
        case 'failed':
          throw new GenerationFailedError(jobId, outcome.errorCode, outcome.errorMessage);
        case 'cancelled':
          throw new JobCancelledError(jobId);
      }
    } catch (error) {
      if (error instanceof WaitTimeoutError) throw new GenerationTimeoutError(jobId, requestTimeoutMs);
      throw error;
    }
  }

  async #adoptExistingJob(ours: GenerationJob): Promise<GenerationJob> {
    const { submitter, pending } = this.#options;
    const stored = await submitter.find(ours.requestId);
    if (!stored?.data) return ours;
    // Admission recorded the id as waiting, but the job it names already started: it must not count.
    if (stored.state !== 'waiting' && stored.state !== 'delayed') submitter.forgetStartedJob(ours);
    if (!sameGeneration(stored.data, ours)) throw new IdempotencyKeyReusedError(ours.requestId);
    // A job enqueued by an earlier run of this gateway calls back here with its own token.
    pending.adoptToken(ours.requestId, stored.data.callback.token);
    if (stored.state === 'completed' && stored.result) {
      pending.settle(ours.requestId, { kind: 'completed', result: stored.result, workerId: stored.result.workerId });
    } else if (stored.state === 'failed') {
      pending.settle(ours.requestId, {
        kind: 'failed',
        errorCode: 'generation_failed',
        errorMessage: stored.failedReason ?? 'failed',
      });
    }
    return stored.data;
  }

  /** A job of `tenant`; another tenant's job is reported as not found, so ids leak nothing. */
  async getJob(jobId: string, tenant: string): Promise<JobView> {
    const { submitter, pending } = this.#options;
    assertJobId(jobId);
    const stored = await submitter.find(jobId);
    if (!stored || stored.data?.tenant !== tenant) throw new JobNotFoundError(jobId);
    const view: JobView = { id: jobId, state: stored.state, result: null, error: null, progress: null };
    if (stored.state === 'completed') {
      if (stored.result && stored.data) {
        view.result = {
          jobId,
          job: stored.data,
          result: stored.result,
          finishedAt: stored.finishedOn ?? Date.now(),
        };
      } else {
        view.error = {
          code: 'invalid_result',
          message: 'the job completed but its stored result is not a GenerationResult',
        };
      }
    } else if (stored.state === 'failed') {
      view.error = { code: 'generation_failed', message: stored.failedReason ?? 'failed' };
    } else {
      view.progress = pending.progressOf(jobId);
    }
    return view;
  }

  /**
   * Cancels a job of `tenant` (another tenant's job is not found). A queued one is removed and
   * requests waiting for it here answer 409 job_cancelled; an active one is asked to stop, and
   * its waiting requests get the worker's result with finish reason "cancelled".
   */
  async cancel(jobId: string, tenant: string): Promise<{ id: string; cancelled: boolean; state: PublicJobState }> {
    assertJobId(jobId);
    const stored = await this.#options.submitter.find(jobId);
    if (!stored || stored.data?.tenant !== tenant) throw new JobNotFoundError(jobId);
    const outcome = await this.#options.submitter.cancel(jobId, tenant);
    if (!outcome.found) throw new JobNotFoundError(jobId);
    if (outcome.state === 'cancelled') this.#options.pending.settle(jobId, { kind: 'cancelled' });
    return { id: jobId, cancelled: outcome.cancelled, state: outcome.state };
  }
}

function assertJobId(jobId: string): void {
  if (!requestIdSchema.safeParse(jobId).success) {
    throw new InvalidRequestError(
      'job id must be 1 to 128 letters, digits, "_", "." or "-", and not all digits (ids look like cmpl-... or idem-...)',
      'id',
    );
  }
}
