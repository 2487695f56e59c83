import fc from 'fast-check';
import type { DecodeRequest, DecodingStrategy } from '../src/index.ts';
import { RandomDenoiser } from './fake-denoisers.ts';

// Vocabulary of V tokens; the last four are special: bos, pad, eos, mask. The fake favours
// mask, bos and pad with large logits, so the decoder must actively keep them out.
const specialsFor = (v: number) => ({ bos: v - 4, pad: v - 3, eos: v - 2, mask: v - 1 });

const strategyArb = (blocks: number, blockLength: number): fc.Arbitrary<DecodingStrategy> =>
  fc.oneof(
    fc.record({
      name: fc.constant('reference' as const),
      steps: fc.integer({ min: 1, max: blockLength }).map((perBlock) => perBlock * blocks),
      remasking: fc.constantFrom('low_confidence' as const, 'random' as const),
      earlyExit: fc.boolean(),
    }),
    fc.record({
      name: fc.constant('threshold' as const),
      threshold: fc.double({ min: 0, max: 1, minExcluded: true, noNaN: true }),
    }),
    fc.record({ name: fc.constant('factor' as const), factor: fc.double({ min: 0.01, max: 4, noNaN: true }) }),
    fc.record({ name: fc.constant('entropy-bounded' as const), gamma: fc.double({ min: 0, max: 3, noNaN: true }) }),
  );

/** A random request (every strategy, blocks, prompt, sampling, maybe a stop sequence) and a random denoiser. */
export const caseArb = fc
  .record({
    vocabSize: fc.integer({ min: 5, max: 14 }),
    blocks: fc.integer({ min: 1, max: 4 }),
    blockLength: fc.integer({ min: 1, max: 8 }),
    promptLength: fc.integer({ min: 0, max: 5 }),
    denoiserSeed: fc.nat(),
    sharpness: fc.double({ min: 0.1, max: 10, noNaN: true }),
    temperature: fc.constantFrom(0, 0.3, 1, 2),
    seed: fc.integer({ min: -(2 ** 40), max: 2 ** 40 }),
    withStopSequence: fc.boolean(),
    withContinuation: fc.boolean(),
  })
  .chain((c) =>
    fc.record({
      c: fc.constant(c),
      strategy: strategyArb(c.blocks, c.blockLength),
      promptIds: fc.array(fc.integer({ min: 0, max: c.vocabSize - 5 }), {
        minLength: c.promptLength,
        maxLength: c.promptLength,
      }),
      stopSequence: fc.array(fc.integer({ min: 0, max: c.vocabSize - 5 }), { minLength: 1, maxLength: 3 }),
    }),
  )
  .map(({ c, strategy, promptIds, stopSequence }) => {
    const specialTokens = specialsFor(c.vocabSize);
    const request: DecodeRequest = {
      promptIds,
      maxNewTokens: c.blocks * c.blockLength,
      blockLength: c.blockLength,
      strategy,
      temperature: c.temperature,
      seed: c.seed,
      stopSequences: c.withStopSequence ? [stopSequence] : [],
      specialTokens,
    };
    const denoiser = new RandomDenoiser({
      seed: c.denoiserSeed,
      vocabSize: c.vocabSize,
      sharpness: c.sharpness,
      favouredTokens: [specialTokens.mask, specialTokens.bos, specialTokens.pad],
    });
    // Room for two continuation blocks past the canvas, for the tests that let it grow.
    const bos = 1;
    const maxCanvasLength = c.withContinuation ? bos + promptIds.length + (c.blocks + 2) * c.blockLength : undefined;
    return { request, denoiser, maxCanvasLength };
  });
