import { SpanKind, SpanStatusCode, trace, type Context, type Span } from '@opentelemetry/api';
import type { Job } from 'bullmq';
import type { DecodeRequest, DecodeSession } from '@dfleet/decoder';
import type { GenerationJob } from '@dfleet/queue';
import { ATTR, extractTraceContext, injectTraceCarrier, SEMCONV, SPAN, tracer } from '@dfleet/telemetry';
import type { BatchRowsObserver } from './batch-rows.ts';
import type { CallbackReporter, CallbackTarget, ResultUpdate } from './callback-reporter.ts';

/**
 * The `queue wait` span (ended at once: from the gateway's accept to this claim) and the `job`
 * span of one attempt, both children of the gateway's enqueue span carried in the job data.
 * `jobContext` is the context the attempt's own spans hang off.
 */
export function startJobSpans(
  job: Job,
  data: GenerationJob,
  claimedAt: number,
  workerId: string,
): { span: Span; jobContext: Context } {
  const enqueued = extractTraceContext(data.traceContext);
  const jobId = job.id ?? data.requestId;
  tracer
    .startSpan(SPAN.queueWait, { startTime: data.acceptedAt, attributes: { [ATTR.jobId]: jobId } }, enqueued)
    // Two hosts' clocks: a claim "before" the accept is skew, shown as no wait rather than a negative one.
    .end(Math.max(claimedAt, data.acceptedAt));
  const span = tracer.startSpan(
    SPAN.job,
    {
      kind: SpanKind.CONSUMER,
      startTime: claimedAt,
      attributes: {
        [SEMCONV.messagingSystem]: 'bullmq',
        [SEMCONV.messagingOperationType]: 'process',
        [SEMCONV.messagingDestinationName]: job.queueName,
        [SEMCONV.messagingMessageId]: jobId,
        [ATTR.jobId]: jobId,
        [ATTR.attempt]: job.attemptsMade + 1,
        [ATTR.workerId]: workerId,
        [ATTR.model]: data.model,
        [ATTR.priority]: data.priority,
      },
    },
    enqueued,
  );
  return { span, jobContext: trace.setSpan(enqueued, span) };
}

export function startDecodeSpan(jobId: string, request: DecodeRequest, jobContext: Context): Span {
  return tracer.startSpan(
    SPAN.decode,
    {
      attributes: {
        [ATTR.jobId]: jobId,
        [ATTR.strategy]: request.strategy.name,
        ...(request.strategy.name === 'threshold' ? { [ATTR.effectiveThreshold]: request.strategy.threshold } : {}),
      },
    },
    jobContext,
  );
}

export function failSpan(span: Span, error: unknown): void {
  span.recordException(error instanceof Error ? error : String(error));
  span.setStatus({ code: SpanStatusCode.ERROR, message: error instanceof Error ? error.message : String(error) });
}

/**
 * The decode's outcome on its span: `answer` is null for a decode interrupted without a result
 * (lock lost, handed back at shutdown).
 */
export function endDecodeSpan(
  span: Span,
  session: DecodeSession,
  batchRows: BatchRowsObserver,
  answer: { tokens: number; finishReason: string } | null,
): void {
  const rows = batchRows.of(session);
  span.setAttributes({
    [ATTR.steps]: session.steps,
    [ATTR.nfe]: session.nfe,
    ...(answer === null ? {} : { [ATTR.tokens]: answer.tokens, [ATTR.finishReason]: answer.finishReason }),
    ...(rows === undefined
      ? {}
      : { [ATTR.batchRowsMin]: rows.min, [ATTR.batchRowsMean]: rows.mean, [ATTR.batchRowsMax]: rows.max }),
  });
  span.end();
}

/**
 * Sends the result in a client span (its carrier rides in the report, for the gateway's receipt
 * span), ended when the delivery settles, retries included.
 */
export function reportResultTraced(
  reporter: CallbackReporter,
  target: CallbackTarget,
  jobContext: Context,
  update: ResultUpdate,
): void {
  const span = tracer.startSpan(
    SPAN.callbackResult,
    { kind: SpanKind.CLIENT, attributes: { [ATTR.jobId]: target.jobId, [ATTR.attempt]: target.attempt } },
    jobContext,
  );
  const traceContext = injectTraceCarrier(trace.setSpan(jobContext, span));
  void reporter.reportResult(target, { ...update, traceContext }).then((delivery) => {
    span.setAttribute(ATTR.callbackTries, delivery.tries);
    if (delivery.delivered) span.setAttribute(ATTR.callbackAccepted, delivery.accepted);
    else span.setStatus({ code: SpanStatusCode.ERROR, message: delivery.error });
    span.end();
  });
}
