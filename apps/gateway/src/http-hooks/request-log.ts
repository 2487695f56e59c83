import { jobLogFields, type JobLogFields } from '@dfleet/telemetry';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Logger } from 'pino';
import type { FinishedGeneration } from '../completion-response.ts';
import { REQUEST_COMPLETED } from '../log-messages.ts';
import { REQUEST_ID_HEADER, setJobRequestId } from './request-id.ts';

/** What the request line says about the jobs that answered a request. */
interface AnsweringJobs {
  readonly job: JobLogFields;
  /** Completion tokens and decode steps, summed over the request's jobs. */
  readonly tokens: number;
  readonly steps: number;
}

declare module 'fastify' {
  interface FastifyRequest {
    /** Set by `answeredBy` once a route has its jobs' results; read by the request line. */
    answeringJobs: AnsweringJobs | null;
  }
}

export interface RequestLogOptions {
  /** Requests polled often (probes, the dashboard's refreshes): their lines go to debug, whatever the status. */
  readonly isQuiet: (path: string, status: number) => boolean;
}

/**
 * One log line per request, once it is answered, instead of Fastify's two (incoming, completed):
 * method, route, status, duration, and the job that answered it with its trace, tokens and steps.
 * A 5xx is a warning, so `LOG_LEVEL=warn` still shows the requests the fleet failed (an
 * unexpected error is logged at error level where it happens).
 */
export function logOneLinePerRequest(app: FastifyInstance, options: RequestLogOptions): void {
  app.decorateRequest('answeringJobs', null);
  app.addHook('onResponse', async (request, reply) => {
    const path = request.url.split('?')[0] ?? request.url;
    const status = reply.statusCode;
    const level = options.isQuiet(path, status) ? 'debug' : status >= 500 ? 'warn' : 'info';
    request.log[level](
      {
        method: request.method,
        route: request.routeOptions.url ?? path,
        status,
        durationMs: Math.round(reply.elapsedTime * 10) / 10,
        ...jobFieldsOf(request, reply),
      },
      REQUEST_COMPLETED,
    );
  });
}

/**
 * The jobs whose results answer this request: the first one's id goes in `x-request-id` (and the
 * request line, with its trace id), and the line sums their tokens and steps.
 */
export function answeredBy(reply: FastifyReply, finished: readonly FinishedGeneration[]): void {
  const [first] = finished;
  if (first === undefined) return;
  setJobRequestId(reply, first.jobId);
  noteAnsweringJobs(reply.request, finished);
}

/** `answeredBy` for a stream, whose headers went out before its jobs finished: the request line only. */
export function noteAnsweringJobs(request: FastifyRequest, finished: readonly FinishedGeneration[]): void {
  const [first] = finished;
  if (first === undefined) return;
  request.answeringJobs = {
    job: jobLogFields(first.jobId, first.job.traceContext),
    tokens: finished.reduce((sum, one) => sum + one.result.tokenIds.length, 0),
    steps: finished.reduce((sum, one) => sum + one.result.steps, 0),
  };
}

function jobFieldsOf(request: FastifyRequest, reply: FastifyReply): Record<string, string | number> {
  // A trace id already bound to the request's logger (the tracing hook) is on the line anyway.
  // The gateway hands Fastify a pino logger, so its request loggers are pino children.
  const bound = typeof (request.log as Logger).bindings().traceId === 'string';
  const jobs = request.answeringJobs;
  if (jobs !== null) {
    const { jobId, traceId } = jobs.job;
    return {
      jobId,
      ...(traceId === undefined || bound ? {} : { traceId }),
      tokens: jobs.tokens,
      steps: jobs.steps,
    };
  }
  // Failures (and streams that did not finish) name their job in the header only; it differs from the request's own id.
  const header = reply.getHeader(REQUEST_ID_HEADER);
  return typeof header === 'string' && header !== request.id ? { jobId: header } : {};
}
