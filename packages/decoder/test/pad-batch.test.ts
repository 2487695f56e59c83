import { describe, expect, it } from 'vitest';
import { bucketLength, padBatch } from '../src/index.ts';

describe('padBatch', () => {
  it('right-pads rows to the longest one and masks the padding', () => {
    const batch = padBatch([[5, 6, 7], new Int32Array([8])], 0);
    expect(batch.batchSize).toBe(2);
    expect(batch.sequenceLength).toBe(3);
    expect([...batch.inputIds]).toEqual([5, 6, 7, 8, 0, 0]);
    expect([...batch.attentionMask]).toEqual([1, 1, 1, 1, 0, 0]);
  });

  it('rounds the length up to the bucket multiple', () => {
    const batch = padBatch([[1, 2, 3, 4, 5, 6, 7, 8, 9]], 9, { lengthMultiple: 8 });
    expect(batch.sequenceLength).toBe(16);
    expect([...batch.inputIds.subarray(9)]).toEqual(new Array(7).fill(9));
    expect([...batch.attentionMask.subarray(8, 10)]).toEqual([1, 0]);
  });

  it('refuses an empty batch', () => {
    expect(() => padBatch([], 0)).toThrow(RangeError);
    expect(() => padBatch([[]], 0)).toThrow(RangeError);
  });
});

describe('bucketLength', () => {
  it('rounds up to a multiple and keeps exact multiples', () => {
    expect(bucketLength(13, 8)).toBe(16);
    expect(bucketLength(16, 8)).toBe(16);
    expect(bucketLength(1, 1)).toBe(1);
  });

  it('rejects a multiple below one', () => {
    expect(() => bucketLength(5, 0)).toThrow(RangeError);
  });
});
