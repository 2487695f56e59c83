import { describe, expect, it } from 'vitest';
import { GATEWAY_METRICS, METRIC_CATALOGUE, WORKER_METRICS, seriesNamesOf } from '../src/index.ts';

/** vLLM's names (vllm/v1/metrics/loggers.py, docs/design/metrics.md) that the gateway mirrors. */
const VLLM_MIRRORED = [
  'num_requests_waiting',
  'num_requests_running',
  'e2e_request_latency_seconds',
  'request_queue_time_seconds',
  'time_to_first_token_seconds',
  'prompt_tokens_total',
  'generation_tokens_total',
  'request_success_total',
];

describe('the metric catalogue', () => {
  it("holds vLLM's request metrics under vLLM's names with the dfleet_ prefix, on the gateway", () => {
    const gatewayNames = Object.values(GATEWAY_METRICS).map((spec) => spec.name);
    for (const vllmName of VLLM_MIRRORED) expect(gatewayNames).toContain(`dfleet_${vllmName}`);
  });

  it('gives every series one name in the fleet: no two metrics, nor a histogram suffix, collide', () => {
    const series = METRIC_CATALOGUE.flatMap(seriesNamesOf);
    expect(new Set(series).size).toBe(series.length);
    for (const spec of METRIC_CATALOGUE) expect(spec.name).toMatch(/^dfleet_[a-z][a-z0-9_]*$/);
  });

  it('names counters *_total and uses base units (seconds) for durations', () => {
    for (const spec of METRIC_CATALOGUE) {
      expect(spec.name.endsWith('_total'), spec.name).toBe(spec.type === 'counter');
      expect(spec.name, spec.name).not.toMatch(/_(ms|milliseconds|minutes)$/);
    }
  });

  it('gives histograms strictly ascending, finite buckets', () => {
    for (const spec of METRIC_CATALOGUE) {
      if (spec.type !== 'histogram') continue;
      expect(spec.buckets.length, spec.name).toBeGreaterThan(3);
      spec.buckets.forEach((bound, i) => {
        expect(Number.isFinite(bound), spec.name).toBe(true);
        if (i > 0) expect(bound, spec.name).toBeGreaterThan(spec.buckets[i - 1] as number);
      });
    }
  });

  it('spans a forward pass from an H100 (a few ms) to a slow CPU, and e2e latency from 10 ms to minutes', () => {
    const pass = WORKER_METRICS.passSeconds.buckets;
    expect(pass[0]).toBeLessThanOrEqual(0.001);
    expect(pass.filter((bound) => bound > 0.005 && bound <= 0.02).length).toBeGreaterThanOrEqual(4);
    const e2e = GATEWAY_METRICS.e2eLatency.buckets;
    expect(e2e[0]).toBeLessThanOrEqual(0.01);
    expect(e2e[e2e.length - 1]).toBeGreaterThanOrEqual(120);
  });

  it('never labels by tenant, job or prompt (only bounded sets: models, classes, strategies, reasons, codes, pass kinds)', () => {
    for (const spec of METRIC_CATALOGUE) {
      for (const label of spec.labelNames)
        expect(['model', 'priority', 'strategy', 'finish_reason', 'code', 'kind']).toContain(label);
    }
  });
});
