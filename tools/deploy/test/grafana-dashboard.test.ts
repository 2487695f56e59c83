import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { GATEWAY_METRICS, METRIC_CATALOGUE, WORKER_METRICS, seriesNamesOf } from '@dfleet/telemetry';
import { seriesSelectedBy } from '../src/promql-series.ts';

const DASHBOARD_FILE = fileURLToPath(new URL('../../../deploy/grafana/dfleet-fleet.json', import.meta.url));

interface Target {
  refId: string;
  expr: string;
  datasource?: { type: string; uid: string };
}
interface Panel {
  type: string;
  title: string;
  datasource?: { type: string; uid: string };
  targets?: Target[];
  panels?: Panel[];
}
interface Dashboard {
  __inputs: { name: string; type: string; pluginId: string }[];
  uid: string;
  schemaVersion: number;
  panels: Panel[];
}

const dashboard = JSON.parse(readFileSync(DASHBOARD_FILE, 'utf8')) as Dashboard;
const panels = dashboard.panels.flatMap((panel) => [panel, ...(panel.panels ?? [])]).filter((p) => p.type !== 'row');
const queries = panels.flatMap((panel) => (panel.targets ?? []).map((target) => ({ panel: panel.title, target })));
// biome-ignore lint/suspicious/noTemplateCurlyInString: Grafana's import placeholder, replaced by the data source chosen at import.
const PROMETHEUS = { type: 'prometheus', uid: '${DS_PROMETHEUS}' };

/** Every series the catalogue defines: a histogram's _bucket, _sum and _count, others by name. */
const catalogueSeries = new Set(METRIC_CATALOGUE.flatMap(seriesNamesOf));

describe('deploy/grafana/dfleet-fleet.json', () => {
  it('asks for its Prometheus data source at import and uses it in every panel and query', () => {
    expect(dashboard.__inputs).toEqual([
      expect.objectContaining({ name: 'DS_PROMETHEUS', type: 'datasource', pluginId: 'prometheus' }),
    ]);
    expect(dashboard.uid).toBe('dfleet-fleet');
    for (const panel of panels) expect(panel.datasource, panel.title).toEqual(PROMETHEUS);
    for (const { panel, target } of queries) expect(target.datasource, `${panel} ${target.refId}`).toEqual(PROMETHEUS);
  });

  it('queries only series the metric catalogue defines, each expression valid PromQL', () => {
    expect(queries.length).toBeGreaterThan(0);
    for (const { panel, target } of queries) {
      const series = seriesSelectedBy(target.expr);
      expect(series.length, `${panel} ${target.refId} selects a series`).toBeGreaterThan(0);
      expect(
        series.filter((name) => !catalogueSeries.has(name)),
        `${panel} ${target.refId}: ${target.expr}`,
      ).toEqual([]);
    }
  });

  it('shows queue depth, e2e p50/p99, tokens/s, batch occupancy, tokens per NFE and heartbeat age', () => {
    const expressions = queries.map(({ target }) => target.expr);
    const selected = new Set(expressions.flatMap(seriesSelectedBy));
    const g = GATEWAY_METRICS;
    const w = WORKER_METRICS;
    for (const name of [
      g.requestsWaiting.name,
      `${g.e2eLatency.name}_bucket`,
      g.generationTokens.name,
      `${w.batchRealTokens.name}_sum`,
      `${w.batchPaddedTokens.name}_sum`,
      `${w.batchRows.name}_sum`,
      `${w.tokensPerNfe.name}_sum`,
      w.heartbeatAge.name,
    ]) {
      expect(selected, name).toContain(name);
    }
    for (const quantile of ['0.5', '0.99']) {
      expect(expressions).toContainEqual(
        expect.stringMatching(new RegExp(`^histogram_quantile\\(${quantile}, .*${g.e2eLatency.name}_bucket`)),
      );
    }
  });
});

describe('seriesSelectedBy', () => {
  it('reads metric names from selectors, not from labels, functions or grouping', () => {
    expect(
      seriesSelectedBy('histogram_quantile(0.9, sum by (le) (rate(a_bucket{model="m"}[$__rate_interval]))) / max(b)'),
    ).toEqual(['a_bucket', 'b']);
  });

  it('refuses an expression that is not PromQL', () => {
    expect(() => seriesSelectedBy('sum(rate(a[5m])')).toThrow('not PromQL');
  });
});
