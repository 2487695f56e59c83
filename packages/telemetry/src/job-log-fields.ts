import { traceIdOf, type TraceCarrier } from './trace-carrier.ts';

/** The fields every log line about a job carries, in every process. */
export interface JobLogFields {
  readonly jobId: string;
  /** Absent until the job's carrier names a trace. */
  readonly traceId?: string;
}

/**
 * A job's log fields: its id, and its trace id once its carrier holds a valid traceparent. Apps
 * bind them once per job (`logger.child(jobLogFields(...))`) so no line about the job lacks them.
 */
export function jobLogFields(jobId: string, carrier: TraceCarrier | undefined): JobLogFields {
  const traceId = carrier === undefined ? undefined : traceIdOf(carrier);
  return traceId === undefined ? { jobId } : { jobId, traceId };
}
