/**
 * A W3C trace context carrier as it travels in job data: `traceparent` and, optionally,
 * `tracestate` (https://www.w3.org/TR/trace-context/).
 */
export type TraceCarrier = Readonly<Record<string, string>>;

const TRACEPARENT = /^[0-9a-f]{2}-([0-9a-f]{32})-([0-9a-f]{16})-[0-9a-f]{2}$/;
const INVALID_TRACE_ID = '0'.repeat(32);

/**
 * The trace id a carrier names, for log lines; undefined when it carries no valid traceparent.
 * Logs read it here rather than from the active span so that a job's lines name its trace in
 * every process, whether or not that process records spans.
 */
export function traceIdOf(carrier: TraceCarrier): string | undefined {
  const match = TRACEPARENT.exec(carrier.traceparent ?? '');
  if (!match || match[1] === INVALID_TRACE_ID) return undefined;
  return match[1];
}
