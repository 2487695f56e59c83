import { describe, expect, it } from 'vitest';
import { createDecodeSession, decode, DecodeSessionError } from '../src/index.ts';
import type { DecodeRequest, Denoiser } from '../src/index.ts';

const request: DecodeRequest = {
  promptIds: [0],
  maxNewTokens: 2,
  strategy: { name: 'threshold' },
  specialTokens: { mask: 3, eos: 2 },
};

function codeOf(action: () => unknown): string {
  try {
    action();
  } catch (error) {
    if (error instanceof DecodeSessionError) return error.code;
    throw error;
  }
  return 'no error';
}

describe('decode session contract', () => {
  it('refuses a result before it finishes and a step after it finishes', () => {
    const session = createDecodeSession(request, 4);
    expect(codeOf(() => session.result())).toBe('session_not_finished');
    // Every position predicts token 1 with certainty: one step commits both.
    const logits = new Float32Array(3 * 4).fill(-20);
    for (let i = 0; i < 3; i++) logits[i * 4 + 1] = 20;
    session.applyLogits(logits);
    expect(session.finished).toBe(true);
    expect(session.result()).toMatchObject({ tokenIds: [1, 1], finishReason: 'length' });
    expect(codeOf(() => session.applyLogits(logits))).toBe('session_finished');
  });

  it('refuses logits too short for its canvas', () => {
    const session = createDecodeSession(request, 4);
    expect(codeOf(() => session.applyLogits(new Float32Array(3 * 4 - 1)))).toBe('logits_shape_mismatch');
  });

  it('refuses NaN logits rather than committing an arbitrary token', () => {
    const session = createDecodeSession(request, 4);
    const logits = new Float32Array(3 * 4);
    logits[1 * 4 + 2] = Number.NaN;
    expect(codeOf(() => session.applyLogits(logits))).toBe('non_finite_logits');
  });

  it('rejects a denoiser output of the wrong shape', async () => {
    const denoiser: Denoiser = {
      vocabSize: 4,
      denoise: async (batch) => ({
        batchSize: 1,
        sequenceLength: batch.sequenceLength,
        vocabSize: 5,
        logits: new Float32Array(batch.sequenceLength * 5),
      }),
    };
    await expect(decode(denoiser, request)).rejects.toMatchObject({
      name: 'DecodeSessionError',
      code: 'logits_shape_mismatch',
    });
  });

  it('gives a cancelled session the answer end it already found', () => {
    // The reference without early exit keeps decoding past a known eos; cancelling then is not a loss.
    const session = createDecodeSession({ ...request, strategy: { name: 'reference' } }, 4);
    const logits = new Float32Array(3 * 4).fill(-20);
    logits[1 * 4 + 2] = 20; // answer pos 0: eos, certain
    logits[2 * 4 + 0] = 1; // answer pos 1: token 0, unsure
    session.applyLogits(logits);
    expect(session.finished).toBe(false);
    session.cancel();
    expect(session.result()).toMatchObject({ tokenIds: [], finishReason: 'eos', steps: 1 });
  });
});
