import type { DenoiserBatch } from './denoiser.ts';

/** Options for `padBatch`. */
export interface PadBatchOptions {
  /**
   * Round the padded length up to a multiple of this, so batches of similar lengths share a
   * shape (fewer distinct shapes for onnxruntime to plan; on CUDA, fewer re-allocations).
   * @defaultValue 1 (pad to the longest row only)
   */
  readonly lengthMultiple?: number;
}

/** `n` rounded up to a multiple of `multiple`; `bucketLength(13, 8) === 16`. */
export function bucketLength(n: number, multiple: number): number {
  if (!Number.isInteger(n) || n < 0) throw new RangeError(`length must be an integer >= 0, got ${n}`);
  if (!Number.isInteger(multiple) || multiple < 1)
    throw new RangeError(`multiple must be an integer >= 1, got ${multiple}`);
  return Math.ceil(n / multiple) * multiple;
}

/**
 * Stacks rows into one right-padded batch: row r's ids sit at [r*L, r*L + row.length), the rest
 * of the row is `padId` with attention mask 0.
 */
export function padBatch(
  rows: readonly (Int32Array | readonly number[])[],
  padId: number,
  options: PadBatchOptions = {},
): DenoiserBatch {
  if (rows.length === 0) throw new RangeError('padBatch needs at least one row');
  let longest = 0;
  for (const row of rows) longest = Math.max(longest, row.length);
  if (longest === 0) throw new RangeError('padBatch needs at least one non-empty row');
  const sequenceLength = bucketLength(longest, options.lengthMultiple ?? 1);
  const batchSize = rows.length;
  const inputIds = new Int32Array(batchSize * sequenceLength).fill(padId);
  const attentionMask = new Uint8Array(batchSize * sequenceLength);
  for (const [r, row] of rows.entries()) {
    const offset = r * sequenceLength;
    inputIds.set(row, offset);
    attentionMask.fill(1, offset, offset + row.length);
  }
  return { batchSize, sequenceLength, inputIds, attentionMask };
}
