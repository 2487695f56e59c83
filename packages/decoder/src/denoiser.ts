/**
 * A batch of canvases for one forward pass. Rows are right-padded to `sequenceLength`;
 * `attentionMask` is 1 for a real token and 0 for padding.
 */
export interface DenoiserBatch {
  readonly batchSize: number;
  readonly sequenceLength: number;
  /** Row-major [batchSize, sequenceLength] token ids. */
  readonly inputIds: Int32Array;
  /** Row-major [batchSize, sequenceLength]; 1 = attend, 0 = padding. */
  readonly attentionMask: Uint8Array;
}

/** Logits for every position of every row: row-major [batchSize, sequenceLength, vocabSize]. */
export interface DenoiserOutput {
  readonly batchSize: number;
  readonly sequenceLength: number;
  readonly vocabSize: number;
  readonly logits: Float32Array;
}

/**
 * The model as the decoder sees it: one forward pass (one NFE) over a batch of canvases.
 * Bidirectional: every position's logits depend on the whole (unpadded) row.
 */
export interface Denoiser {
  readonly vocabSize: number;
  denoise(batch: DenoiserBatch): Promise<DenoiserOutput>;
}
