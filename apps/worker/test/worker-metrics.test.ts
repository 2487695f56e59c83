import { describe, expect, it } from 'vitest';
import type { BatchReport } from '@dfleet/scheduler';
import { WORKER_METRICS } from '@dfleet/telemetry';
import { WorkerMetrics, type WorkerGaugeSources } from '../src/worker-metrics.ts';

const w = WORKER_METRICS;
const lineOf = (text: string, series: string) => text.split('\n').find((line) => line.startsWith(`${series} `));
const valueIn = (text: string, series: string) => {
  const line = lineOf(text, series);
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
};

function passOf(
  rows: number,
  paddedTokens: number,
  realTokens: number,
  ms: number,
  kind: BatchReport['kind'] = 'full',
): BatchReport {
  return {
    step: 1,
    kind,
    cachedPositions: kind === 'cached' ? rows * 8 : 0,
    sessions: Array.from({ length: rows }) as unknown as BatchReport['sessions'],
    sequenceLength: paddedTokens / rows,
    paddedTokens,
    realTokens,
    deferred: 0,
    denoiseMs: ms * 0.75,
    applyMs: ms * 0.25,
  };
}

const sources = (overrides: Partial<WorkerGaugeSources> = {}): WorkerGaugeSources => ({
  lastHeartbeatAt: () => Date.now(),
  jobsInFlight: () => 0,
  thresholdOffset: () => 0,
  prefixCacheBytes: () => 0,
  ...overrides,
});

describe('worker metrics', () => {
  it('observes every forward pass: rows, padded and real tokens, and the time of denoise + apply', async () => {
    const metrics = new WorkerMetrics(sources());
    metrics.batch(passOf(3, 96, 70, 12));
    metrics.batch(passOf(1, 32, 20, 4));
    const text = await metrics.registry.metrics();
    expect(valueIn(text, `${w.batchRows.name}_count`)).toBe(2);
    expect(valueIn(text, `${w.batchRows.name}_sum`)).toBe(4);
    expect(valueIn(text, `${w.batchPaddedTokens.name}_sum`)).toBe(128);
    expect(valueIn(text, `${w.batchRealTokens.name}_sum`)).toBe(90);
    expect(valueIn(text, `${w.passSeconds.name}_sum`)).toBeCloseTo(0.016, 9);
    expect(valueIn(text, `${w.passSeconds.name}_bucket{le="0.005"}`)).toBe(1);
  });

  it('counts forward passes by kind and reads the prefix-cache bytes held when scraped', async () => {
    let held = 0;
    const metrics = new WorkerMetrics(sources({ prefixCacheBytes: () => held }));
    metrics.batch(passOf(2, 64, 60, 5));
    metrics.batch(passOf(2, 32, 30, 2, 'cached'));
    metrics.batch(passOf(1, 16, 10, 2, 'cached'));
    expect(valueIn(await metrics.registry.metrics(), w.prefixCacheBytes.name)).toBe(0);
    held = 4096;
    const text = await metrics.registry.metrics();
    expect(valueIn(text, `${w.forwardPasses.name}{kind="full"}`)).toBe(1);
    expect(valueIn(text, `${w.forwardPasses.name}{kind="cached"}`)).toBe(2);
    expect(valueIn(text, w.prefixCacheBytes.name)).toBe(4096);
  });

  it('observes each finished decode by model and strategy, skipping tokens per NFE for one that ran no pass', async () => {
    const metrics = new WorkerMetrics(sources());
    metrics.decoded({ model: 'm', strategy: 'threshold', steps: 4, nfe: 4, answerTokens: 12, effectiveThreshold: 0.8 });
    metrics.decoded({ model: 'm', strategy: 'reference', steps: 0, nfe: 0, answerTokens: 0 });
    const text = await metrics.registry.metrics();
    const threshold = '{model="m",strategy="threshold"}';
    expect(valueIn(text, `${w.decodeSteps.name}_sum${threshold}`)).toBe(4);
    expect(valueIn(text, `${w.tokensPerNfe.name}_sum${threshold}`)).toBe(3);
    expect(valueIn(text, `${w.decodeSteps.name}_count{model="m",strategy="reference"}`)).toBe(1);
    expect(lineOf(text, `${w.tokensPerNfe.name}_count{model="m",strategy="reference"}`)).toBeUndefined();
    expect(valueIn(text, `${w.workerGenerationTokens.name}{model="m"}`)).toBe(12);
    expect(valueIn(text, `${w.effectiveThreshold.name}_count{model="m"}`)).toBe(1);
  });

  it('reads heartbeat age, jobs in flight and the adaptive offset when scraped', async () => {
    let lastBeat = Date.now();
    let inFlight = 0;
    const metrics = new WorkerMetrics(
      sources({ lastHeartbeatAt: () => lastBeat, jobsInFlight: () => inFlight, thresholdOffset: () => 0.1 }),
    );
    const before = await metrics.registry.metrics();
    expect(valueIn(before, w.heartbeatAge.name)).toBeLessThan(4);
    expect(valueIn(before, w.jobsInFlight.name)).toBe(0);

    lastBeat = Date.now() - 4_000;
    inFlight = 3;
    metrics.callbackRetried();
    const after = await metrics.registry.metrics();
    expect(valueIn(after, w.heartbeatAge.name)).toBeGreaterThanOrEqual(4);
    expect(valueIn(after, w.heartbeatAge.name)).toBeLessThan(60);
    expect(valueIn(after, w.jobsInFlight.name)).toBe(3);
    expect(valueIn(after, w.adaptiveThresholdOffset.name)).toBe(0.1);
    expect(valueIn(after, w.callbackRetries.name)).toBe(1);
  });
});
