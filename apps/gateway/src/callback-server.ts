import type { Logger } from 'pino';
import { grpc, loadDfleetProtos, type CallbackAck, type WorkerCallbackHandlers } from '@dfleet/proto';
import { generationResultSchema } from '@dfleet/queue';
import { bindInsecure } from './grpc-binding.ts';
import type { CallbackVerdict, JobOutcome, PendingResults } from './pending-results.ts';

function ack(verdict: CallbackVerdict): CallbackAck {
  return verdict.accepted ? { accepted: true, reason: '' } : { accepted: false, reason: verdict.reason };
}

/**
 * The internal WorkerCallback service: workers report progress and results of the jobs this
 * gateway enqueued. Only calls carrying the job's token count; each result is accepted once.
 */
export function createCallbackServer(pending: PendingResults, logger: Logger): grpc.Server {
  const handlers: WorkerCallbackHandlers = {
    ReportProgress(call, respond) {
      const report = call.request;
      const verdict = pending.reportProgress(report.jobId, report.callbackToken, {
        step: report.step,
        committedTokens: report.committedTokens,
        totalTokens: report.totalTokens,
        partialText: report.partialText,
        updatedAt: Date.now(),
      });
      if (!verdict.accepted && verdict.reason !== 'unknown_job') {
        logger.warn({ jobId: report.jobId, attempt: report.attempt, reason: verdict.reason }, 'progress report rejected');
      }
      respond(null, ack(verdict));
    },

    ReportResult(call, respond) {
      const report = call.request;
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
        });
        if (!parsed.success) {
          const problem = parsed.error.issues.map((issue) => `${issue.path.join('.')}: ${issue.message}`).join('; ');
          logger.warn({ jobId: report.jobId, workerId: report.workerId, problem }, 'result report rejected: not a valid result');
          respond(null, { accepted: false, reason: `invalid_result: ${problem}` });
          return;
        }
        outcome = { kind: 'completed', result: parsed.data, workerId: report.workerId };
      }
      const verdict = pending.reportResult(report.jobId, report.callbackToken, outcome);
      if (verdict.accepted) {
        logger.debug({ jobId: report.jobId, attempt: report.attempt, workerId: report.workerId }, 'result accepted');
      } else {
        // A duplicate is the usual race with the queue-events stream, which settled the job first;
        // an unknown job is one this gateway no longer waits for (cancelled, or enqueued before a
        // restart). Only a wrong token, a forgery or a stale attempt, deserves a warning.
        const level = verdict.reason === 'duplicate' ? 'debug' : verdict.reason === 'unknown_job' ? 'info' : 'warn';
        logger[level]({ jobId: report.jobId, attempt: report.attempt, workerId: report.workerId, reason: verdict.reason }, 'result report not accepted');
      }
      respond(null, ack(verdict));
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
