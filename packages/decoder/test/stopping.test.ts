import { describe, expect, it } from 'vitest';
import { createDecodeSession, decode } from '../src/index.ts';
import type { DecodeRequest, DecodingStrategy, StepReport } from '../src/index.ts';
import { FixedLogitsDenoiser, logitsFor } from './fake-denoisers.ts';

// Vocabulary: A B C EOS MASK; empty prompt, no bos, so canvas position = answer position.
const [A, B, C, EOS, MASK] = [0, 1, 2, 3, 4] as const;

function confident(token: number, p: number): number[] {
  return logitsFor([0, 1, 2, 3].map((v) => (v === token ? p : (1 - p) / 3)));
}

function request(length: number, overrides: Partial<DecodeRequest> = {}): DecodeRequest {
  const strategy: DecodingStrategy = { name: 'threshold', threshold: 0.9 };
  return { promptIds: [], maxNewTokens: length, strategy, specialTokens: { mask: MASK, eos: EOS }, ...overrides };
}

describe('early exit at end of text', () => {
  it('stops as soon as an eos and everything before it are committed, without decoding the trailing block', async () => {
    const denoiser = new FixedLogitsDenoiser(5, [
      confident(A, 0.95),
      confident(EOS, 0.95),
      ...Array(6).fill(confident(B, 0.5)),
    ]);
    const result = await decode(denoiser, request(8, { blockLength: 4 }));
    expect(result).toEqual({
      tokenIds: [A],
      finishReason: 'eos',
      steps: 1,
      nfe: 1,
      committedPerStep: [2],
      tokenSteps: [1],
    });
  });

  it('keeps going while a position before the committed eos is still masked', async () => {
    const denoiser = new FixedLogitsDenoiser(5, [
      confident(A, 0.6),
      confident(EOS, 0.95),
      confident(B, 0.5),
      confident(C, 0.4),
    ]);
    const result = await decode(denoiser, request(4));
    // Step 1 commits the eos at pos 1; step 2 commits pos 0 (the most confident left), then the answer is known.
    expect(result).toEqual({
      tokenIds: [A],
      finishReason: 'eos',
      steps: 2,
      nfe: 2,
      committedPerStep: [1, 1],
      tokenSteps: [2],
    });
  });

  it('reports "length" when the whole answer is decoded without an eos', async () => {
    const denoiser = new FixedLogitsDenoiser(5, [confident(A, 0.95), confident(B, 0.95)]);
    expect(await decode(denoiser, request(2))).toMatchObject({ tokenIds: [A, B], finishReason: 'length' });
  });
});

describe('stop sequences', () => {
  const abcabc = [A, B, C, A, B, C].map((t) => confident(t, 0.95));

  it('cuts the answer before a stop sequence found in the committed prefix', async () => {
    const result = await decode(new FixedLogitsDenoiser(5, abcabc), request(6, { stopSequences: [[B, C]] }));
    expect(result).toMatchObject({ tokenIds: [A], finishReason: 'stop' });
  });

  it('cuts before the stop sequence that completes first, reading left to right', async () => {
    // [C] completes at pos 2, [B, C, A] only at pos 3, although it starts earlier.
    const result = await decode(new FixedLogitsDenoiser(5, abcabc), request(6, { stopSequences: [[B, C, A], [C]] }));
    expect(result).toMatchObject({ tokenIds: [A, B], finishReason: 'stop' });
  });

  it('waits until the stop sequence lies in the contiguous committed prefix', async () => {
    const denoiser = new FixedLogitsDenoiser(5, [
      confident(A, 0.95),
      confident(B, 0.95),
      confident(C, 0.5),
      confident(EOS, 0.95),
    ]);
    const result = await decode(denoiser, request(4, { stopSequences: [[B, C]] }));
    // Step 1 commits pos 0, 1, 3 (pos 2 is masked, so neither [B, C] nor the eos counts yet).
    expect(result).toEqual({
      tokenIds: [A],
      finishReason: 'stop',
      steps: 2,
      nfe: 2,
      committedPerStep: [3, 1],
      tokenSteps: [1],
    });
  });

  it('cuts the reference answer too, but only stops it early with earlyExit', async () => {
    // Confidence falls left to right, so one token per step commits left to right.
    const leftToRight = [A, B, C, A, B, C].map((t, i) => confident(t, 0.99 - i * 0.01));
    const strategy = { name: 'reference', steps: 6 } as const;
    const full = await decode(
      new FixedLogitsDenoiser(5, leftToRight),
      request(6, { strategy, stopSequences: [[B, C]] }),
    );
    expect(full).toMatchObject({ tokenIds: [A], finishReason: 'stop', nfe: 6 });
    const early = await decode(
      new FixedLogitsDenoiser(5, leftToRight),
      request(6, { strategy: { ...strategy, earlyExit: true }, stopSequences: [[B, C]] }),
    );
    // [B, C] is complete after step 3.
    expect(early).toMatchObject({ tokenIds: [A], finishReason: 'stop', nfe: 3 });
  });
});

describe('max steps', () => {
  it('returns the committed prefix up to the first masked position', async () => {
    // One token per step; by confidence pos 0, then pos 2, then pos 3; pos 1 stays masked.
    const denoiser = new FixedLogitsDenoiser(5, [
      confident(A, 0.8),
      confident(B, 0.2),
      confident(C, 0.7),
      confident(A, 0.6),
      confident(B, 0.3),
    ]);
    const result = await decode(denoiser, request(5, { maxSteps: 3 }));
    expect(result).toEqual({
      tokenIds: [A],
      finishReason: 'max_steps',
      steps: 3,
      nfe: 3,
      committedPerStep: [1, 1, 1],
      tokenSteps: [1],
    });
  });
});

describe('cancellation', () => {
  const logits = [A, B, C, A].map((t, i) => confident(t, 0.5 - i * 0.1));

  it('stops at the next step once the signal aborts', async () => {
    const controller = new AbortController();
    const result = await decode(new FixedLogitsDenoiser(5, logits), request(4), {
      signal: controller.signal,
      onStep: (r) => {
        if (r.step === 2) controller.abort();
      },
    });
    expect(result).toEqual({
      tokenIds: [A, B],
      finishReason: 'cancelled',
      steps: 2,
      nfe: 2,
      committedPerStep: [1, 1],
      tokenSteps: [1, 2],
    });
  });

  it('runs no forward pass when the signal is already aborted', async () => {
    const denoiser = new FixedLogitsDenoiser(5, logits);
    const result = await decode(denoiser, request(4), { signal: AbortSignal.abort() });
    expect(result).toEqual({
      tokenIds: [],
      finishReason: 'cancelled',
      steps: 0,
      nfe: 0,
      committedPerStep: [],
      tokenSteps: [],
    });
    expect(denoiser.inputs).toEqual([]);
  });
});

describe('step reports', () => {
  const open = (finalPrefix: number) => ({ answerLength: 4, finalPrefix, finishReason: null });
  const eos = { finished: true, finishReason: 'eos' } as const;
  it('report exactly the positions and tokens each step committed, and the finish on the last', async () => {
    const denoiser = new FixedLogitsDenoiser(5, [
      confident(A, 0.95),
      confident(B, 0.5),
      confident(C, 0.95),
      confident(EOS, 0.4),
    ]);
    const reports: StepReport[] = [];
    await decode(denoiser, request(4), { onStep: (r) => reports.push(r) });
    expect(
      reports.map((r) => ({
        ...r,
        committedPositions: Array.from(r.committedPositions),
        committedTokens: Array.from(r.committedTokens),
      })),
    ).toEqual([
      // The prefix is final once committed: A after step 1, A B C after step 2 (pos 3 still masked).
      { step: 1, nfe: 1, committedPositions: [0, 2], committedTokens: [A, C], ...open(1), finished: false },
      { step: 2, nfe: 2, committedPositions: [1], committedTokens: [B], ...open(3), finished: false },
      { step: 3, nfe: 3, committedPositions: [3], committedTokens: [EOS], answerLength: 4, finalPrefix: 3, ...eos },
    ]);
  });
});

describe('tokens never predicted', () => {
  it('never predicts mask, bos or pad, even when the model favours them, but does predict eos when pad is eos', async () => {
    // Vocabulary: A B EOS PAD BOS MASK; the model's top logits are mask > bos > pad > eos > A.
    const [tA, , tEos, tPad, tBos, tMask] = [0, 1, 2, 3, 4, 5];
    const row = [1, 0, 2, 3, 4, 5];
    const withPad = await decode(new FixedLogitsDenoiser(6, Array(4).fill(row)), {
      promptIds: [tA],
      maxNewTokens: 2,
      strategy: { name: 'threshold' },
      specialTokens: { mask: tMask, eos: tEos, pad: tPad, bos: tBos },
    });
    expect(withPad).toMatchObject({ tokenIds: [], finishReason: 'eos' });

    const padIsEos = createDecodeSession(
      {
        promptIds: [],
        maxNewTokens: 2,
        strategy: { name: 'threshold' },
        specialTokens: { mask: tMask, eos: tPad, pad: tPad, bos: tBos },
      },
      6,
    );
    padIsEos.applyLogits(new Float32Array(Array(3).fill(row).flat()));
    expect(padIsEos.result().finishReason).toBe('eos');
  });

  it('prepends bos to the canvas and starts the answer after the prompt', () => {
    const session = createDecodeSession(
      { promptIds: [0, 1], maxNewTokens: 3, strategy: { name: 'factor' }, specialTokens: { mask: 5, eos: 2, bos: 4 } },
      6,
    );
    expect(Array.from(session.canvas)).toEqual([4, 0, 1, 5, 5, 5]);
    expect(session.answerOffset).toBe(3);
  });
});
