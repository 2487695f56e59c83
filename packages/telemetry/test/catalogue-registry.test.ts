import { describe, expect, it } from 'vitest';
import { createCatalogueRegistry, type MetricSpec } from '../src/index.ts';

const CATALOGUE = {
  jobs: { name: 'test_jobs_total', type: 'counter', help: 'Jobs', labelNames: ['model'] },
  depth: { name: 'test_depth', type: 'gauge', help: 'Depth', labelNames: ['priority'] },
  idle: { name: 'test_idle', type: 'gauge', help: 'Idle', labelNames: [] },
  pass: { name: 'test_pass_seconds', type: 'histogram', help: 'Pass', labelNames: [], buckets: [0.01, 0.1] },
} as const satisfies Record<string, MetricSpec>;

describe('createCatalogueRegistry', () => {
  it('registers every entry with its type, help, labels and buckets, beside the process metrics', async () => {
    const { registry, metrics } = createCatalogueRegistry(CATALOGUE);
    metrics.jobs.inc({ model: 'm' }, 3);
    metrics.idle.set(2);
    metrics.pass.observe(0.05);
    const text = await registry.metrics();
    expect(text).toContain('# HELP test_jobs_total Jobs\n# TYPE test_jobs_total counter\ntest_jobs_total{model="m"} 3');
    expect(text).toContain('# TYPE test_depth gauge');
    expect(text).toContain('test_idle 2');
    expect(text).toContain('test_pass_seconds_bucket{le="0.01"} 0\ntest_pass_seconds_bucket{le="0.1"} 1');
    expect(text).toMatch(/^process_cpu_user_seconds_total \d/m);
  });

  it('reads a gauge with a collector at every scrape', async () => {
    let depth = 1;
    const { registry } = createCatalogueRegistry(CATALOGUE, {
      depth: (gauge) => gauge.set({ priority: 'batch' }, depth),
    });
    expect(await registry.metrics()).toContain('test_depth{priority="batch"} 1');
    depth = 5;
    expect(await registry.metrics()).toContain('test_depth{priority="batch"} 5');
  });

  it('builds registries that do not share metrics', async () => {
    const first = createCatalogueRegistry(CATALOGUE);
    const second = createCatalogueRegistry(CATALOGUE);
    first.metrics.jobs.inc({ model: 'm' });
    expect(await second.registry.metrics()).not.toContain('test_jobs_total{model="m"}');
  });
});
