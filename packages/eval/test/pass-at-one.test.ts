import { describe, expect, it } from 'vitest';

import { passAtOne, summarizeByFamily } from '../src/index.ts';
import type { UntrustedRunResult } from '../src/index.ts';

const tasks = [
  { id: 'a', family: 'map' },
  { id: 'b', family: 'map' },
  { id: 'c', family: 'filter' },
  { id: 'd', family: 'filter' },
];
const results: UntrustedRunResult[] = [
  { id: 'a', passed: true, detail: '' },
  { id: 'b', passed: false, error: 'timeout', detail: '' },
  { id: 'c', passed: true, detail: '' },
  { id: 'd', passed: true, detail: '' },
];

describe('passAtOne', () => {
  it('is the fraction of results that passed', () => {
    expect(passAtOne(results)).toBe(0.75);
  });

  it('is 0 for no results rather than NaN', () => {
    expect(passAtOne([])).toBe(0);
  });
});

describe('summarizeByFamily', () => {
  it('tallies each family and each failure kind', () => {
    const summary = summarizeByFamily(tasks, results);
    expect(summary.passAtOne).toBe(0.75);
    expect(summary.byFamily).toEqual({
      filter: { total: 2, passed: 2, passAtOne: 1 },
      map: { total: 2, passed: 1, passAtOne: 0.5 },
    });
    expect(summary.failures).toEqual({ timeout: 1, memory: 0, syntax: 0, runtime: 0, wrong_answer: 0 });
  });

  it('refuses a result that matches no task', () => {
    expect(() => summarizeByFamily(tasks.slice(1), results)).toThrow(/"a" matches no task/);
  });
});
