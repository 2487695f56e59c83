import { getStringFromEnv } from '@opentelemetry/core';
import { OTLPTraceExporter as GrpcTraceExporter } from '@opentelemetry/exporter-trace-otlp-grpc';
import { OTLPTraceExporter as JsonTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { OTLPTraceExporter as ProtobufTraceExporter } from '@opentelemetry/exporter-trace-otlp-proto';
import { detectResources, envDetector, resourceFromAttributes } from '@opentelemetry/resources';
import { ATTR_SERVICE_NAME } from '@opentelemetry/semantic-conventions';
import {
  AlwaysOffSampler,
  BatchSpanProcessor,
  NodeTracerProvider,
  type SpanExporter,
} from '@opentelemetry/sdk-trace-node';

/** A started tracer provider; `shutdown` flushes spans still buffered, then stops exporting. */
export interface Tracing {
  shutdown(): Promise<void>;
}

const PROTOCOLS = ['http/json', 'http/protobuf', 'grpc'] as const;
type OtlpProtocol = (typeof PROTOCOLS)[number];

/**
 * Registers the tracer provider of an app process, configured only by the standard OTEL_*
 * variables: OTEL_EXPORTER_OTLP_(TRACES_)ENDPOINT, _PROTOCOL, _HEADERS, _TIMEOUT, OTEL_SERVICE_NAME,
 * OTEL_RESOURCE_ATTRIBUTES, OTEL_TRACES_SAMPLER(_ARG), OTEL_BSP_*, OTEL_SDK_DISABLED.
 *
 * With no endpoint set nothing is exported, but spans still get ids (sampled out, never
 * recorded), so every job carries a trace id for its log lines in both processes. Call once,
 * before the app starts serving; libraries never import this module.
 */
export function startTracing(options: { defaultServiceName: string }): Tracing {
  if (getStringFromEnv('OTEL_SDK_DISABLED')?.toLowerCase() === 'true') {
    return { shutdown: async () => {} };
  }
  const resource = resourceFromAttributes({ [ATTR_SERVICE_NAME]: options.defaultServiceName }).merge(
    detectResources({ detectors: [envDetector] }),
  );
  const exporter = exporterFromEnv();
  const provider =
    exporter === null
      ? // Sampled out: ids are made and propagated (flag 00), nothing is recorded or buffered.
        new NodeTracerProvider({ resource, sampler: new AlwaysOffSampler() })
      : new NodeTracerProvider({ resource, spanProcessors: [new BatchSpanProcessor(exporter)] });
  provider.register();
  return { shutdown: () => provider.shutdown() };
}

/** The OTLP exporter the environment asks for; null when it asks for none or names no endpoint. */
function exporterFromEnv(): SpanExporter | null {
  // Only OTLP is wired: any value but `none` means it.
  if (getStringFromEnv('OTEL_TRACES_EXPORTER') === 'none') return null;
  // The exporters default to localhost:4318 without an endpoint; dfleet exports only when told where.
  const endpoint =
    getStringFromEnv('OTEL_EXPORTER_OTLP_TRACES_ENDPOINT') ?? getStringFromEnv('OTEL_EXPORTER_OTLP_ENDPOINT');
  if (endpoint === undefined) return null;
  const protocol = protocolFromEnv();
  // Each exporter reads the endpoint, headers, timeout and compression from the environment itself.
  switch (protocol) {
    case 'http/json':
      return new JsonTraceExporter();
    case 'http/protobuf':
      return new ProtobufTraceExporter();
    case 'grpc':
      return new GrpcTraceExporter();
  }
}

function protocolFromEnv(): OtlpProtocol {
  const value =
    getStringFromEnv('OTEL_EXPORTER_OTLP_TRACES_PROTOCOL') ??
    getStringFromEnv('OTEL_EXPORTER_OTLP_PROTOCOL') ??
    'http/protobuf';
  if ((PROTOCOLS as readonly string[]).includes(value)) return value as OtlpProtocol;
  throw new Error(
    `OTEL_EXPORTER_OTLP_PROTOCOL must be one of ${PROTOCOLS.join(', ')}; got "${value}" (unset means http/protobuf)`,
  );
}
