import { trace, type Tracer } from '@opentelemetry/api';

/**
 * The tracer every dfleet span comes from. Through the API's proxy it records once an app
 * started the SDK (`@dfleet/telemetry/sdk`), and is a no-op before that or without it.
 */
export const tracer: Tracer = trace.getTracer('dfleet');
