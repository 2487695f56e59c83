import { describe, expect, it } from 'vitest';
import { selectGpus } from '../src/gpu-devices.ts';

describe('selectGpus', () => {
  it('takes every present GPU for "all"', () => {
    expect(selectGpus('all', [0, 1, 2])).toEqual([0, 1, 2]);
  });

  it('means one CPU worker when "all" finds no GPU', () => {
    expect(selectGpus('all', [])).toEqual([]);
  });

  it('pins the listed GPUs once each', () => {
    expect(selectGpus('0,2,2', [0, 1, 2])).toEqual([0, 2]);
  });

  it('refuses a GPU that is not present instead of falling back to CPU', () => {
    expect(() => selectGpus('3', [0, 1])).toThrow(/names GPU 3, but GPUs present: 0, 1/);
    expect(() => selectGpus('0', [])).toThrow(/no GPU was found/);
  });

  it('explains the accepted forms for a malformed list', () => {
    expect(() => selectGpus('gpu0', [0])).toThrow(/"all" or a comma-separated list/);
  });
});
