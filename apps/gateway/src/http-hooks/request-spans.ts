import { context, SpanKind, SpanStatusCode, trace, type Span } from '@opentelemetry/api';
import { extractTraceContext, SEMCONV, tracer } from '@dfleet/telemetry';
import type { FastifyInstance, FastifyRequest } from 'fastify';

/** The routes whose requests start a trace (or join the client's): the ones that enqueue a job. */
const TRACED_ROUTES: ReadonlySet<string> = new Set(['/v1/completions', '/v1/chat/completions']);

/**
 * A server span per completion request, a child of the client's `traceparent` when it sent one,
 * ended when the response (a stream too) has gone out. The handler runs with the span active, so
 * the job's enqueue, and through the job's carrier the worker's spans, are its children. The
 * request's log lines name its trace id.
 *
 * Manual rather than @fastify/otel: auto-instrumentation patches modules at import, which neither
 * our esbuild bundles nor plain ESM without loader hooks allow.
 */
export function traceCompletionRequests(app: FastifyInstance): void {
  const spans = new WeakMap<FastifyRequest, Span>();
  app.addHook('onRequest', (request, _reply, done) => {
    const route = request.routeOptions.url;
    if (route === undefined || !TRACED_ROUTES.has(route) || request.method !== 'POST') return done();
    const parent = extractTraceContext(request.headers);
    const span = tracer.startSpan(
      `POST ${route}`,
      {
        kind: SpanKind.SERVER,
        attributes: {
          [SEMCONV.httpRequestMethod]: 'POST',
          [SEMCONV.httpRoute]: route,
          [SEMCONV.urlPath]: request.url.split('?', 1)[0] ?? route,
        },
      },
      parent,
    );
    spans.set(request, span);
    const traceId = span.spanContext().traceId;
    request.log = request.log.child({ traceId });
    done();
  });
  // Callback style and last before the handler, so the handler (and every await in it) runs in
  // the span's context: the body parser before it runs on the socket's context, not ours.
  app.addHook('preHandler', (request, _reply, done) => {
    const span = spans.get(request);
    if (!span) return done();
    context.with(trace.setSpan(context.active(), span), done);
  });
  const end = (request: FastifyRequest, statusCode: number | null) => {
    const span = spans.get(request);
    if (!span) return;
    spans.delete(request);
    if (statusCode === null) {
      span.setStatus({ code: SpanStatusCode.ERROR, message: 'the client went away before the response ended' });
    } else {
      span.setAttribute(SEMCONV.httpResponseStatusCode, statusCode);
      if (statusCode >= 500) {
        span.setAttribute(SEMCONV.errorType, String(statusCode));
        span.setStatus({ code: SpanStatusCode.ERROR });
      }
    }
    span.end();
  };
  app.addHook('onResponse', (request, reply, done) => {
    end(request, reply.statusCode);
    done();
  });
  app.addHook('onRequestAbort', (request, done) => {
    end(request, null);
    done();
  });
}
