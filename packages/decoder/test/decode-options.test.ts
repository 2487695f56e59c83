import { describe, expect, it } from 'vitest';
import { createDecodeSession, DEFAULT_STRATEGY_KNOBS, DecodeOptionsError } from '../src/index.ts';
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
    [{ maxNewTokens: 0 }, 'INVALID_VALUE', 'maxNewTokens'],
    [{ maxNewTokens: 2.5 }, 'INVALID_VALUE', 'maxNewTokens'],
    [{ blockLength: 3 }, 'BLOCK_LENGTH_NOT_A_DIVISOR', 'blockLength'],
    [{ blockLength: 0 }, 'INVALID_VALUE', 'blockLength'],
    [{ strategy: { name: 'reference', steps: 3 } }, 'STEPS_NOT_DIVISIBLE_BY_BLOCKS', 'strategy.steps'],
    [{ strategy: { name: 'reference', steps: 0 } }, 'INVALID_VALUE', 'strategy.steps'],
    [{ strategy: { name: 'reference', steps: 10 } }, 'INVALID_VALUE', 'strategy.steps'],
    [{ strategy: { name: 'reference', remasking: 'lowest' } }, 'INVALID_VALUE', 'strategy.remasking'],
    [{ strategy: { name: 'threshold', threshold: 1.5 } }, 'INVALID_VALUE', 'strategy.threshold'],
    [{ strategy: { name: 'threshold', threshold: Number.NaN } }, 'INVALID_VALUE', 'strategy.threshold'],
    [{ strategy: { name: 'factor', factor: 0 } }, 'INVALID_VALUE', 'strategy.factor'],
    [{ strategy: { name: 'entropy-bounded', gamma: -0.1 } }, 'INVALID_VALUE', 'strategy.gamma'],
    [{ strategy: { name: 'entropy-bounded', gamma: Infinity } }, 'INVALID_VALUE', 'strategy.gamma'],
    [{ strategy: { name: 'beam' } }, 'UNKNOWN_STRATEGY', 'strategy.name'],
    [{ temperature: -1 }, 'INVALID_VALUE', 'temperature'],
    [{ seed: 1.5 }, 'INVALID_VALUE', 'seed'],
    [{ maxSteps: 0 }, 'INVALID_VALUE', 'maxSteps'],
    [{ stopSequences: [[1], []] }, 'INVALID_VALUE', 'stopSequences[1]'],
    [{ stopSequences: [[1, 8]] }, 'INVALID_TOKEN', 'stopSequences[0][1]'],
    [{ promptIds: [1, 7] }, 'INVALID_TOKEN', 'promptIds[1]'],
    [{ promptIds: [-1] }, 'INVALID_TOKEN', 'promptIds[0]'],
    [{ specialTokens: { mask: 8, eos: 6 } }, 'INVALID_TOKEN', 'specialTokens.mask'],
    [{ specialTokens: { mask: 6, eos: 6 } }, 'SPECIAL_TOKEN_CONFLICT', 'specialTokens.eos'],
    [{ specialTokens: { mask: 7, eos: 6, bos: 6 } }, 'SPECIAL_TOKEN_CONFLICT', 'specialTokens.bos'],
  ])('rejects %j with %s naming %s', (overrides, code, field) => {
    const error = rejection(overrides);
    expect(error).toMatchObject({ name: 'DecodeOptionsError', code, field });
    expect(error.message.startsWith(`${field}: `)).toBe(true);
  });

  it('explains how to fix steps that do not divide into blocks', () => {
    expect(rejection({ strategy: { name: 'reference', steps: 3 } }).message).toMatch(/multiple of the number of blocks .* = 2/);
  });

  it('fills in the documented defaults', () => {
    const resolved = (strategy: DecodingStrategy) => resolveDecodeRequest({ ...valid, blockLength: undefined, strategy }, VOCAB);
    const reference = resolved({ name: 'reference' });
    expect(reference).toMatchObject({ blockLength: 8, temperature: 0, seed: 0, maxSteps: Infinity, stopSequences: [] });
    expect(reference.strategy).toEqual({ name: 'reference', steps: 8, ...DEFAULT_STRATEGY_KNOBS.reference });
    expect(resolved({ name: 'threshold' }).strategy).toEqual({ name: 'threshold', threshold: 0.9 });
    expect(resolved({ name: 'factor' }).strategy).toEqual({ name: 'factor', factor: 1 });
    expect(resolved({ name: 'entropy-bounded' }).strategy).toEqual({ name: 'entropy-bounded', gamma: 0.1 });
  });

  it('never predicts mask or bos, and pad only when it is the eos', () => {
    expect(resolveDecodeRequest(valid, VOCAB).suppressedTokenIds).toEqual([7, 5]);
    const distinctPad = resolveDecodeRequest({ ...valid, specialTokens: { mask: 7, eos: 6, pad: 4 } }, VOCAB);
    expect(distinctPad.suppressedTokenIds).toEqual([7, 4]);
  });
});
