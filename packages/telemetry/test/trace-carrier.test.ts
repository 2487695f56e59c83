import { ROOT_CONTEXT, trace, TraceFlags } from '@opentelemetry/api';
import { describe, expect, it } from 'vitest';
import { extractTraceContext, injectTraceCarrier, traceIdOf } from '../src/index.ts';

const TRACEPARENT = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';

describe('traceIdOf', () => {
  it('reads the trace id of a W3C traceparent', () => {
    expect(traceIdOf({ traceparent: TRACEPARENT })).toBe('4bf92f3577b34da6a3ce929d0e0e4736');
  });

  it('names no trace for an empty carrier, a malformed traceparent or the all-zero trace id', () => {
    expect(traceIdOf({})).toBeUndefined();
    expect(traceIdOf({ traceparent: 'not-a-traceparent' })).toBeUndefined();
    expect(traceIdOf({ traceparent: `00-${'0'.repeat(32)}-00f067aa0ba902b7-01` })).toBeUndefined();
  });
});

describe('injectTraceCarrier and extractTraceContext', () => {
  it('carry a span context, its sampling flag and its tracestate from one process to the next', () => {
    const incoming = extractTraceContext({ traceparent: TRACEPARENT, tracestate: 'vendor=opaque' });
    const span = trace.getSpanContext(incoming);
    expect(span).toMatchObject({
      traceId: '4bf92f3577b34da6a3ce929d0e0e4736',
      spanId: '00f067aa0ba902b7',
      traceFlags: TraceFlags.SAMPLED,
      isRemote: true,
    });
    expect(injectTraceCarrier(incoming)).toEqual({ traceparent: TRACEPARENT, tracestate: 'vendor=opaque' });
  });

  it('read the first value of a repeated header', () => {
    const context = extractTraceContext({
      traceparent: [TRACEPARENT, '00-ffffffffffffffffffffffffffffffff-1111111111111111-01'],
    });
    expect(trace.getSpanContext(context)?.traceId).toBe('4bf92f3577b34da6a3ce929d0e0e4736');
  });

  it('carry nothing for a context without a span, and start from the root for a carrier without one', () => {
    expect(injectTraceCarrier(ROOT_CONTEXT)).toEqual({});
    expect(trace.getSpanContext(extractTraceContext({}))).toBeUndefined();
    expect(trace.getSpanContext(extractTraceContext({ traceparent: 'garbage' }))).toBeUndefined();
  });
});
