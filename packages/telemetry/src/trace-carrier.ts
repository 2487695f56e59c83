import { context as activeContext, ROOT_CONTEXT, type Context } from '@opentelemetry/api';
import { W3CTraceContextPropagator } from '@opentelemetry/core';

/**
 * A W3C trace context carrier as it travels in job data: `traceparent` and, optionally,
 * `tracestate` (https://www.w3.org/TR/trace-context/).
 */
export type TraceCarrier = Readonly<Record<string, string>>;

const TRACEPARENT = /^[0-9a-f]{2}-([0-9a-f]{32})-([0-9a-f]{16})-[0-9a-f]{2}$/;
const INVALID_TRACE_ID = '0'.repeat(32);

/**
 * Job data and callbacks always carry W3C trace context, whatever OTEL_PROPAGATORS says for HTTP:
 * the carrier is part of the job contract (traceIdOf parses it in every process).
 */
const w3c = new W3CTraceContextPropagator();

const recordSetter = {
  set(carrier: Record<string, string>, key: string, value: string) {
    carrier[key] = value;
  },
};

/** Reads a header-like carrier: a plain record, or (multi-valued headers) the first value of a list. */
const recordGetter = {
  get(carrier: Readonly<Record<string, string | readonly string[] | undefined>>, key: string) {
    const value = carrier[key];
    return typeof value === 'string' ? value : value?.[0];
  },
  keys(carrier: Readonly<Record<string, unknown>>) {
    return Object.keys(carrier);
  },
};

/**
 * The carrier of `context` (the active one by default): empty when it holds no valid span
 * context, as when no tracer provider is registered and nothing came in.
 */
export function injectTraceCarrier(context: Context = activeContext.active()): TraceCarrier {
  const carrier: Record<string, string> = {};
  w3c.inject(context, carrier, recordSetter);
  return carrier;
}

/**
 * The remote span context a carrier (job data, HTTP headers, gRPC metadata as a record) names,
 * on top of `base` (the root context by default: a job's parent is its carrier, not whatever
 * happened to be active in the process that claimed it).
 */
export function extractTraceContext(
  carrier: Readonly<Record<string, string | readonly string[] | undefined>>,
  base: Context = ROOT_CONTEXT,
): Context {
  return w3c.extract(base, carrier, recordGetter);
}

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
