import type { Job } from 'bullmq';
import { generationJobSchema } from '@dfleet/queue';
import { jobLogFields, type JobLogFields } from '@dfleet/telemetry';
import type { Logger } from './logger.ts';

const traceContextSchema = generationJobSchema.shape.traceContext;

type JobRef = Pick<Job, 'id' | 'data'>;

/**
 * A job's log fields: its id and, when its data carries a traceparent, its trace id. The carrier
 * is read on its own, so a job whose other fields are invalid (and that fails for it) still names
 * its trace.
 */
function jobLogFieldsOf(job: JobRef): JobLogFields {
  const carrier = traceContextSchema.safeParse((job.data as { traceContext?: unknown } | null)?.traceContext);
  return jobLogFields(job.id ?? '', carrier.success ? carrier.data : undefined);
}

/** The logger of one job's lines: each names the job and its trace. */
export function jobLoggerOf(logger: Logger, job: JobRef): Logger {
  return logger.child(jobLogFieldsOf(job));
}

/** `{ traceId }` when the job names a trace, else nothing: for a callback target. */
export function traceIdField(job: JobRef): Pick<JobLogFields, 'traceId'> {
  const { traceId } = jobLogFieldsOf(job);
  return traceId === undefined ? {} : { traceId };
}
