import { describe, expect, it } from 'vitest';
import { percentile, summarizeLatencies } from '../src/fleet-status/latency-summary.ts';

describe('percentiles of the last minute', () => {
  it('takes the nearest rank: the smallest value that p% of the values do not exceed', () => {
    const sorted = Array.from({ length: 200 }, (_, i) => i + 1);
    expect(percentile(sorted, 50)).toBe(100);
    expect(percentile(sorted, 99)).toBe(198);
    expect(percentile([10, 20, 30, 40], 50)).toBe(20);
  });

  it('gives the slowest job as p99 of fewer than a hundred jobs, and the one job for both of one', () => {
    expect(summarizeLatencies([5, 900, 40])).toEqual({ count: 3, p50: 40, p99: 900 });
    expect(summarizeLatencies([7])).toEqual({ count: 1, p50: 7, p99: 7 });
  });

  it('sorts what it is given, whatever the order the jobs finished in', () => {
    const durations = [30, 10, 50, 20, 40];
    expect(summarizeLatencies(durations)).toEqual({ count: 5, p50: 30, p99: 50 });
    expect(durations).toEqual([30, 10, 50, 20, 40]);
  });

  it('has no summary when no job finished', () => {
    expect(summarizeLatencies([])).toBeUndefined();
  });
});
