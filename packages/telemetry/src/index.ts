export { jobLogFields } from './job-log-fields.ts';
export type { JobLogFields } from './job-log-fields.ts';
export { GATEWAY_METRICS, WORKER_METRICS, METRIC_CATALOGUE, seriesNamesOf } from './metric-catalogue.ts';
export type {
  CounterSpec,
  GaugeSpec,
  HistogramSpec,
  MetricService,
  MetricSpec,
  MetricType,
} from './metric-catalogue.ts';
export { createCatalogueRegistry } from './catalogue-registry.ts';
export type {
  CatalogueMetrics,
  CatalogueRegistry,
  GaugeCollector,
  GaugeCollectors,
  MetricOf,
} from './catalogue-registry.ts';
export { METRIC_TABLE_MARKERS, renderMetricTable } from './metric-table.ts';
export { extractTraceContext, injectTraceCarrier, traceIdOf } from './trace-carrier.ts';
export type { TraceCarrier } from './trace-carrier.ts';
export { ATTR, SEMCONV, SPAN } from './span-names.ts';
export { tracer } from './tracer.ts';
