import type { Denoiser, DenoiserBatch, DenoiserOutput } from '@dfleet/decoder';

/** Special token ids of the fake vocabulary. */
export const FAKE_TOKENS = { mask: 0, eos: 1, pad: 2, bos: 3 } as const;
const FAKE_VOCAB_SIZE = 16;

/**
 * A stand-in model for scheduler unit tests: each position's logits are a pseudo-random function
 * of its row's real (attended) tokens and the position, like a bidirectional model, and nothing
 * else. So a row's logits do not depend on its neighbours, its padding or the batch size; if a
 * job decodes differently batched than alone, the scheduler mixed something up.
 *
 * It also checks the batch it gets: right-padded rows, padding id under mask 0.
 */
export class RowHashDenoiser implements Denoiser {
  readonly vocabSize = FAKE_VOCAB_SIZE;
  readonly batches: DenoiserBatch[] = [];
  /** When set, each call waits for `release()` before answering. */
  gated = false;
  #waiting: (() => void)[] = [];
  #callListeners: (() => void)[] = [];
  failNext: Error | undefined;
  /** When set, any batch padded beyond this length throws, as a model past its position table does. */
  failBeyondLength: number | undefined;

  async denoise(batch: DenoiserBatch): Promise<DenoiserOutput> {
    this.batches.push(batch);
    for (const listener of this.#callListeners.splice(0)) listener();
    if (this.gated) await new Promise<void>((resolve) => this.#waiting.push(resolve));
    if (this.failBeyondLength !== undefined && batch.sequenceLength > this.failBeyondLength) {
      throw new Error(`sequence length ${batch.sequenceLength} is beyond ${this.failBeyondLength} positions`);
    }
    if (this.failNext) {
      const error = this.failNext;
      this.failNext = undefined;
      throw error;
    }
    const { batchSize, sequenceLength, inputIds, attentionMask } = batch;
    const V = this.vocabSize;
    const logits = new Float32Array(batchSize * sequenceLength * V);
    for (let r = 0; r < batchSize; r++) {
      const offset = r * sequenceLength;
      let length = 0;
      while (length < sequenceLength && attentionMask[offset + length] === 1) length++;
      for (let p = length; p < sequenceLength; p++) {
        if (attentionMask[offset + p] !== 0 || inputIds[offset + p] !== FAKE_TOKENS.pad) {
          throw new Error(`row ${r} is not right-padded with pad id under attention mask 0 at ${p}`);
        }
      }
      let rowHash = 0x811c9dc5;
      for (let p = 0; p < length; p++) rowHash = Math.imul(rowHash ^ inputIds[offset + p]!, 0x01000193) >>> 0;
      for (let p = 0; p < length; p++) {
        let state = (rowHash ^ Math.imul(p + 1, 0x9e3779b1)) >>> 0;
        for (let v = 0; v < V; v++) {
          state = Math.imul(state ^ (state >>> 15), 0x2c1b3c6d) >>> 0;
          state = (state ^ (state >>> 12)) >>> 0;
          // Spread of ~6 nats: some positions are confident, some are not.
          logits[(offset + p) * V + v] = (state / 0xffffffff) * 6;
        }
      }
    }
    return { batchSize, sequenceLength, vocabSize: V, logits };
  }

  /** Resolves when the next `denoise` call arrives. */
  nextCall(): Promise<void> {
    return new Promise((resolve) => this.#callListeners.push(resolve));
  }

  /** Lets every gated call answer. */
  release(): void {
    for (const resolve of this.#waiting.splice(0)) resolve();
  }
}
