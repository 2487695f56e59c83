import { describe, expect, it } from 'vitest';

import { jsonEqual } from '../src/index.ts';

describe('jsonEqual', () => {
  it('ignores the order of object keys', () => {
    expect(jsonEqual({ a: 1, b: [1, { c: null }] }, { b: [1, { c: null }], a: 1 })).toBe(true);
  });

  it('respects the order of array elements', () => {
    expect(jsonEqual([1, 2], [2, 1])).toBe(false);
  });

  it('tells apart values JSON keeps apart', () => {
    expect(jsonEqual(1, '1')).toBe(false);
    expect(jsonEqual(null, 0)).toBe(false);
    expect(jsonEqual([], {})).toBe(false);
    expect(jsonEqual({ a: 1 }, { a: 1, b: 2 })).toBe(false);
    expect(jsonEqual({ a: null }, { b: null })).toBe(false);
    expect(jsonEqual([[1]], [[1, 2]])).toBe(false);
  });
});
