export { traceIdOf } from './trace-carrier.ts';
export type { TraceCarrier } from './trace-carrier.ts';
