import { context as activeContext, type Context } from '@opentelemetry/api';
import { WaitingError, type Job } from 'bullmq';
import {
  createDecodeSession,
  DecodeOptionsError,
  type DecodeRequest,
  type DecodeSession,
  type DenoiserOutputForm,
  type StepReport,
  type TokenLogprob,
} from '@dfleet/decoder';
import { generationJobSchema, type FinishedJob, type GenerationJob, type GenerationResult } from '@dfleet/queue';
import type { AdaptiveThresholdPolicy, StepScheduler } from '@dfleet/scheduler';
import type { BatchRowsObserver } from './batch-rows.ts';
import type { CallbackReporter, CallbackTarget, ProgressUpdate, StepUpdate } from './callback-reporter.ts';
import { InvalidJobError, ModelMismatchError } from './errors.ts';
import { planJobDecode, type ServedModel } from './job-decode-plan.ts';
import { jobLoggerOf, traceIdField } from './job-logger.ts';
import { endDecodeSpan, failSpan, reportResultTraced, startDecodeSpan, startJobSpans } from './job-spans.ts';
import type { Logger } from './logger.ts';
import type { DecodedJob } from './worker-metrics.ts';

/**
 * Why the worker itself aborted a job's signal (BullMQ's `worker.cancelJob(id, reason)`). Any
 * other abort is a cancellation the client asked for.
 */
export const INTERRUPTION = {
  /** DELETE /v1/jobs/:id reached an active job: finish it now with reason "cancelled". */
  cancelRequested: 'dfleet:cancel-requested',
  /** The job's lock could not be renewed: another worker may own it; stop without a result. */
  lockLost: 'dfleet:lock-lost',
  /** Shutdown grace ran out: hand the job back to the queue for another worker. */
  shutdown: 'dfleet:shutdown',
} as const;

/** A job that returned a result, as its observers read it. */
interface FinishedJobOutcome {
  /** The fleet's record of it (packages/queue finished-jobs). */
  readonly finished: FinishedJob;
  /** How its decode went, for the metrics. */
  readonly decoded: DecodedJob;
}

export interface GenerationProcessorDeps {
  readonly model: ServedModel;
  readonly vocabSize: number;
  readonly scheduler: StepScheduler;
  /** The batch sizes each decode ran in, for its span. */
  readonly batchRows: BatchRowsObserver;
  readonly reporter: CallbackReporter;
  readonly workerId: string;
  readonly logger: Logger;
  /**
   * Whether a gateway asked to cancel this job: awaited at the claim of a job started before,
   * before its decode is submitted (later, and for every job, by the watcher).
   */
  readonly isCancelRequested: (jobId: string) => Promise<boolean>;
  /**
   * Load-adaptive decoding: fed each claimed job's queue wait, it sets the threshold a
   * threshold-strategy job decodes with. Absent = every job decodes with what it asked for.
   */
  readonly thresholdPolicy?: AdaptiveThresholdPolicy;
  /**
   * Called once for every job that returns a result, as it does: the fleet's record, the
   * heartbeat's rate and the metrics read it. Must not throw.
   */
  readonly onFinished: (outcome: FinishedJobOutcome) => void;
}

/** A processor signature BullMQ recognises as signal-aware (three declared parameters). */
export type GenerationProcessor = (
  job: Job,
  token: string | undefined,
  signal: AbortSignal | undefined,
) => Promise<GenerationResult>;

/**
 * One BullMQ job: validate, tokenize, decode in the shared step scheduler, report progress and
 * the result to the job's gateway, and return the result so it stays in Redis. Invalid jobs fail
 * without retry (UnrecoverableError subclasses); a denoiser failure is thrown for BullMQ to retry.
 */
export function createGenerationProcessor(deps: GenerationProcessorDeps): GenerationProcessor {
  const runJob = createJobRun(deps);
  return async (job, token, signal) => {
    const claimedAt = Date.now();
    const data = parseJobData(job.data);
    const { span, jobContext } = startJobSpans(job, data, claimedAt, deps.workerId);
    try {
      return await activeContext.with(jobContext, () => runJob(job, token, signal, data, claimedAt, jobContext));
    } catch (error) {
      // A job handed back at shutdown is not a failure: it runs again elsewhere.
      if (!(error instanceof WaitingError)) failSpan(span, error);
      throw error;
    } finally {
      span.end();
    }
  };
}

/** One claimed job after its data validated: decode it, report it, return its result. */
function createJobRun(deps: GenerationProcessorDeps) {
  const { model, scheduler, reporter, workerId, logger } = deps;
  return async (
    job: Job,
    token: string | undefined,
    signal: AbortSignal | undefined,
    data: GenerationJob,
    claimedAt: number,
    jobContext: Context,
  ): Promise<GenerationResult> => {
    if (data.model !== model.manifest.name) throw new ModelMismatchError(data.model, model.manifest.name);
    const queueMs = Math.max(0, claimedAt - data.acceptedAt);
    const plan = planJobDecode(data, model);
    const request = withAdaptiveThreshold(plan.request, data, queueMs, claimedAt, deps.thresholdPolicy);
    const session = createSession(request, deps.vocabSize, deps.scheduler.outputForm);
    const target: CallbackTarget = {
      address: data.callback.address,
      token: data.callback.token,
      jobId: job.id ?? data.requestId,
      attempt: job.attemptsMade + 1,
      ...traceIdField(job),
    };

    // A job cancelled before this claim commits no step: its session ends here, and the scheduler
    // resolves it without a forward pass. Only a job started before pays this round trip.
    if (mayCarryCancelMark(job) && (await deps.isCancelRequested(target.jobId))) session.cancel();

    const decodeSpan = startDecodeSpan(target.jobId, request, jobContext);
    const decodeStarted = performance.now();
    const outcome = await scheduler
      .submit({
        session,
        ...(signal ? { signal } : {}),
        ...(data.options.deadlineAt === undefined ? {} : { deadlineAt: data.options.deadlineAt }),
        onStep: data.options.streamSteps
          ? // A stream shows every step: each one is reported, the finishing one too, before the result.
            (step) => reporter.reportStep(target, stepUpdateOf(step, performance.now() - decodeStarted))
          : // The step that finishes the job sends no progress: its result follows at once.
            (step) => {
              if (!step.finished) reporter.reportProgress(target, () => progressOf(session, model));
            },
      })
      .catch((error: unknown) => {
        failSpan(decodeSpan, error);
        endDecodeSpan(decodeSpan, session, deps.batchRows, null);
        throw error;
      });
    const decodeMs = performance.now() - decodeStarted;

    if (outcome.status === 'stopped' && outcome.signalReason === INTERRUPTION.lockLost) {
      endDecodeSpan(decodeSpan, session, deps.batchRows, null);
      reporter.forgetJob(target);
      throw new Error(`lost the lock of job ${target.jobId}; another worker may be running it`);
    }
    if (outcome.status === 'stopped' && outcome.signalReason === INTERRUPTION.shutdown) {
      endDecodeSpan(decodeSpan, session, deps.batchRows, null);
      reporter.forgetJob(target);
      // Back to the queue without spending an attempt; BullMQ expects WaitingError after a manual move.
      if (token) await job.moveToWait(token);
      jobLoggerOf(logger, job).info('shutdown grace ran out: job handed back to the queue');
      throw new WaitingError();
    }

    const decoded = session.result();
    const finishReason =
      outcome.status === 'stopped' && outcome.reason === 'deadline' && decoded.finishReason === 'cancelled'
        ? 'deadline'
        : decoded.finishReason;
    endDecodeSpan(decodeSpan, session, deps.batchRows, { tokens: decoded.tokenIds.length, finishReason });
    const result: GenerationResult = {
      text: model.tokenizer.decode(decoded.tokenIds),
      tokenIds: decoded.tokenIds,
      finishReason,
      steps: decoded.steps,
      nfe: decoded.nfe,
      promptTokens: plan.promptTokens,
      queueMs,
      decodeMs,
      workerId,
      ...(request.strategy.name === 'threshold' ? { effectiveThreshold: request.strategy.threshold } : {}),
      tokenSteps: decoded.tokenSteps,
      ...(decoded.tokenLogprobs === undefined ? {} : { tokenLogprobs: plainLogprobs(decoded.tokenLogprobs) }),
    };
    const finishedAt = Date.now();
    deps.onFinished({
      finished: {
        jobId: target.jobId,
        priority: data.priority,
        workerId,
        finishReason,
        tokens: result.tokenIds.length,
        e2eMs: Math.max(0, finishedAt - data.acceptedAt),
        queueMs,
        finishedAt,
      },
      decoded: {
        model: data.model,
        strategy: request.strategy.name,
        steps: result.steps,
        nfe: result.nfe,
        answerTokens: result.tokenIds.length,
        ...(result.effectiveThreshold === undefined ? {} : { effectiveThreshold: result.effectiveThreshold }),
      },
    });
    // Not awaited: the result is in Redis as soon as this returns, and a slow or gone gateway
    // must not hold the job's slot while the callback is retried.
    reportResultTraced(reporter, target, jobContext, {
      workerId,
      text: result.text,
      tokenIds: result.tokenIds,
      finishReason: result.finishReason,
      steps: result.steps,
      nfe: result.nfe,
      promptTokens: result.promptTokens,
      queueMs: result.queueMs,
      decodeMs: result.decodeMs,
      ...(result.effectiveThreshold === undefined ? {} : { effectiveThreshold: result.effectiveThreshold }),
      tokenSteps: result.tokenSteps,
      ...(result.tokenLogprobs === undefined ? {} : { tokenLogprobs: result.tokenLogprobs }),
    });
    return result;
  };
}

/**
 * Whether a cancel mark can have been set before this claim. A gateway removes a job no worker
 * holds and marks only a held one, so a job claimed for the first time has no mark yet (one set
 * later is the watcher's); a job started before (a retry, a stalled or handed-back job) may.
 * BullMQ counts starts in `attemptsStarted`, this claim included.
 */
function mayCarryCancelMark(job: Job): boolean {
  return job.attemptsStarted > 1;
}

/**
 * The job's decode request with the threshold the policy chooses for it now. The policy acts at
 * claim time: a job keeps its threshold for its whole decode (the decoder's commit rule is fixed
 * per session), and jobs claimed later see the updated level.
 */
function withAdaptiveThreshold(
  request: DecodeRequest,
  data: GenerationJob,
  queueMs: number,
  claimedAt: number,
  policy: AdaptiveThresholdPolicy | undefined,
): DecodeRequest {
  if (!policy) return request;
  policy.observeQueueWait(queueMs, claimedAt);
  const { strategy } = data.options;
  if (strategy.name !== 'threshold') return request;
  return {
    ...request,
    strategy: { name: 'threshold', threshold: policy.thresholdFor(strategy.threshold, strategy.minThreshold) },
  };
}

/** @throws InvalidJobError naming every field that does not follow generationJobSchema. */
function parseJobData(data: unknown): GenerationJob {
  const parsed = generationJobSchema.safeParse(data);
  if (parsed.success) return parsed.data;
  const issues = parsed.error.issues.map((issue) => ({
    field: issue.path.length === 0 ? '(job data)' : issue.path.map(String).join('.'),
    message: issue.message,
  }));
  const [first] = issues;
  const rest = issues.slice(1).map((issue) => `; ${issue.field}: ${issue.message}`);
  throw new InvalidJobError(first?.field ?? '(job data)', `${first?.message ?? 'invalid'}${rest.join('')}`);
}

function createSession(
  request: Parameters<typeof createDecodeSession>[0],
  vocabSize: number,
  outputForm: DenoiserOutputForm | undefined,
): DecodeSession {
  try {
    return createDecodeSession(request, vocabSize, outputForm);
  } catch (error) {
    if (error instanceof DecodeOptionsError) throw new InvalidJobError(jobFieldOf(error.field), error.message);
    throw error;
  }
}

/** The decoder names its own request fields; the client knows the job's. */
function jobFieldOf(decoderField: string): string {
  if (decoderField.startsWith('promptIds')) return 'prompt';
  if (decoderField.startsWith('stopSequences'))
    return decoderField.replace(/^stopSequences/, 'options.stop').replace(/\]\[\d+\]$/, ']');
  if (decoderField.startsWith('specialTokens')) return `(model manifest) ${decoderField}`;
  if (decoderField.startsWith('suffixIds')) return 'options.suffix';
  if (decoderField === 'maxCanvasLength') return '(model manifest) maxSequenceLength';
  return `options.${decoderField}`;
}

/** The decoder's (read-only) log-probabilities as the plain objects the job result and the protos hold. */
function plainLogprobs(entries: readonly TokenLogprob[]): NonNullable<GenerationResult['tokenLogprobs']> {
  return entries.map(({ logprob, top }) => ({ logprob, top: top.map(({ id, logprob }) => ({ id, logprob })) }));
}

/** What one step did, for a stream: positions are answer-relative, as the decoder reports them. */
function stepUpdateOf(step: StepReport, decodeMs: number): StepUpdate {
  return {
    step: step.step,
    nfe: step.nfe,
    committedPositions: Array.from(step.committedPositions),
    committedTokens: Array.from(step.committedTokens),
    ...(step.committedLogprobs === undefined ? {} : { committedLogprobs: plainLogprobs(step.committedLogprobs) }),
    answerLength: step.answerLength,
    finalPrefix: step.finalPrefix,
    decodeMs,
    finished: step.finished,
  };
}

/** Committed answer tokens so far and the text of the committed prefix (up to the first mask or eos). */
function progressOf(session: DecodeSession, model: ServedModel): ProgressUpdate {
  const { mask, eos } = model.manifest.specialTokens;
  // The answer's positions only: an infilling canvas carries the suffix after them.
  const answer = session.canvas.subarray(session.answerOffset, session.answerOffset + session.answerLength);
  let committed = 0;
  for (const id of answer) if (id !== mask) committed++;
  let prefixEnd = 0;
  while (prefixEnd < answer.length && answer[prefixEnd] !== mask && answer[prefixEnd] !== eos) prefixEnd++;
  return {
    step: session.steps,
    committedTokens: committed,
    totalTokens: answer.length,
    partialText: model.tokenizer.decode(answer.subarray(0, prefixEnd)),
  };
}
