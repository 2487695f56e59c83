import { context, SpanKind, SpanStatusCode, trace } from '@opentelemetry/api';
import { grpc } from '@dfleet/proto';
import { extractTraceContext, SEMCONV, tracer } from '@dfleet/telemetry';

const SERVICE = 'dfleet.v1.GenerationService';

/**
 * Runs a GenerationService call in a server span, a child of the `traceparent` in its metadata
 * when the client sent one. `handle` answers the call and resolves with the status code it sent
 * (CANCELLED when the client went away first).
 */
export async function traceGrpcCall(
  method: string,
  metadata: grpc.Metadata,
  handle: () => Promise<grpc.status>,
): Promise<void> {
  const span = tracer.startSpan(
    `${SERVICE}/${method}`,
    {
      kind: SpanKind.SERVER,
      attributes: { [SEMCONV.rpcSystemName]: 'grpc', [SEMCONV.rpcMethod]: `${SERVICE}/${method}` },
    },
    extractTraceContext(metadataCarrier(metadata)),
  );
  try {
    const code = await context.with(trace.setSpan(context.active(), span), handle);
    span.setAttribute(SEMCONV.rpcStatusCode, grpc.status[code]);
    // The server-side convention: only codes that say the server failed are span errors.
    if (SERVER_FAULTS.has(code)) span.setStatus({ code: SpanStatusCode.ERROR });
  } finally {
    span.end();
  }
}

/** UNKNOWN, DEADLINE_EXCEEDED, UNIMPLEMENTED, INTERNAL, UNAVAILABLE, DATA_LOSS. */
const SERVER_FAULTS: ReadonlySet<number> = new Set([2, 4, 12, 13, 14, 15]);

function metadataCarrier(metadata: grpc.Metadata): Record<string, string> {
  const carrier: Record<string, string> = {};
  for (const key of ['traceparent', 'tracestate']) {
    const [value] = metadata.get(key);
    if (typeof value === 'string') carrier[key] = value;
  }
  return carrier;
}
