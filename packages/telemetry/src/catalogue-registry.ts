import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { CounterSpec, GaugeSpec, HistogramSpec, MetricSpec } from './metric-catalogue.ts';

type LabelsOf<S> = S extends { readonly labelNames: readonly (infer L extends string)[] } ? L : never;

/** The prom-client metric a catalogue entry becomes, typed by its labels. */
export type MetricOf<S> = S extends CounterSpec
  ? Counter<LabelsOf<S>>
  : S extends GaugeSpec
    ? Gauge<LabelsOf<S>>
    : S extends HistogramSpec
      ? Histogram<LabelsOf<S>>
      : never;

export type CatalogueMetrics<C extends Record<string, MetricSpec>> = { readonly [K in keyof C]: MetricOf<C[K]> };

/** Read at scrape time: a gauge whose value lives elsewhere (a queue depth, a heartbeat's age). */
export type GaugeCollector<S> = (gauge: Gauge<LabelsOf<S>>) => void | Promise<void>;

export type GaugeCollectors<C extends Record<string, MetricSpec>> = {
  readonly [K in keyof C as C[K] extends GaugeSpec ? K : never]?: GaugeCollector<C[K]>;
};

export interface CatalogueRegistry<C extends Record<string, MetricSpec>> {
  readonly registry: Registry;
  readonly metrics: CatalogueMetrics<C>;
}

/**
 * A registry holding every metric of `catalogue`, plus prom-client's process metrics (CPU,
 * memory, event-loop lag). Gauges named in `collectors` are read when scraped.
 */
export function createCatalogueRegistry<C extends Record<string, MetricSpec>>(
  catalogue: C,
  collectors: GaugeCollectors<C> = {},
): CatalogueRegistry<C> {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  const byKey = collectors as Partial<Record<string, GaugeCollector<GaugeSpec>>>;
  const metrics = Object.fromEntries(
    Object.entries(catalogue).map(([key, spec]) => [key, metricOf(spec, registry, byKey[key])]),
  ) as unknown as CatalogueMetrics<C>;
  return { registry, metrics };
}

function metricOf(
  spec: MetricSpec,
  registry: Registry,
  collector: GaugeCollector<GaugeSpec> | undefined,
): Counter | Gauge | Histogram {
  const common = { name: spec.name, help: spec.help, labelNames: [...spec.labelNames], registers: [registry] };
  switch (spec.type) {
    case 'counter':
      return new Counter(common);
    case 'histogram':
      return new Histogram({ ...common, buckets: [...spec.buckets] });
    case 'gauge':
      return collector
        ? new Gauge({
            ...common,
            collect() {
              return collector(this);
            },
          })
        : new Gauge(common);
  }
}
