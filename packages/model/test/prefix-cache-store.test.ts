import { describe, expect, it } from 'vitest';
import { PrefixCacheRowError, PrefixCacheStore } from '../src/prefix-cache-store.mjs';

const SHAPE = { layers: 2, kvHeads: 3, headDim: 4 };
const { layers: N, kvHeads: H, headDim: D } = SHAPE;

/** present_* [N, B, H, S, D] whose value names its own index: layer, row, head, position, dim. */
function present(batchSize: number, window: number, offset: number): Float32Array {
  const values = new Float32Array(N * batchSize * H * window * D);
  for (let n = 0; n < N; n++)
    for (let b = 0; b < batchSize; b++)
      for (let h = 0; h < H; h++)
        for (let s = 0; s < window; s++)
          for (let d = 0; d < D; d++)
            values[(((n * batchSize + b) * H + h) * window + s) * D + d] =
              offset + n * 10_000 + b * 1000 + h * 100 + s * 10 + d;
  return values;
}

const rows = (cacheIds: number[], cachedLengths: number[], keepLengths: number[]) => ({
  cacheIds: Int32Array.from(cacheIds),
  cachedLengths: Int32Array.from(cachedLengths),
  keepLengths: Int32Array.from(keepLengths),
});

describe('PrefixCacheStore', () => {
  it('keeps each row its leading positions and assembles them right-padded to the longest, masked', () => {
    const store = new PrefixCacheStore(SHAPE);
    // One refresh pass of two rows over a window of 5: row 0 keeps 3, row 1 keeps 2.
    store.keep(2, 5, rows([7, 8], [0, 0], [3, 2]), present(2, 5, 0), present(2, 5, 0.5));
    expect(store.size).toBe(2);
    expect(store.bytes).toBe((3 + 2) * 2 * N * H * D * 4);
    // Read back in the other order, beside a row with no cache.
    const past = store.assemble(3, rows([8, 9, 7], [2, 0, 3], [0, 0, 0]));
    expect(past.pastLength).toBe(3);
    expect([...past.mask]).toEqual([1n, 1n, 0n, 0n, 0n, 0n, 1n, 1n, 1n]);
    const at = (tensor: Float32Array, n: number, b: number, h: number, p: number, d: number) =>
      tensor[(((n * 3 + b) * H + h) * 3 + p) * D + d];
    // Row 2 of the pass reads what row 0 of the refresh kept; row 0 reads refresh row 1.
    expect(at(past.keys, 1, 2, 2, 2, 3)).toBe(1 * 10_000 + 0 * 1000 + 2 * 100 + 2 * 10 + 3);
    expect(at(past.values, 1, 0, 1, 1, 0)).toBe(0.5 + 1 * 10_000 + 1 * 1000 + 1 * 100 + 1 * 10);
    expect(at(past.keys, 0, 0, 0, 2, 0)).toBe(0); // padding
    expect(at(past.keys, 0, 1, 0, 0, 0)).toBe(0); // the row without a cache
  });

  it('assembles an empty past (P = 0) when no row reads a cache', () => {
    const past = new PrefixCacheStore(SHAPE).assemble(2, undefined);
    expect(past.pastLength).toBe(0);
    expect(past.keys).toHaveLength(0);
    expect(past.mask).toHaveLength(0);
  });

  it('refuses a row that reads a cache it does not hold, or at another length', () => {
    const store = new PrefixCacheStore(SHAPE);
    store.keep(1, 4, rows([1], [0], [4]), present(1, 4, 0), present(1, 4, 0));
    expect(() => store.assemble(1, rows([2], [4], [0]))).toThrow(PrefixCacheRowError);
    expect(() => store.assemble(1, rows([1], [3], [0]))).toThrow(/holds 4/);
  });

  it('frees released caches and drops those whose refresh failed', () => {
    const store = new PrefixCacheStore(SHAPE);
    store.keep(2, 4, rows([1, 2], [0, 0], [4, 4]), present(2, 4, 0), present(2, 4, 0));
    store.release([1, 99]);
    expect(store.lengthOf(1)).toBeUndefined();
    expect(store.bytes).toBe(4 * 2 * N * H * D * 4);
    store.dropRefreshed(1, rows([2], [0], [3]));
    expect(store.size).toBe(0);
    expect(store.bytes).toBe(0);
  });
});
