import { describe, expect, it } from 'vitest';
import { decode } from '../src/index.ts';
import type { DecodeRequest, DecodingStrategy } from '../src/index.ts';
import { FixedLogitsDenoiser, logitsFor } from './fake-denoisers.ts';

// Vocabulary: A B C EOS MASK; empty prompt, no bos, so canvas position = answer position.
const [A, B, C, EOS, MASK] = [0, 1, 2, 3, 4] as const;

/** Logits whose x0 is `token` with softmax probability `p` (the rest spread evenly). */
function confident(token: number, p: number): number[] {
  const probabilities = [0, 1, 2, 3].map((v) => (v === token ? p : (1 - p) / 3));
  return logitsFor(probabilities);
}

async function committedPerStep(strategy: DecodingStrategy, logits: number[][], blockLength = logits.length) {
  const request: DecodeRequest = {
    promptIds: [],
    maxNewTokens: logits.length,
    blockLength,
    strategy,
    specialTokens: { mask: MASK, eos: EOS },
  };
  const steps: number[][] = [];
  const result = await decode(new FixedLogitsDenoiser(5, logits), request, {
    onStep: (r) => steps.push(Array.from(r.committedPositions)),
  });
  return { steps, result };
}

describe('threshold strategy (Fast-dLLM)', () => {
  it('commits every position at or above tau in one step', async () => {
    const { steps } = await committedPerStep({ name: 'threshold', threshold: 0.9 }, [
      confident(A, 0.95),
      confident(B, 0.92),
      confident(C, 0.5),
    ]);
    expect(steps).toEqual([[0, 1], [2]]);
  });

  it('commits the most confident position when none passes the threshold', async () => {
    const { steps, result } = await committedPerStep({ name: 'threshold', threshold: 0.9 }, [
      confident(A, 0.6),
      confident(B, 0.95),
      confident(C, 0.5),
    ]);
    // Step 1: only pos 1 passes. Step 2: 0.6 and 0.5 fail, the more confident pos 0 is taken anyway.
    expect(steps).toEqual([[1], [0], [2]]);
    expect(result.tokenIds).toEqual([A, B, C]);
  });

  it('never commits outside the current block, however confident', async () => {
    const { steps } = await committedPerStep(
      { name: 'threshold', threshold: 0.9 },
      [confident(A, 0.5), confident(B, 0.6), confident(C, 0.99), confident(A, 0.99)],
      2,
    );
    expect(steps).toEqual([[1], [0], [2, 3]]);
  });

  it('defaults tau to 0.9', async () => {
    const { steps } = await committedPerStep({ name: 'threshold' }, [
      confident(A, 0.91),
      confident(B, 0.89),
      confident(C, 0.2),
    ]);
    expect(steps).toEqual([[0], [1], [2]]);
  });
});

describe('factor strategy (Fast-dLLM)', () => {
  it('accepts the longest sorted prefix with c_i >= 1 - f / (i + 1)', async () => {
    // f = 1: thresholds for i = 2, 3, 4 are 0.667, 0.75, 0.8. Sorted: 0.9 (pos 0), 0.85 (pos 3),
    // 0.7 (pos 1), 0.6 (pos 2) -> 0.85 passes, 0.7 fails: commit pos 0 and 3. Then 0.7, 0.6:
    // 0.6 < 0.667 -> commit pos 1 alone; then pos 2.
    const { steps } = await committedPerStep({ name: 'factor', factor: 1 }, [
      confident(A, 0.9),
      confident(B, 0.7),
      confident(C, 0.6),
      confident(A, 0.85),
    ]);
    expect(steps).toEqual([[0, 3], [1], [2]]);
  });

  it('commits one token when even the most confident is below 1 - f / 2', async () => {
    const { steps } = await committedPerStep({ name: 'factor', factor: 0.5 }, [
      confident(A, 0.3),
      confident(B, 0.3),
      confident(C, 0.3),
    ]);
    expect(steps).toEqual([[0], [1], [2]]);
  });

  it('commits more per step with a larger factor', async () => {
    // f = 2: thresholds 0.333, 0.5, 0.6 for i = 2, 3, 4: all of 0.9, 0.7, 0.6, 0.85 pass.
    const { steps } = await committedPerStep({ name: 'factor', factor: 2 }, [
      confident(A, 0.9),
      confident(B, 0.7),
      confident(C, 0.6),
      confident(A, 0.85),
    ]);
    expect(steps).toEqual([[0, 1, 2, 3]]);
  });
});

describe('entropy-bounded strategy (EB-sampler)', () => {
  // Entropies in nats: pos 0 one-hot H = 0; pos 1 (0.5, 0.5) H = ln 2 = 0.693;
  // pos 2 (0.9, 0.1) H = 0.325; pos 3 uniform over 4 H = ln 4 = 1.386.
  const logits = [
    logitsFor([1, 0, 0, 0]),
    logitsFor([0.5, 0.5, 0, 0]),
    logitsFor([0.1, 0.9, 0, 0]),
    logitsFor([0.25, 0.25, 0.25, 0.25]),
  ];

  it('commits by ascending entropy while the sum minus the max stays within gamma', async () => {
    // gamma 0.5: {0, 2} -> 0; {0, 2, 1} -> 0 + 0.325 = 0.325 ok; + pos 3 -> 1.018 too much.
    const { steps, result } = await committedPerStep({ name: 'entropy-bounded', gamma: 0.5 }, logits);
    expect(steps).toEqual([[0, 1, 2], [3]]);
    expect(result.tokenIds).toEqual([A, A, B, A]);
  });

  it('commits fewer per step with a smaller gamma', async () => {
    // gamma 0.1: {0, 2} -> 0 ok; adding pos 1 -> 0.325 > 0.1. Then {1, 3}: 0.693 > 0.1 -> pos 1.
    const { steps } = await committedPerStep({ name: 'entropy-bounded', gamma: 0.1 }, logits);
    expect(steps).toEqual([[0, 2], [1], [3]]);
  });

  it('commits at least the least uncertain position when gamma is 0', async () => {
    const { steps } = await committedPerStep({ name: 'entropy-bounded', gamma: 0 }, [logits[1]!, logits[3]!]);
    expect(steps).toEqual([[0], [1]]);
  });
});
