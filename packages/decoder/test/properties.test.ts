import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { createDecodeSession, decode } from '../src/index.ts';
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

const caseArb = fc
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
  })
  .chain((c) =>
    fc.record({
      c: fc.constant(c),
      strategy: strategyArb(c.blocks, c.blockLength),
      promptIds: fc.array(fc.integer({ min: 0, max: c.vocabSize - 5 }), {
        minLength: c.promptLength,
        maxLength: c.promptLength,
      }),
      stopSequence: fc.array(fc.integer({ min: 0, max: c.vocabSize - 5 }), { minLength: 1, maxLength: 2 }),
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
    return { request, denoiser };
  });

describe('every strategy, over random denoisers, lengths, blocks and knobs', () => {
  it('terminates within L steps, never un-commits a token, and never emits a mask, bos or pad', () => {
    fc.assert(
      fc.property(caseArb, ({ request, denoiser }) => {
        const L = request.maxNewTokens;
        const { mask, bos, pad } = request.specialTokens;
        const session = createDecodeSession(request, denoiser.vocabSize);
        const attentionMask = new Uint8Array(session.canvas.length).fill(1);
        while (!session.finished) {
          expect(session.steps).toBeLessThan(L);
          const before = session.canvas.slice();
          const { logits } = denoiser.logitsFor({
            batchSize: 1,
            sequenceLength: before.length,
            inputIds: before,
            attentionMask,
          });
          const report = session.applyLogits(logits);

          // Exactly the reported positions changed, each from mask to a real token; nothing else moved.
          expect(report.committedPositions.length).toBeGreaterThan(0);
          const changed = Array.from(before).flatMap((token, i) =>
            session.canvas[i] === token ? [] : [i - session.answerOffset],
          );
          expect(changed).toEqual(Array.from(report.committedPositions));
          report.committedPositions.forEach((p, r) => {
            expect(before[session.answerOffset + p]).toBe(mask);
            expect(session.canvas[session.answerOffset + p]).toBe(report.committedTokens[r]);
            expect([mask, bos, pad]).not.toContain(report.committedTokens[r]);
          });
        }
        const result = session.result();
        expect(result.nfe).toBeLessThanOrEqual(L);
        expect(result.nfe).toBe(result.steps);
        expect(result.committedPerStep.length).toBe(result.steps);
        if (request.strategy.name === 'reference' && !request.strategy.earlyExit)
          expect(result.nfe).toBe(request.strategy.steps);
        for (const token of result.tokenIds) expect([mask, bos, pad, request.specialTokens.eos]).not.toContain(token);
        // The answer is a committed prefix of the canvas.
        expect(
          Array.from(session.canvas.subarray(session.answerOffset, session.answerOffset + result.tokenIds.length)),
        ).toEqual(result.tokenIds);
        expect(result.finishReason === 'eos').toBe(
          session.canvas[session.answerOffset + result.tokenIds.length] === request.specialTokens.eos,
        );
      }),
      { numRuns: 300, seed: 4242 },
    );
  });

  it('decodes the same answer twice for the same seed (decode loop, with a max-steps cap)', async () => {
    await fc.assert(
      fc.asyncProperty(caseArb, fc.integer({ min: 1, max: 6 }), async ({ request, denoiser }, maxSteps) => {
        const capped = { ...request, maxSteps };
        const first = await decode(denoiser, capped);
        expect(await decode(denoiser, capped)).toEqual(first);
        expect(first.steps).toBeLessThanOrEqual(maxSteps);
        if (first.finishReason === 'max_steps') expect(first.steps).toBe(maxSteps);
        expect(first.tokenIds).not.toContain(request.specialTokens.mask);
      }),
      { numRuns: 100, seed: 777 },
    );
  });
});
