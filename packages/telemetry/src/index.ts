export { jobLogFields } from './job-log-fields.ts';
export type { JobLogFields } from './job-log-fields.ts';
export { traceIdOf } from './trace-carrier.ts';
export type { TraceCarrier } from './trace-carrier.ts';
