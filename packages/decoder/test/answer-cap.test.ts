import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { decode } from '../src/index.ts';
import type { DecodeRequest, DecodeResult, DecodingStrategy, StepReport } from '../src/index.ts';
import { FixedLogitsDenoiser, logitsFor } from './fake-denoisers.ts';
import { caseArb } from './random-cases.ts';

/** What the cap must give: the uncapped answer cut to `cap`, "length" when it was longer. */
function expectCutOf(capped: DecodeResult, uncapped: DecodeResult, cap: number): void {
  expect(capped.tokenIds).toEqual(uncapped.tokenIds.slice(0, cap));
  expect(capped.tokenSteps).toEqual(uncapped.tokenSteps.slice(0, cap));
  expect(capped.finishReason).toBe(uncapped.tokenIds.length > cap ? 'length' : uncapped.finishReason);
  expect(capped.steps).toBeLessThanOrEqual(uncapped.steps);
}

describe('maxAnswerTokens over random denoisers, strategies, blocks and stop sequences', () => {
  it('gives the uncapped answer cut to the cap for every cap, with "length" exactly when it was longer', async () => {
    await fc.assert(
      fc.asyncProperty(caseArb, fc.boolean(), async ({ request, denoiser, maxCanvasLength }, grow) => {
        const base: DecodeRequest = grow && maxCanvasLength !== undefined ? { ...request, maxCanvasLength } : request;
        const uncapped = await decode(denoiser, base);
        const longest = maxCanvasLength ?? request.maxNewTokens + request.promptIds.length + 1;
        for (let cap = 1; cap <= longest + 1; cap++) {
          expectCutOf(await decode(denoiser, { ...base, maxAnswerTokens: cap }), uncapped, cap);
        }
      }),
      { numRuns: 150, seed: 1111 },
    );
  });
});

// Vocabulary: A B C EOS MASK; empty prompt, no bos, so canvas position = answer position.
const [A, B, C, EOS, MASK] = [0, 1, 2, 3, 4] as const;
const THRESHOLD: DecodingStrategy = { name: 'threshold', threshold: 0.9 };

function confident(token: number, p: number): number[] {
  return logitsFor([0, 1, 2, 3].map((v) => (v === token ? p : (1 - p) / 3)));
}

function request(length: number, overrides: Partial<DecodeRequest> = {}): DecodeRequest {
  return {
    promptIds: [],
    maxNewTokens: length,
    strategy: THRESHOLD,
    specialTokens: { mask: MASK, eos: EOS },
    ...overrides,
  };
}

async function decodeWithReports(
  denoiser: FixedLogitsDenoiser,
  decodeRequest: DecodeRequest,
): Promise<{ result: DecodeResult; reports: StepReport[] }> {
  const reports: StepReport[] = [];
  const result = await decode(denoiser, decodeRequest, { onStep: (report) => reports.push(report) });
  return { result, reports };
}

describe('maxAnswerTokens, crafted steps', () => {
  it('finishes "length" as soon as the first cap + 1 tokens are committed, without decoding the rest', async () => {
    // Step 1 commits pos 0-2 (confident); pos 3-7 would take one step each.
    const logits = [A, B, C]
      .map((t) => confident(t, 0.95))
      .concat([0, 1, 2, 3, 4].map((i) => confident(A, 0.5 - i * 0.05)));
    const { result } = await decodeWithReports(new FixedLogitsDenoiser(5, logits), request(8, { maxAnswerTokens: 2 }));
    expect(result).toMatchObject({ tokenIds: [A, B], finishReason: 'length', steps: 1, tokenSteps: [1, 1] });
  });

  it('keeps decoding while the token after the cap is masked, since it may be the eos', async () => {
    // Pos 0-1 commit at step 1; pos 2 is an eos committed at step 2: the answer is exactly the cap long.
    const logits = [confident(A, 0.95), confident(B, 0.95), confident(EOS, 0.6), confident(C, 0.5)];
    const { result } = await decodeWithReports(new FixedLogitsDenoiser(5, logits), request(4, { maxAnswerTokens: 2 }));
    expect(result).toMatchObject({ tokenIds: [A, B], finishReason: 'eos', steps: 2 });
  });

  it('waits for a stop sequence that starts before the cap and ends after it, and reports "stop" when it completes', async () => {
    // Step 1 commits A B (pos 0-1); [B, C] may start at pos 1 < cap 2; step 2 commits C at pos 2.
    const logits = [confident(A, 0.95), confident(B, 0.95), confident(C, 0.6), confident(A, 0.5)];
    const stopped = await decodeWithReports(
      new FixedLogitsDenoiser(5, logits),
      request(4, { maxAnswerTokens: 2, stopSequences: [[B, C]] }),
    );
    expect(stopped.result).toMatchObject({ tokenIds: [A], finishReason: 'stop', steps: 2 });
    // Nothing past the possible stop start is final meanwhile.
    expect(stopped.reports.map((r) => r.finalPrefix)).toEqual([1, 1]);
  });

  it('rules out a straddling stop sequence as soon as a committed token after the cap contradicts it', async () => {
    // Step 1 commits A B A (pos 0-2): [B, C] cannot start at pos 1, so cap 2 is exceeded at once.
    const logits = [confident(A, 0.95), confident(B, 0.95), confident(A, 0.95), confident(C, 0.5)];
    const { result } = await decodeWithReports(
      new FixedLogitsDenoiser(5, logits),
      request(4, { maxAnswerTokens: 2, stopSequences: [[B, C]] }),
    );
    expect(result).toMatchObject({ tokenIds: [A, B], finishReason: 'length', steps: 1 });
  });

  it('cuts an answer whose eos lies past the cap with "length", and keeps "eos" when the eos sits right at the cap', async () => {
    const logits = [confident(A, 0.95), confident(B, 0.95), confident(C, 0.95), confident(EOS, 0.95)];
    const past = await decode(new FixedLogitsDenoiser(5, logits), request(4, { maxAnswerTokens: 2 }));
    expect(past).toMatchObject({ tokenIds: [A, B], finishReason: 'length' });
    const atCap = await decode(new FixedLogitsDenoiser(5, logits), request(4, { maxAnswerTokens: 3 }));
    expect(atCap).toMatchObject({ tokenIds: [A, B, C], finishReason: 'eos' });
  });

  it('keeps the reference strategy at its fixed step count unless earlyExit, with the same cut answer', async () => {
    const logits = [A, B, C, A].map((t, i) => confident(t, 0.99 - i * 0.01));
    const strategy = { name: 'reference', steps: 4 } as const;
    const full = await decode(new FixedLogitsDenoiser(5, logits), request(4, { strategy, maxAnswerTokens: 1 }));
    expect(full).toMatchObject({ tokenIds: [A], finishReason: 'length', nfe: 4 });
    const early = await decode(
      new FixedLogitsDenoiser(5, logits),
      request(4, { strategy: { ...strategy, earlyExit: true }, maxAnswerTokens: 1 }),
    );
    expect(early).toMatchObject({ tokenIds: [A], finishReason: 'length', nfe: 2 });
  });

  it('cuts a cancelled answer to the cap, "length" when its committed prefix was longer', async () => {
    // One token per step, left to right: cancelled after step 2 with A B committed.
    const logits = [A, B, C, A].map((t, i) => confident(t, 0.5 - i * 0.1));
    const cancelledAfterTwoSteps = async (maxAnswerTokens: number) => {
      const controller = new AbortController();
      return decode(new FixedLogitsDenoiser(5, logits), request(4, { maxAnswerTokens }), {
        signal: controller.signal,
        onStep: (r) => {
          if (r.step === 2) controller.abort();
        },
      });
    };
    expect(await cancelledAfterTwoSteps(3)).toMatchObject({ tokenIds: [A, B], finishReason: 'cancelled' });
    // With cap 1 the second committed token already exceeds it: the decode ends "length" at step 2 itself.
    expect(await cancelledAfterTwoSteps(1)).toMatchObject({ tokenIds: [A], finishReason: 'length', steps: 2 });
  });
});
