import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { decode, decodeBatch } from '../src/index.ts';
import type { DecodeRequest, StepReport } from '../src/index.ts';
import { RandomDenoiser } from './fake-denoisers.ts';

const VOCAB = 12;
const specialTokens = { mask: 11, eos: 10, pad: 9, bos: 8 };
const denoiser = () => new RandomDenoiser({ seed: 3, vocabSize: VOCAB, sharpness: 4, favouredTokens: [11, 8, 9] });

const jobs: DecodeRequest[] = [
  {
    promptIds: [1, 2, 3],
    maxNewTokens: 8,
    blockLength: 4,
    strategy: { name: 'reference', steps: 4 },
    temperature: 0.7,
    seed: 1,
    specialTokens,
  },
  {
    promptIds: [4],
    maxNewTokens: 12,
    blockLength: 4,
    strategy: { name: 'threshold', threshold: 0.5 },
    temperature: 1,
    seed: 2,
    specialTokens,
  },
  {
    promptIds: [5, 6, 7, 1, 2],
    maxNewTokens: 6,
    strategy: { name: 'entropy-bounded', gamma: 0.5 },
    seed: 3,
    specialTokens,
  },
  {
    promptIds: [],
    maxNewTokens: 10,
    blockLength: 5,
    strategy: { name: 'factor', factor: 2 },
    temperature: 2,
    seed: 4,
    specialTokens,
  },
];

describe('decodeBatch', () => {
  it('decodes every job in the batch to exactly the tokens it gets alone with the same seed', async () => {
    const batched = await decodeBatch(denoiser(), jobs);
    const alone = await Promise.all(jobs.map((job) => decode(denoiser(), job)));
    expect(batched).toEqual(alone);
    // The jobs really ran together and finished at different steps.
    expect(new Set(batched.map((r) => r.steps)).size).toBeGreaterThan(1);
  });

  it('runs one forward pass per step over the unfinished jobs', async () => {
    const model = denoiser();
    const steps: Array<[number, StepReport]> = [];
    const results = await decodeBatch(model, jobs, { onStep: (index, report) => steps.push([index, report]) });
    expect(model.calls).toBe(Math.max(...results.map((r) => r.steps)));
    results.forEach((result, index) => {
      expect(steps.filter(([i]) => i === index).length).toBe(result.steps);
    });
  });

  it('cancels every unfinished job when the signal aborts', async () => {
    const controller = new AbortController();
    const results = await decodeBatch(denoiser(), jobs, {
      signal: controller.signal,
      onStep: (_, report) => report.step === 1 && controller.abort(),
    });
    expect(results.every((r) => r.steps === 1)).toBe(true);
    expect(results.map((r) => r.finishReason)).toContain('cancelled');
  });

  it('matches decoding alone for any mix of jobs (property)', async () => {
    const job = fc.record({
      promptIds: fc.array(fc.integer({ min: 0, max: 7 }), { maxLength: 5 }),
      blockLength: fc.integer({ min: 1, max: 4 }),
      blocks: fc.integer({ min: 1, max: 3 }),
      name: fc.constantFrom('reference', 'threshold', 'factor', 'entropy-bounded' as const),
      temperature: fc.constantFrom(0, 0.5, 1),
      seed: fc.nat(),
    });
    await fc.assert(
      fc.asyncProperty(fc.array(job, { minLength: 1, maxLength: 4 }), async (specs) => {
        const requests: DecodeRequest[] = specs.map((s) => ({
          promptIds: s.promptIds,
          maxNewTokens: s.blockLength * s.blocks,
          blockLength: s.blockLength,
          strategy: { name: s.name },
          temperature: s.temperature,
          seed: s.seed,
          specialTokens,
        }));
        const batched = await decodeBatch(denoiser(), requests);
        const alone = await Promise.all(requests.map((r) => decode(denoiser(), r)));
        expect(batched).toEqual(alone);
      }),
      { numRuns: 60, seed: 20250 },
    );
  });
});
