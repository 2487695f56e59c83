import { describe, expect, it } from 'vitest';
import { canvasLength, createDecodeSession, decode, DecodeOptionsError, promptTooLong } from '../src/index.ts';
import type { DecodeRequest } from '../src/index.ts';
import { FixedLogitsDenoiser, logitsFor } from './fake-denoisers.ts';

// Vocabulary: A B C EOS MASK BOS.
const [A, B, C, EOS, MASK, BOS] = [0, 1, 2, 3, 4, 5] as const;

function confident(token: number, p = 0.95): number[] {
  return [...logitsFor([0, 1, 2, 3].map((v) => (v === token ? p : (1 - p) / 3))), -Infinity];
}

function request(overrides: Partial<DecodeRequest> = {}): DecodeRequest {
  return {
    promptIds: [A],
    maxNewTokens: 3,
    strategy: { name: 'threshold', threshold: 0.9 },
    specialTokens: { mask: MASK, eos: EOS, bos: BOS },
    suffixIds: [C, C],
    ...overrides,
  };
}

describe('fill in the middle (suffixIds)', () => {
  it('pins the suffix after the answer masks: the model sees it at every step and it never changes', async () => {
    // Canvas: bos A | m m m | C C. Answer positions commit one per step (falling confidence).
    const logits = [confident(A), confident(A), confident(B, 0.8), confident(A, 0.7), confident(B, 0.6)];
    const denoiser = new FixedLogitsDenoiser(6, [...logits, confident(A), confident(A)]);
    const result = await decode(denoiser, request());
    expect(result).toMatchObject({ tokenIds: [B, A, B], finishReason: 'length' });
    expect(denoiser.inputs).toEqual([
      [BOS, A, MASK, MASK, MASK, C, C],
      [BOS, A, B, MASK, MASK, C, C],
      [BOS, A, B, A, MASK, C, C],
    ]);
  });

  it('never lets a stop sequence run from the answer into the suffix', async () => {
    const logits = [confident(A), confident(A), confident(A), confident(A), confident(B)];
    const denoiser = new FixedLogitsDenoiser(6, [...logits, confident(A), confident(A)]);
    const result = await decode(denoiser, request({ stopSequences: [[B, C]] }));
    expect(result).toMatchObject({ tokenIds: [A, A, B], finishReason: 'length' });
  });

  it('counts the suffix in the canvas layout and in the prompt-too-long wording', () => {
    const session = createDecodeSession(request(), 6);
    expect(session.canvas.length).toBe(canvasLength(1, 3, { bos: BOS }, 2));
    expect(session.answerLength).toBe(3);
    expect(
      promptTooLong({
        promptTokens: 5,
        maxNewTokens: 3,
        suffixTokens: 2,
        maxSequenceLength: 10,
        specialTokens: { bos: 1 },
      }),
    ).toBe(
      'prompt is 5 tokens; the model allows at most 4 prompt tokens with maxNewTokens 3 and a 2-token suffix ' +
        '(maxSequenceLength 10 = 1 bos + prompt + maxNewTokens + suffix (2 tokens))',
    );
    expect(
      promptTooLong({
        promptTokens: 4,
        maxNewTokens: 3,
        suffixTokens: 2,
        maxSequenceLength: 10,
        specialTokens: { bos: 1 },
      }),
    ).toBeNull();
  });

  it('refuses a suffix together with continuation blocks, and a mask in the suffix', () => {
    const refusal = (overrides: Partial<DecodeRequest>) => {
      try {
        createDecodeSession(request(overrides), 6);
      } catch (error) {
        return error instanceof DecodeOptionsError ? { code: error.code, field: error.field } : error;
      }
      return null;
    };
    expect(refusal({ maxCanvasLength: 20 })).toEqual({ code: 'suffix_with_continuation', field: 'maxCanvasLength' });
    expect(refusal({ suffixIds: [C, MASK] })).toEqual({ code: 'invalid_token', field: 'suffixIds[1]' });
    expect(refusal({ suffixIds: [C, 9] })).toEqual({ code: 'invalid_token', field: 'suffixIds[1]' });
  });
});
