import type { Denoiser, DenoiserBatch, DenoiserOutput } from '../src/denoiser.ts';
import { SeededRng } from '../src/seeded-rng.ts';

/**
 * A denoiser whose logits at each canvas position are fixed in advance, whatever the canvas:
 * lets a test compute by hand which positions commit at each step. Records every input row.
 */
export class FixedLogitsDenoiser implements Denoiser {
  readonly inputs: number[][] = [];

  constructor(
    readonly vocabSize: number,
    /** logits[canvasPosition] = that position's logits over the vocabulary. */
    private readonly logits: readonly (readonly number[])[],
  ) {}

  async denoise(batch: DenoiserBatch): Promise<DenoiserOutput> {
    const { batchSize, sequenceLength } = batch;
    const out = new Float32Array(batchSize * sequenceLength * this.vocabSize);
    for (let row = 0; row < batchSize; row++) {
      this.inputs.push(Array.from(batch.inputIds.subarray(row * sequenceLength, (row + 1) * sequenceLength)));
      for (let i = 0; i < sequenceLength; i++) {
        const values = this.logits[i] ?? new Array<number>(this.vocabSize).fill(0);
        out.set(values, (row * sequenceLength + i) * this.vocabSize);
      }
    }
    return { batchSize, sequenceLength, vocabSize: this.vocabSize, logits: out };
  }
}

/**
 * Log-probabilities (0 -> -inf) followed by the mask token's logit. With the mask at -inf (the
 * default) the full softmax is exactly `probabilities`; a finite `maskLogit` puts mass on the
 * mask, which the confidence counts although the mask is never predicted.
 */
export function logitsFor(probabilities: readonly number[], maskLogit = -Infinity): number[] {
  return [...probabilities.map((p) => Math.log(p)), maskLogit];
}

export interface RandomDenoiserOptions {
  readonly seed: number;
  readonly vocabSize: number;
  /** Logit scale: larger makes predictions more confident. */
  readonly sharpness: number;
  /** Tokens given a large extra logit (e.g. mask, bos, pad: the decoder must still not predict them). */
  readonly favouredTokens?: readonly number[];
}

/**
 * Random logits from a seeded RNG, a function of (seed, the row's unpadded tokens, position)
 * only — like a real model behind an attention mask, so a row's logits do not depend on which
 * other rows share its batch or how it is padded.
 */
export class RandomDenoiser implements Denoiser {
  readonly vocabSize: number;
  calls = 0;
  private readonly rng = new SeededRng(0);

  constructor(private readonly options: RandomDenoiserOptions) {
    this.vocabSize = options.vocabSize;
  }

  async denoise(batch: DenoiserBatch): Promise<DenoiserOutput> {
    this.calls++;
    return this.logitsFor(batch);
  }

  logitsFor(batch: DenoiserBatch): DenoiserOutput {
    const { batchSize, sequenceLength } = batch;
    const { vocabSize, sharpness, seed, favouredTokens = [] } = this.options;
    const logits = new Float32Array(batchSize * sequenceLength * vocabSize);
    for (let row = 0; row < batchSize; row++) {
      let hash = 0x811c9dc5;
      let length = 0;
      for (let i = 0; i < sequenceLength; i++) {
        if (batch.attentionMask[row * sequenceLength + i] !== 1) continue;
        hash = Math.imul(hash ^ batch.inputIds[row * sequenceLength + i]!, 0x01000193) >>> 0;
        length++;
      }
      for (let i = 0; i < length; i++) {
        this.rng.reseed(seed * 7919 + hash, i);
        const base = (row * sequenceLength + i) * vocabSize;
        for (let v = 0; v < vocabSize; v++) logits[base + v] = sharpness * (this.rng.nextOpenUnit() * 2 - 1);
        for (const v of favouredTokens) logits[base + v] = sharpness * 2 + 5;
      }
    }
    return { batchSize, sequenceLength, vocabSize, logits };
  }
}
