import { describe, expect, it } from 'vitest';
import { createDecodeSession } from '../src/index.ts';
import { SeededRng } from '../src/seeded-rng.ts';

/** How often each token is sampled at a single answer position with these probabilities. */
function sampledFrequencies(probabilities: number[], temperature: number, runs: number): number[] {
  const vocabSize = probabilities.length + 1; // + mask
  const logits = new Float32Array([...probabilities.map(Math.log), 0]);
  const counts = new Array<number>(probabilities.length).fill(0);
  for (let seed = 0; seed < runs; seed++) {
    const session = createDecodeSession(
      {
        promptIds: [],
        maxNewTokens: 1,
        strategy: { name: 'reference' },
        temperature,
        seed,
        specialTokens: { mask: vocabSize - 1, eos: 0 },
      },
      vocabSize,
    );
    session.applyLogits(logits);
    counts[session.canvas[0]!]!++;
  }
  return counts.map((count) => count / runs);
}

describe('Gumbel-max sampling', () => {
  it('samples from softmax(logits) at temperature 1', () => {
    const frequencies = sampledFrequencies([0.5, 0.3, 0.2], 1, 3000);
    [0.5, 0.3, 0.2].forEach((p, v) => {
      expect(Math.abs(frequencies[v]! - p)).toBeLessThan(0.04);
    });
  });

  it('samples from softmax(logits / T), sharper below 1', () => {
    // p^(1/0.5) = p^2, renormalised: 0.25, 0.09, 0.04 over 0.38.
    const frequencies = sampledFrequencies([0.5, 0.3, 0.2], 0.5, 3000);
    [0.25 / 0.38, 0.09 / 0.38, 0.04 / 0.38].forEach((p, v) => {
      expect(Math.abs(frequencies[v]! - p)).toBeLessThan(0.04);
    });
  });

  it('takes the argmax at temperature 0', () => {
    expect(sampledFrequencies([0.2, 0.5, 0.3], 0, 20)).toEqual([0, 1, 0]);
  });
});

describe('seeded RNG', () => {
  it('repeats a sequence for the same (seed, stream) and differs across seeds and streams', () => {
    const draw = (seed: number, stream: number) => {
      const rng = new SeededRng(seed, stream);
      return Array.from({ length: 8 }, () => rng.nextUint32());
    };
    expect(draw(7, 3)).toEqual(draw(7, 3));
    expect(draw(7, 3)).not.toEqual(draw(8, 3));
    expect(draw(7, 3)).not.toEqual(draw(7, 4));
    expect(draw(2 ** 40, 0)).not.toEqual(draw(0, 0));
  });

  it('restarts the sequence on reseed', () => {
    const rng = new SeededRng(5, 1);
    const first = [rng.nextUint32(), rng.nextUint32()];
    rng.reseed(5, 1);
    expect([rng.nextUint32(), rng.nextUint32()]).toEqual(first);
  });

  it('draws uniforms strictly inside (0, 1)', () => {
    const rng = new SeededRng(1);
    let sum = 0;
    for (let i = 0; i < 10_000; i++) {
      const u = rng.nextOpenUnit();
      expect(u > 0 && u < 1).toBe(true);
      sum += u;
    }
    expect(Math.abs(sum / 10_000 - 0.5)).toBeLessThan(0.02);
  });
});
