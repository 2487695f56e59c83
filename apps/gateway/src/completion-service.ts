import { context as activeContext, SpanKind, SpanStatusCode, trace, type Context } from '@opentelemetry/api';
import type { FlowJob } from 'bullmq';
import type { Logger } from 'pino';
import { requestIdSchema, type GenerationJob } from '@dfleet/queue';
import { ATTR, injectTraceCarrier, jobLogFields, SEMCONV, SPAN, tracer } from '@dfleet/telemetry';
import type { CompletionRequest } from './completion-request.ts';
import type { FinishedGeneration } from './completion-response.ts';
import {
  GenerationFailedError,
  GenerationTimeoutError,
  IdempotencyKeyReusedError,
  InvalidRequestError,
  JobCancelledError,
  JobNotFoundError,
  NoWorkerError,
  QueueUnavailableError,
  WebhooksNotConfiguredError,
  WebhookUrlNotAllowedError,
} from './errors.ts';
import { GenerationEventAssembler } from './generation-event-assembler.ts';
import type { GenerationEvent } from './generation-events.ts';
import type { JobSubmitter, PublicJobState } from './job-submitter.ts';
import { WaitAbortedError, WaitTimeoutError, type JobProgress, type PendingResults } from './pending-results.ts';
import type { RequestDrain } from './request-drain.ts';
import type { RequestMetrics } from './request-metrics.ts';
import { isIdempotentRequestId, requestIdFor } from './request-identity.ts';
import { sameGeneration } from './same-generation.ts';
import type { WaitingJobLimits } from './waiting-job-limits.ts';
import type { WorkerPresence } from './worker-presence.ts';
import type { WebhookDeliveries } from './webhooks/webhook-deliveries.ts';
import { eventIdFor, type WebhookDelivery, type WebhookSource } from './webhooks/webhook-delivery.ts';
import { refusedHost, type WebhookHostPolicy } from './webhooks/webhook-url.ts';

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
  /** Which models have a live worker: interactive requests for one without are refused (no_worker). */
  workerPresence: WorkerPresence;
  /** Latencies, tokens and outcomes of answered completions (/metrics). */
  metrics: RequestMetrics;
  /** Where webhook deliveries go and to which hosts; absent = requests naming a webhook are refused. */
  webhooks?: { deliveries: WebhookDeliveries; hostPolicy: WebhookHostPolicy };
}

/** A webhook request's answer: its job as GET /v1/jobs/:id shows it now, and the event that will report it. */
export interface AcceptedJob {
  view: JobView;
  eventId: string;
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

/** How long a stream whose job settled waits for step reports still on their way. */
const LATE_STEPS_GRACE_MS = 200;

/** A job this gateway enqueued (or adopted under its idempotency key) for one request. */
interface SubmittedJob {
  jobId: string;
  job: GenerationJob;
}

/** What both front doors do with a validated request: enqueue it and wait for its outcome. */
export class CompletionService {
  readonly #options: CompletionServiceOptions;

  constructor(options: CompletionServiceOptions) {
    this.#options = options;
  }

  /**
   * @throws NoWorkerError (interactive request, no live worker for the model), QueueUnavailableError
   * (Redis down), QueueFullError, GenerationTimeoutError, GenerationFailedError, JobCancelledError,
   * IdempotencyKeyReusedError, NotReadyError (shutting down).
   */
  async complete(
    request: CompletionRequest,
    context: { tenant: string; signal?: AbortSignal },
  ): Promise<FinishedGeneration> {
    const leave = this.#options.drain?.enter();
    const acceptedAt = performance.now();
    try {
      const submitted = await this.#submit(request, context.tenant, {
        streamSteps: false,
        trace: activeContext.active(),
      });
      const finished = await this.#outcome(submitted, context.signal);
      this.#options.metrics.answered(request, finished, acceptedAt);
      return finished;
    } finally {
      leave?.();
    }
  }

  /**
   * A request naming `dfleet.webhook_url`: its job is enqueued as the child of its webhook delivery, and
   * the answer is the job at once. The delivery runs when the job ends, on any gateway with the secret.
   * An idempotency key naming a job that already has a delivery keeps that one (the first webhook wins).
   * @throws WebhooksNotConfiguredError, WebhookUrlNotAllowedError, and what complete() throws before enqueueing.
   */
  async accept(
    request: CompletionRequest,
    context: { tenant: string; object: 'text_completion' | 'chat.completion' },
  ): Promise<AcceptedJob> {
    const { webhooks, submitter } = this.#options;
    const url = request.webhookUrl;
    if (!webhooks || url === null) throw new WebhooksNotConfiguredError();
    const refusal = refusedHost(webhooks.hostPolicy, new URL(url));
    if (refusal !== null) throw new WebhookUrlNotAllowedError(refusal);
    const { deliveries } = webhooks;
    const { tenant } = context;
    const leave = this.#options.drain?.enter();
    try {
      let delivery: WebhookDelivery | null = null;
      let addAfterwards = false;
      const { jobId } = await this.#submit(request, tenant, {
        streamSteps: false,
        trace: activeContext.active(),
        parentFor: async (id) => {
          const source: WebhookSource = {
            kind: 'completion',
            jobId: id,
            object: context.object,
            echo: request.reply.echo,
          };
          delivery = { eventId: eventIdFor(source), tenant, url, source };
          if (!isIdempotentRequestId(id)) return deliveries.parentFor(delivery);
          const eventId = delivery.eventId;
          if (await submitter.withRedis('read the webhook delivery', () => deliveries.exists(eventId)))
            return undefined;
          // A failed job would never wake a parent added now: its delivery goes on its own, after the add.
          addAfterwards = (await submitter.find(id))?.state === 'failed';
          return addAfterwards ? undefined : deliveries.parentFor(delivery);
        },
      });
      const made = delivery as WebhookDelivery | null;
      if (made === null) throw new Error('the job was enqueued without its webhook delivery');
      if (addAfterwards) await submitter.withRedis('add the webhook delivery', () => deliveries.add(made));
      let view: JobView;
      try {
        view = await this.getJob(jobId, tenant);
      } catch (error) {
        if (!(error instanceof QueueUnavailableError)) throw error;
        // The job is in Redis: answering 503 would tell the client it was not accepted.
        view = { id: jobId, state: 'waiting', result: null, error: null, progress: null };
      }
      return { view, eventId: made.eventId };
    } finally {
      leave?.();
    }
  }

  /**
   * The same generation as events: deltas of the answer's final prefix as the worker reports its
   * steps (and the whole canvas after each step when `states`), then `done`. The errors complete()
   * throws are thrown from the iterator; those before enqueueing (no_worker, queue_full, ...) from
   * its first next(). A consumer that stops early (return(), as `break` in for-await does, or
   * `signal` aborting: the client went away) cancels the job. A timeout leaves the job running,
   * as complete() does (its message says where to fetch the result).
   */
  stream(
    request: CompletionRequest,
    context: { tenant: string; signal?: AbortSignal; states: boolean },
  ): AsyncIterable<GenerationEvent> {
    // The generator's body runs in whatever context calls next(): the caller's is taken now.
    return this.#stream(request, context, activeContext.active());
  }

  async *#stream(
    request: CompletionRequest,
    context: { tenant: string; signal?: AbortSignal; states: boolean },
    traceParent: Context,
  ): AsyncGenerator<GenerationEvent, void, undefined> {
    const leave = this.#options.drain?.enter();
    const acceptedAt = performance.now();
    let sentTokens = false;
    // Every event goes out through here: the first with answer tokens is the time to first token.
    const sent = (event: GenerationEvent): GenerationEvent => {
      if (!sentTokens && event.kind === 'delta' && event.tokenIds.length > 0) {
        sentTokens = true;
        this.#options.metrics.firstTokens(request, acceptedAt);
      }
      return event;
    };
    const assembler = new GenerationEventAssembler((ids) => request.model.decodeTokens(ids), {
      states: context.states,
    });
    const buffered: GenerationEvent[] = [];
    let wake: (() => void) | null = null;
    const notify = () => {
      wake?.();
      wake = null;
    };
    // Ends this stream's wait for the outcome when the consumer leaves, so no waiter outlives it.
    const stopWaiting = new AbortController();
    const onClientGone = () => stopWaiting.abort();
    context.signal?.addEventListener('abort', onClientGone, { once: true });
    let unsubscribe = () => {};
    let submittedJob: SubmittedJob | null = null;
    let jobEnded = false;
    try {
      if (context.signal?.aborted) throw new WaitAbortedError('the client went away before the job was enqueued');
      const submitted = await this.#submit(request, context.tenant, {
        streamSteps: true,
        trace: traceParent,
        beforeEnqueue: (id) => {
          unsubscribe = this.#options.pending.onStep(id, (step) => {
            buffered.push(...assembler.onStep(step));
            notify();
          });
        },
      });
      submittedJob = submitted;
      // Set by the callbacks below; typed by assertion so the loop does not narrow it to null.
      let outcome = null as { finished: FinishedGeneration } | { error: unknown } | null;
      this.#outcome(submitted, stopWaiting.signal).then(
        (finished) => {
          outcome = { finished };
          notify();
        },
        (error: unknown) => {
          outcome = { error };
          notify();
        },
      );
      // Woken by a step, the outcome, or (when given) the time running out; the outcome has its own timeout.
      const nextReport = (timeoutMs?: number) =>
        new Promise<void>((resolve) => {
          const timer = timeoutMs === undefined ? undefined : setTimeout(resolve, timeoutMs);
          wake = () => {
            clearTimeout(timer);
            resolve();
          };
        });
      while (true) {
        while (buffered.length > 0) yield sent(buffered.shift() as GenerationEvent);
        if (outcome !== null) break;
        await nextReport();
      }
      const settled = outcome as { finished: FinishedGeneration } | { error: unknown };
      if ('finished' in settled) {
        jobEnded = true;
        // The queue's events stream can settle the job before the last steps come in on the
        // callback stream (the worker sends them first, but the two race): wait a moment for them,
        // so the stream still shows the finished canvas instead of jumping to the result. A stream
        // that saw no step (its job sends none, or they were all lost) does not wait.
        const lastStep = settled.finished.result.steps;
        const graceEndsAt = Date.now() + LATE_STEPS_GRACE_MS;
        const stepsFlowing = () => assembler.trusted && assembler.lastStep > 0 && assembler.lastStep < lastStep;
        while (stepsFlowing() && Date.now() < graceEndsAt) {
          await nextReport(graceEndsAt - Date.now());
          while (buffered.length > 0) yield sent(buffered.shift() as GenerationEvent);
        }
      }
      unsubscribe();
      if ('error' in settled) {
        jobEnded = !(settled.error instanceof WaitAbortedError);
        throw settled.error;
      }
      this.#options.metrics.answered(request, settled.finished, acceptedAt);
      for (const event of assembler.finish(settled.finished)) yield sent(event);
    } finally {
      unsubscribe();
      context.signal?.removeEventListener('abort', onClientGone);
      stopWaiting.abort();
      if (submittedJob !== null && !jobEnded) this.#cancelAbandoned(submittedJob, context.tenant);
      leave?.();
    }
  }

  /** vLLM aborts a request whose client disconnected; so does this gateway (best effort, logged). */
  #cancelAbandoned({ jobId, job }: SubmittedJob, tenant: string): void {
    const log = this.#jobLog(jobId, job);
    this.cancel(jobId, tenant).then(
      (outcome) => log.debug(outcome, 'stream abandoned by its client: job cancelled'),
      (error: unknown) => log.warn({ err: error }, 'stream abandoned by its client, but cancelling its job failed'),
    );
  }

  /** The logger of one job's lines: each names the job and its trace. */
  #jobLog(jobId: string, job: GenerationJob): Logger {
    return this.#options.logger.child(jobLogFields(jobId, job.traceContext));
  }

  /** Refuses, admits and enqueues the request's job, or adopts the job its idempotency key names. */
  async #submit(
    request: CompletionRequest,
    tenant: string,
    how: {
      streamSteps: boolean;
      trace: Context;
      beforeEnqueue?: (jobId: string) => void;
      /** A webhook delivery to add as the job's parent, in the same transaction. */
      parentFor?: (jobId: string) => Promise<Omit<FlowJob, 'children'> | undefined>;
    },
  ): Promise<SubmittedJob> {
    const { submitter, pending, callbackAddress, workerPresence } = this.#options;
    // Batch work may wait for a worker; an interactive client would only wait for its timeout.
    if (request.priority === 'interactive' && !(await workerPresence.hasLiveWorker(request.model.name))) {
      throw new NoWorkerError(request.model.name);
    }
    const jobId = requestIdFor(tenant, request.idempotencyKey);
    const { token, created } = pending.track(jobId);
    const acceptedAt = Date.now();
    const enqueueSpan = tracer.startSpan(
      SPAN.enqueue,
      {
        kind: SpanKind.PRODUCER,
        attributes: {
          [SEMCONV.messagingSystem]: 'bullmq',
          [SEMCONV.messagingOperationType]: 'send',
          [SEMCONV.messagingMessageId]: jobId,
          [ATTR.jobId]: jobId,
          [ATTR.model]: request.model.name,
          [ATTR.priority]: request.priority,
        },
      },
      how.trace,
    );
    // Built from a validated request, so not parsed again (the worker validates what it claims).
    let job: GenerationJob = {
      requestId: jobId,
      tenant,
      model: request.model.name,
      prompt: request.prompt,
      options: {
        ...request.options,
        streamSteps: how.streamSteps,
        ...(request.deadlineMs !== null ? { deadlineAt: acceptedAt + request.deadlineMs } : {}),
      },
      priority: request.priority,
      callback: { address: callbackAddress, token },
      // The worker's spans are children of the enqueue, across the queue.
      traceContext: injectTraceCarrier(trace.setSpan(how.trace, enqueueSpan)),
      acceptedAt,
    };

    try {
      // A job already tracked here is a resubmission of an admitted one: never refuse it.
      if (created && this.#options.waitingJobLimits) await submitter.admit(job, this.#options.waitingJobLimits);
      how.beforeEnqueue?.(jobId);
      await submitter.enqueue(job, await how.parentFor?.(jobId));
    } catch (error) {
      if (created) pending.forget(jobId);
      enqueueSpan.setStatus({ code: SpanStatusCode.ERROR, message: (error as Error).message });
      throw error;
    } finally {
      enqueueSpan.end();
    }

    pending.noteTraceContext(jobId, job.traceContext);
    const log = this.#jobLog(jobId, job);
    log.debug({ tenant, priority: request.priority }, 'job enqueued');

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
        log.warn({ err: error }, 'could not read back an idempotent job after adding it; waiting for it unchecked');
      }
    }
    return { jobId, job };
  }

  async #outcome({ jobId, job }: SubmittedJob, signal: AbortSignal | undefined): Promise<FinishedGeneration> {
    const { pending, requestTimeoutMs } = this.#options;
    try {
      const outcome = await pending.wait(jobId, { timeoutMs: requestTimeoutMs, ...(signal ? { signal } : {}) });
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
