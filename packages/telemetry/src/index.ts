export { extractTraceContext, injectTraceCarrier, traceIdOf } from './trace-carrier.ts';
export type { TraceCarrier } from './trace-carrier.ts';
export { ATTR, SEMCONV, SPAN } from './span-names.ts';
export { tracer } from './tracer.ts';
