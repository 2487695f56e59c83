import { describe, expect, it } from 'vitest';
import { createDecodeSession, DecodeOptionsError, STRATEGY_CONTRACT } from '../src/index.ts';
import type { DecodeRequest, DecodingStrategy } from '../src/index.ts';
import { resolveDecodeRequest } from '../src/resolve-request.ts';

const VOCAB = 8;
const valid: DecodeRequest = {
  promptIds: [1, 2],
  maxNewTokens: 8,
  blockLength: 4,
  strategy: { name: 'threshold' },
  specialTokens: { mask: 7, eos: 6, pad: 6, bos: 5 },
};

function rejection(overrides: Record<string, unknown>): DecodeOptionsError {
  try {
    createDecodeSession({ ...valid, ...overrides } as DecodeRequest, VOCAB);
  } catch (error) {
    if (error instanceof DecodeOptionsError) return error;
    throw error;
  }
  throw new Error('expected a DecodeOptionsError');
}

describe('request validation', () => {
  it.each([
    [{ maxNewTokens: 0 }, 'invalid_value', 'maxNewTokens'],
    [{ maxNewTokens: 2.5 }, 'invalid_value', 'maxNewTokens'],
    [{ blockLength: 3 }, 'block_length_not_a_divisor', 'blockLength'],
    [{ blockLength: 0 }, 'invalid_value', 'blockLength'],
    [{ strategy: { name: 'reference', steps: 3 } }, 'steps_not_divisible_by_blocks', 'strategy.steps'],
    [{ strategy: { name: 'reference', steps: 0 } }, 'invalid_value', 'strategy.steps'],
    [{ strategy: { name: 'reference', steps: 10 } }, 'invalid_value', 'strategy.steps'],
    [{ strategy: { name: 'reference', remasking: 'lowest' } }, 'invalid_value', 'strategy.remasking'],
    [{ strategy: { name: 'threshold', threshold: 1.5 } }, 'invalid_value', 'strategy.threshold'],
    [{ strategy: { name: 'threshold', threshold: Number.NaN } }, 'invalid_value', 'strategy.threshold'],
    [{ strategy: { name: 'threshold', threshold: 0 } }, 'invalid_value', 'strategy.threshold'],
    [{ strategy: { name: 'factor', factor: 0 } }, 'invalid_value', 'strategy.factor'],
    [{ strategy: { name: 'entropy-bounded', gamma: -0.1 } }, 'invalid_value', 'strategy.gamma'],
    [{ strategy: { name: 'entropy-bounded', gamma: Infinity } }, 'invalid_value', 'strategy.gamma'],
    [{ strategy: { name: 'beam' } }, 'unknown_strategy', 'strategy.name'],
    [{ temperature: -1 }, 'invalid_value', 'temperature'],
    [{ seed: 1.5 }, 'invalid_value', 'seed'],
    [{ maxSteps: 0 }, 'invalid_value', 'maxSteps'],
    [{ stopSequences: [[1], []] }, 'invalid_value', 'stopSequences[1]'],
    [{ stopSequences: [[1, 8]] }, 'invalid_token', 'stopSequences[0][1]'],
    [{ promptIds: [1, 7] }, 'invalid_token', 'promptIds[1]'],
    [{ promptIds: [-1] }, 'invalid_token', 'promptIds[0]'],
    [{ specialTokens: { mask: 8, eos: 6 } }, 'invalid_token', 'specialTokens.mask'],
    [{ specialTokens: { mask: 6, eos: 6 } }, 'special_token_conflict', 'specialTokens.eos'],
    [{ specialTokens: { mask: 7, eos: 6, bos: 6 } }, 'special_token_conflict', 'specialTokens.bos'],
    [{ specialTokens: { mask: 7, eos: 6, unk: 6 } }, 'special_token_conflict', 'specialTokens.unk'],
    [{ specialTokens: { mask: 7, eos: 6, unk: 8 } }, 'invalid_token', 'specialTokens.unk'],
  ])('rejects %j with %s naming %s', (overrides, code, field) => {
    const error = rejection(overrides);
    expect(error).toMatchObject({ name: 'DecodeOptionsError', code, field });
    expect(error.message.startsWith(`${field}: `)).toBe(true);
  });

  it('explains how to fix steps that do not divide into blocks', () => {
    expect(rejection({ strategy: { name: 'reference', steps: 3 } }).message).toMatch(
      /multiple of the number of blocks .* = 2/,
    );
  });

  it('says the allowed range of a knob in the words of the contract', () => {
    expect(rejection({ strategy: { name: 'threshold', threshold: 0 } }).message).toBe(
      'strategy.threshold: must be a number greater than 0 and at most 1, got 0',
    );
  });

  it('fills in the defaults of the strategy contract', () => {
    const resolved = (strategy: DecodingStrategy) =>
      resolveDecodeRequest({ ...valid, blockLength: undefined, strategy }, VOCAB);
    const reference = resolved({ name: 'reference' });
    expect(reference).toMatchObject({ blockLength: 8, temperature: 0, seed: 0, maxSteps: Infinity, stopSequences: [] });
    expect(reference.strategy).toEqual({ name: 'reference', steps: 8, remasking: 'low_confidence', earlyExit: false });
    expect(resolved({ name: 'threshold' }).strategy).toEqual({ name: 'threshold', threshold: 0.9 });
    expect(resolved({ name: 'factor' }).strategy).toEqual({ name: 'factor', factor: 1 });
    const gamma = STRATEGY_CONTRACT['entropy-bounded'].knobs.gamma.default;
    expect(resolved({ name: 'entropy-bounded' }).strategy).toEqual({ name: 'entropy-bounded', gamma });
  });

  it('never predicts mask, bos or unk, and pad only when it is the eos', () => {
    expect(resolveDecodeRequest(valid, VOCAB).suppressedTokenIds).toEqual([5, 7]);
    const distinctPad = resolveDecodeRequest({ ...valid, specialTokens: { mask: 7, eos: 6, pad: 4 } }, VOCAB);
    expect(distinctPad.suppressedTokenIds).toEqual([4, 7]);
    const specialTokens = { mask: 7, eos: 6, pad: 6, bos: 5, unk: 4 };
    const withUnk = resolveDecodeRequest({ ...valid, specialTokens }, VOCAB);
    expect(withUnk.suppressedTokenIds).toEqual([4, 5, 7]);
  });
});
