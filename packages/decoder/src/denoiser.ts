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
  /**
   * The canvas positions each row's session reads this step, for a denoiser whose model computes
   * its predictions only there (`DenoiserOutputForm.positions`). Absent: every position.
   */
  readonly positions?: BatchPositions;
  /**
   * One entry per row, for a denoiser with a prefix cache (`Denoiser.prefixCache`): row r's
   * `inputIds` are then its window, canvas positions [cachedLength, cachedLength + its length),
   * and `positions` name window slots. Absent: no row reads or keeps a cache.
   */
  readonly prefixCache?: readonly PrefixCacheRow[];
}

/** What one row of a pass does with its decode's prefix cache. */
export interface PrefixCacheRow {
  /** The decode's cache inside the denoiser: any integer, unique among the decodes alive. */
  readonly cacheId: number;
  /**
   * Leading canvas positions whose keys and values come from the cache this pass; the row's ids
   * start after them. 0: the row reads no cache (a full pass over its canvas).
   */
  readonly cachedLength: number;
  /**
   * After this pass, keep the keys and values of the row's first `keepLength` positions as the
   * decode's cache, replacing any it had (a refresh). 0: leave the cache as it is. Only on a row
   * with `cachedLength` 0, whose window is the whole canvas.
   */
  readonly keepLength: number;
}

/** A denoiser that keeps decodes' prefix caches between passes (Fast-dLLM's prefix cache). */
export interface PrefixCacheSupport {
  /** Bytes one cached position takes: its keys and values in every layer. */
  readonly bytesPerPosition: number;
  /** Frees a decode's cache (before its next pass, if one is in flight); an unknown id is a no-op. */
  release(cacheId: number): void;
}

/** Row-major [batchSize, perRow] canvas positions; a row with fewer repeats its last one. */
export interface BatchPositions {
  readonly perRow: number;
  readonly values: Int32Array;
}

/** Logits for every position of every row: row-major [batchSize, sequenceLength, vocabSize]. */
export interface LogitsOutput {
  /** Absent on denoisers written before the reduced form; means the same. */
  readonly form?: 'logits';
  readonly batchSize: number;
  readonly sequenceLength: number;
  readonly vocabSize: number;
  readonly logits: Float32Array;
}

/**
 * What a model reduced inside its graph computes per position, instead of the logits (see
 * @dfleet/model's reduced contract). Every array is row-major [batchSize, perRow] (top-k:
 * [batchSize, perRow, topK]); slot s of row r is canvas position `positions[r * perRow + s]`, or
 * s itself when `positions` is absent (then perRow is the sequence length).
 */
export interface PredictionsOutput {
  readonly form: 'predictions';
  readonly batchSize: number;
  readonly perRow: number;
  readonly positions?: Int32Array;
  /** Argmax over the ids the decoder may emit (ties: the lowest id). */
  readonly token: Int32Array;
  /** softmax(logits)[token] over the FULL vocabulary. */
  readonly confidence: Float32Array;
  /** Entropy in nats of that full softmax. */
  readonly entropy: Float32Array;
  /** K; 0 when the model has no top-k outputs. */
  readonly topK: number;
  /** The K best emittable ids, best first. */
  readonly topKIds?: Int32Array;
  /** Their raw logits. */
  readonly topKLogits?: Float32Array;
}

export type DenoiserOutput = LogitsOutput | PredictionsOutput;

/** One row of a `PredictionsOutput`, as a session consumes it: the same arrays, sliced to the row. */
export interface RowPredictions
  extends Pick<PredictionsOutput, 'token' | 'confidence' | 'entropy' | 'topK' | 'topKIds' | 'topKLogits'> {
  /** Slots in this row. */
  readonly count: number;
  /** Canvas position of each slot; absent: slot s is canvas position s. */
  readonly positions?: Int32Array;
}

/**
 * Which output a denoiser produces. `positions`: it computes predictions only at the positions a
 * batch names (`DenoiserBatch.positions`).
 */
export type DenoiserOutputForm =
  | { readonly form: 'logits' }
  | { readonly form: 'predictions'; readonly topK: number; readonly positions: boolean };

export const LOGITS_FORM: DenoiserOutputForm = { form: 'logits' };

/**
 * The model as the decoder sees it: one forward pass (one NFE) over a batch of canvases.
 * Bidirectional: every position's output depends on the whole (unpadded) row.
 */
export interface Denoiser {
  readonly vocabSize: number;
  /** @defaultValue `LOGITS_FORM` */
  readonly outputForm?: DenoiserOutputForm;
  /** Present when the denoiser can keep prefix caches (`DenoiserBatch.prefixCache`). */
  readonly prefixCache?: PrefixCacheSupport;
  denoise(batch: DenoiserBatch): Promise<DenoiserOutput>;
}

/** Row `row` of a predictions output. */
export function rowPredictions(output: PredictionsOutput, row: number): RowPredictions {
  const { perRow, topK } = output;
  const slice = <T extends Int32Array | Float32Array>(values: T, width: number): T =>
    values.subarray(row * perRow * width, (row + 1) * perRow * width) as T;
  return {
    count: perRow,
    ...(output.positions ? { positions: slice(output.positions, 1) } : {}),
    token: slice(output.token, 1),
    confidence: slice(output.confidence, 1),
    entropy: slice(output.entropy, 1),
    topK,
    ...(output.topKIds ? { topKIds: slice(output.topKIds, topK) } : {}),
    ...(output.topKLogits ? { topKLogits: slice(output.topKLogits, topK) } : {}),
  };
}
