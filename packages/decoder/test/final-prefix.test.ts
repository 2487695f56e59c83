import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { decode } from '../src/index.ts';
import type { DecodeRequest, StepReport } from '../src/index.ts';
import { caseArb } from './random-cases.ts';

describe('finalPrefix in step reports, over random denoisers, strategies, caps, continuation and stop sequences', () => {
  it('never decreases, only covers tokens the final answer has there, and equals the answer length at the finish', async () => {
    await fc.assert(
      fc.asyncProperty(
        caseArb,
        fc.option(fc.integer({ min: 1, max: 40 }), { nil: undefined }),
        async ({ request, denoiser, maxCanvasLength }, cap) => {
          const decodeRequest: DecodeRequest = {
            ...request,
            ...(maxCanvasLength === undefined ? {} : { maxCanvasLength }),
            ...(cap === undefined ? {} : { maxAnswerTokens: cap }),
          };
          const reports: StepReport[] = [];
          const result = await decode(denoiser, decodeRequest, { onStep: (report) => reports.push(report) });

          // Rebuild the answer from the reports alone, as a stream does, and check each final prefix against the result.
          const rebuilt = new Map<number, number>();
          let previous = 0;
          for (const report of reports) {
            report.committedPositions.forEach((position, i) => {
              rebuilt.set(position, report.committedTokens[i]!);
            });
            expect(report.finalPrefix).toBeGreaterThanOrEqual(previous);
            expect(report.finalPrefix).toBeLessThanOrEqual(result.tokenIds.length);
            for (let p = 0; p < report.finalPrefix; p++) expect(rebuilt.get(p)).toBe(result.tokenIds[p]);
            previous = report.finalPrefix;
          }
          const last = reports.at(-1);
          expect(last?.finished).toBe(true);
          expect(last?.finalPrefix).toBe(result.tokenIds.length);
          expect(last?.answerLength).toBeGreaterThanOrEqual(result.tokenIds.length);
          // Every answer token was committed by the step tokenSteps names.
          result.tokenSteps.forEach((step, p) => {
            expect(Array.from(reports[step - 1]!.committedPositions)).toContain(p);
          });
        },
      ),
      { numRuns: 300, seed: 2024 },
    );
  });
});
