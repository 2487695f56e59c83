import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { createDecodeSession, decode } from '../src/index.ts';
import { caseArb } from './random-cases.ts';

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
