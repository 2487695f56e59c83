import { describe, expect, it } from 'vitest';
import { createBlockCandidates } from '../src/block-candidates.ts';
import { decode } from '../src/index.ts';
import type { DecodeRequest, DecodingStrategy } from '../src/index.ts';
import { predictTokens } from '../src/predict-tokens.ts';
import { SeededRng } from '../src/seeded-rng.ts';
import { FixedLogitsDenoiser, logitsFor } from './fake-denoisers.ts';

// Vocabulary: A B C EOS MASK UNK; empty prompt, no bos, so canvas position = answer position.
const [A, B, C, EOS, MASK, UNK] = [0, 1, 2, 3, 4, 5] as const;
const VOCAB = 6;

/** One position's prediction from a logits row, with MASK and UNK suppressed. */
function predict(row: readonly number[]) {
  const suppressed = new Uint8Array(VOCAB);
  suppressed[MASK] = 1;
  suppressed[UNK] = 1;
  const candidates = createBlockCandidates(1);
  candidates.count = 1;
  predictTokens(Float32Array.from(row), VOCAB, 0, suppressed, 0, new SeededRng(0), candidates);
  return { token: candidates.token[0]!, confidence: candidates.confidence[0]!, entropy: candidates.entropy[0]! };
}

async function committedPerStep(strategy: DecodingStrategy, logits: number[][]) {
  const request: DecodeRequest = {
    promptIds: [],
    maxNewTokens: logits.length,
    strategy,
    specialTokens: { mask: MASK, eos: EOS, unk: UNK },
  };
  const steps: number[][] = [];
  const result = await decode(new FixedLogitsDenoiser(VOCAB, logits), request, {
    onStep: (r) => steps.push(Array.from(r.committedPositions)),
  });
  return { steps, result };
}

describe('confidence and entropy follow LLaDA / Fast-dLLM', () => {
  // softmax = (A 0.3, B 0.1, C 0, EOS 0, MASK 0.4, UNK 0.2): 60% of the mass is on suppressed tokens.
  const row = [Math.log(0.3), Math.log(0.1), -Infinity, -Infinity, Math.log(0.4), Math.log(0.2)];

  it('takes the confidence from the full softmax, suppressed tokens included', () => {
    const { token, confidence } = predict(row);
    expect(token).toBe(A);
    // Renormalised over the predictable tokens it would be 0.3 / 0.4 = 0.75.
    expect(confidence).toBeCloseTo(0.3, 6);
  });

  it('takes the entropy from the full softmax too', () => {
    const expected = -[0.3, 0.1, 0.4, 0.2].reduce((sum, p) => sum + p * Math.log(p), 0);
    expect(predict(row).entropy).toBeCloseTo(expected, 6);
  });

  it('excludes suppressed tokens from the argmax only', () => {
    // MASK and UNK have the largest logits; the prediction is the best token that may be emitted.
    expect(predict([0, 1, 0.5, 0, 9, 8]).token).toBe(B);
  });

  it('lets mass on a suppressed token keep a position below the threshold', async () => {
    // Both positions predict A with 0.3 / (0.3 + 0.1) = 0.75 among emittable tokens, but only
    // 0.3 of the full softmax, so at tau 0.5 they are committed one per step, not together.
    const { steps } = await committedPerStep({ name: 'threshold', threshold: 0.5 }, [row, row]);
    expect(steps).toEqual([[0], [1]]);
  });
});

describe('unk suppression', () => {
  it('never predicts unk, however likely the model makes it', async () => {
    const unkFavoured = [0, 0.1, 0.2, -1, -Infinity, 12];
    const { result } = await committedPerStep({ name: 'reference' }, [unkFavoured, unkFavoured, unkFavoured]);
    expect(result.tokenIds).toEqual([C, C, C]);
    expect(result.tokenIds).not.toContain(UNK);
  });
});

describe('deviations from the reference code, stated', () => {
  /** x0 = token with full-softmax probability p, the rest spread over A..EOS. */
  const confident = (token: number, p: number) =>
    logitsFor([0, 1, 2, 3].map((v) => (v === token ? p : (1 - p) / 3))).concat(-Infinity);

  it('factor: does not commit the last-ranked candidate when only it fails (Fast-dLLM does)', async () => {
    // f = 1, thresholds 1 - 1/(i + 1): i = 2 -> 0.667, i = 3 -> 0.75. Sorted 0.9, 0.8, 0.7: only
    // the last (0.7 < 0.75) fails. Fast-dLLM's get_transfer_index_dynamic breaks at top_i = 2 =
    // len - 1 and then adds one (`if top_i == 0 or top_i == len(threshs) - 1: top_i += 1`), so it
    // commits all three; we apply the rule as the paper states it and commit two.
    const { steps } = await committedPerStep({ name: 'factor', factor: 1 }, [
      confident(A, 0.9),
      confident(B, 0.8),
      confident(C, 0.7),
    ]);
    expect(steps).toEqual([[0, 1], [2]]);
  });
});
