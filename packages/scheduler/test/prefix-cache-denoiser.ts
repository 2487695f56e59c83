import type {
  Denoiser,
  DenoiserBatch,
  DenoiserOutput,
  LogitsOutput,
  PrefixCacheRow,
  PrefixCacheSupport,
} from '@dfleet/decoder';
import { RowHashDenoiser } from './row-hash-denoiser.ts';

/**
 * A prefix-caching stand-in for scheduler unit tests. It keeps, per cache id, the canvas tokens
 * a refresh asked it to keep; a cached row's canvas is those tokens followed by the row's window,
 * and its logits are RowHashDenoiser's for that whole canvas, sliced to the window. So the cache
 * here is exact: a job decodes to the same tokens cached as uncached unless the scheduler sent a
 * wrong window, a wrong cached length or a cache it had released (which this throws on).
 */
export class PrefixCacheDenoiser implements Denoiser {
  readonly vocabSize: number;
  readonly batches: DenoiserBatch[] = [];
  readonly released: number[] = [];
  readonly prefixCache: PrefixCacheSupport;
  /** Kept canvas tokens per cache id. */
  readonly caches = new Map<number, Int32Array>();
  /** When set, a pass with a cached row whose canvas holds this token throws (a poison job). */
  poisonToken: number | undefined;
  /** When set, the next pass with a cached row throws. */
  failNextCachedPass: Error | undefined;
  /** When set, the next pass with a cached row returns NaN logits for it (its session throws). */
  nanNextCachedPass = false;
  readonly #rows = new RowHashDenoiser();

  constructor(readonly bytesPerPosition = 100) {
    this.vocabSize = this.#rows.vocabSize;
    this.prefixCache = {
      bytesPerPosition,
      release: (cacheId) => {
        this.released.push(cacheId);
        this.caches.delete(cacheId);
      },
    };
  }

  /** Bytes the caches take now, as the denoiser counts them. */
  get heldBytes(): number {
    let positions = 0;
    for (const cache of this.caches.values()) positions += cache.length;
    return positions * this.bytesPerPosition;
  }

  async denoise(batch: DenoiserBatch): Promise<DenoiserOutput> {
    this.batches.push(batch);
    const { batchSize, sequenceLength, inputIds, attentionMask } = batch;
    const cacheRows = batch.prefixCache;
    if (cacheRows === undefined || cacheRows.length !== batchSize) {
      throw new Error(`a prefix-cached denoiser needs one cache instruction per row, got ${cacheRows?.length}`);
    }
    const canvases = cacheRows.map((instruction, r) => {
      let length = 0;
      while (length < sequenceLength && attentionMask[r * sequenceLength + length] === 1) length++;
      const window = inputIds.subarray(r * sequenceLength, r * sequenceLength + length);
      return this.#canvas(instruction, window, r);
    });
    const cachedRows = cacheRows.map((row) => row.cachedLength > 0);
    if (cachedRows.some(Boolean)) {
      if (this.failNextCachedPass) {
        const error = this.failNextCachedPass;
        this.failNextCachedPass = undefined;
        throw error;
      }
      if (
        this.poisonToken !== undefined &&
        canvases.some((canvas, r) => cachedRows[r] && canvas.includes(this.poisonToken!))
      ) {
        throw new Error('poison row in a cached pass');
      }
    }
    const nan = this.nanNextCachedPass && cachedRows.some(Boolean);
    if (nan) this.nanNextCachedPass = false;
    const V = this.vocabSize;
    const logits = new Float32Array(batchSize * sequenceLength * V);
    for (const [r, canvas] of canvases.entries()) {
      const whole = (await this.#rows.denoise({
        batchSize: 1,
        sequenceLength: canvas.length,
        inputIds: canvas,
        attentionMask: new Uint8Array(canvas.length).fill(1),
      })) as LogitsOutput;
      const { cachedLength, keepLength } = cacheRows[r]!;
      logits.set(whole.logits.subarray(cachedLength * V), r * sequenceLength * V);
      if (nan && cachedLength > 0) logits.fill(Number.NaN, r * sequenceLength * V, (r + 1) * sequenceLength * V);
      if (keepLength > 0) this.caches.set(cacheRows[r]!.cacheId, canvas.slice(0, keepLength));
    }
    return { batchSize, sequenceLength, vocabSize: V, logits };
  }

  /** The row's whole canvas: its cache's tokens, then its window. */
  #canvas({ cacheId, cachedLength, keepLength }: PrefixCacheRow, window: Int32Array, r: number): Int32Array {
    if (cachedLength === 0) {
      if (keepLength > window.length) throw new Error(`row ${r} keeps ${keepLength} of ${window.length} positions`);
      return window;
    }
    if (keepLength !== 0) throw new Error(`row ${r} reads a cache and keeps one: only a full row may refresh`);
    const cache = this.caches.get(cacheId);
    if (cache === undefined)
      throw new Error(`row ${r} reads cache ${cacheId}, which is not held (never kept or released)`);
    if (cache.length !== cachedLength) {
      throw new Error(`row ${r} reads ${cachedLength} cached positions; cache ${cacheId} holds ${cache.length}`);
    }
    const canvas = new Int32Array(cachedLength + window.length);
    canvas.set(cache);
    canvas.set(window, cachedLength);
    return canvas;
  }
}
