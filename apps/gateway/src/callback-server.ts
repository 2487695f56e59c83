import { SpanKind } from '@opentelemetry/api';
import type { Logger } from 'pino';
import {
  grpc,
  loadDfleetProtos,
  type ProgressReport__Output,
  type ReportAck,
  type ResultReport__Output,
  type StepReport__Output,
  type WorkerCallbackHandlers,
  type WorkerReport__Output,
} from '@dfleet/proto';
import { generationResultSchema } from '@dfleet/queue';
import { ATTR, extractTraceContext, jobLogFields, SPAN, tracer } from '@dfleet/telemetry';
import { bindInsecure } from './grpc-binding.ts';
import { RESULT_REPORT_NOT_ACCEPTED } from './log-messages.ts';
import type { JobOutcome, PendingResults } from './pending-results.ts';

/** What a result report is answered with, besides the job id and attempt it names. */
type ResultAnswer = Pick<ReportAck, 'accepted' | 'reason'>;

/**
 * The internal WorkerCallback service: workers report progress, steps (streaming jobs) and results of the jobs this
 * gateway enqueued, over one stream per worker. Only reports carrying the job's token count;
 * each result is accepted once and answered, accepted or not.
 */
function createCallbackServer(pending: PendingResults, logger: Logger): grpc.Server {
  /** A report's lines name its job and the job's trace (reports carry the job id only). */
  const jobLog = (jobId: string): Logger => logger.child(jobLogFields(jobId, pending.traceContextOf(jobId)));

  const onProgress = (report: ProgressReport__Output): void => {
    const verdict = pending.reportProgress(report.jobId, report.callbackToken, {
      step: report.step,
      committedTokens: report.committedTokens,
      totalTokens: report.totalTokens,
      partialText: report.partialText,
      updatedAt: Date.now(),
    });
    if (!verdict.accepted && verdict.reason !== 'unknown_job') {
      jobLog(report.jobId).warn({ attempt: report.attempt, reason: verdict.reason }, 'progress report rejected');
    }
  };

  const onStep = (report: StepReport__Output): void => {
    const verdict = pending.reportStep(report.jobId, report.callbackToken, {
      attempt: report.attempt,
      step: report.step,
      nfe: report.nfe,
      committedPositions: report.committedPositions,
      committedTokens: report.committedTokens,
      committedLogprobs: report.committedLogprobs,
      answerLength: report.answerLength,
      finalPrefix: report.finalPrefix,
      decodeMs: report.decodeMs,
      finished: report.finished,
    });
    if (!verdict.accepted && verdict.reason !== 'unknown_job') {
      jobLog(report.jobId).warn({ attempt: report.attempt, reason: verdict.reason }, 'step report rejected');
    }
  };

  /** The result's receipt, a child of the worker's span that sent it (its carrier is in the report). */
  const onResult = (report: ResultReport__Output): ResultAnswer => {
    const span = tracer.startSpan(
      SPAN.callbackReceipt,
      {
        kind: SpanKind.SERVER,
        attributes: { [ATTR.jobId]: report.jobId, [ATTR.attempt]: report.attempt, [ATTR.workerId]: report.workerId },
      },
      extractTraceContext(report.traceContext),
    );
    const answer = acceptResult(report);
    span.setAttribute(ATTR.callbackAccepted, answer.accepted === true);
    span.end();
    return answer;
  };

  const acceptResult = (report: ResultReport__Output): ResultAnswer => {
    let outcome: JobOutcome;
    if (report.errorCode !== '') {
      outcome = { kind: 'failed', errorCode: report.errorCode, errorMessage: report.errorMessage || 'no message' };
    } else {
      const parsed = generationResultSchema.safeParse({
        text: report.text,
        tokenIds: report.tokenIds,
        finishReason: report.finishReason,
        steps: report.steps,
        nfe: report.nfe,
        promptTokens: report.promptTokens,
        queueMs: report.queueMs,
        decodeMs: report.decodeMs,
        workerId: report.workerId,
        ...(report.effectiveThreshold === undefined ? {} : { effectiveThreshold: report.effectiveThreshold }),
        tokenSteps: report.tokenSteps,
        // A repeated field cannot say "absent": none means the job did not ask (or its answer is empty).
        ...(report.tokenLogprobs.length === 0 ? {} : { tokenLogprobs: report.tokenLogprobs }),
      });
      if (!parsed.success) {
        const problem = parsed.error.issues.map((issue) => `${issue.path.join('.')}: ${issue.message}`).join('; ');
        jobLog(report.jobId).warn({ workerId: report.workerId, problem }, 'result report rejected: not a valid result');
        return { accepted: false, reason: `invalid_result: ${problem}` };
      }
      outcome = { kind: 'completed', result: parsed.data, workerId: report.workerId };
    }
    const verdict = pending.reportResult(report.jobId, report.callbackToken, outcome);
    if (verdict.accepted) {
      jobLog(report.jobId).debug({ attempt: report.attempt, workerId: report.workerId }, 'result accepted');
    } else {
      // A duplicate is the usual race with the queue's outcome stream, which settled the job first;
      // an unknown job is one this gateway no longer waits for (cancelled, or enqueued before a
      // restart). Only a wrong token, a forgery or a stale attempt, deserves a warning.
      const level = verdict.reason === 'duplicate' ? 'debug' : verdict.reason === 'unknown_job' ? 'info' : 'warn';
      jobLog(report.jobId)[level](
        { attempt: report.attempt, workerId: report.workerId, reason: verdict.reason },
        RESULT_REPORT_NOT_ACCEPTED,
      );
    }
    return verdict.accepted ? { accepted: true, reason: '' } : verdict;
  };

  const handlers: WorkerCallbackHandlers = {
    Report(call) {
      call.on('data', (message: WorkerReport__Output) => {
        if (message.progress) onProgress(message.progress);
        else if (message.step) onStep(message.step);
        else if (message.result)
          call.write({ jobId: message.result.jobId, attempt: message.result.attempt, ...onResult(message.result) });
      });
      call.on('end', () => call.end());
      // The worker went away or the stream broke: it resends what was not answered on a new one.
      call.on('error', (error) => logger.debug({ err: error.message }, 'worker report stream ended with an error'));
    },
  };
  const server = new grpc.Server();
  server.addService(loadDfleetProtos().workerCallback.dfleet.v1.WorkerCallback.service, handlers);
  return server;
}

export async function startCallbackServer(
  pending: PendingResults,
  logger: Logger,
  host: string,
  port: number,
): Promise<{ server: grpc.Server; port: number }> {
  const server = createCallbackServer(pending, logger);
  return { server, port: await bindInsecure(server, host, port) };
}
