import { describe, expect, it } from 'vitest';
import {
  canvasLength,
  decodingStrategySchema,
  describeKnobRange,
  maxPromptTokens,
  promptTooLong,
  STRATEGY_CONTRACT,
  STRATEGY_KNOBS,
  STRATEGY_NAMES,
} from '../src/index.ts';

describe('strategy contract', () => {
  it('lists every strategy and gives every knob a snake_case wire name and a description', () => {
    expect(STRATEGY_NAMES).toEqual(['reference', 'threshold', 'factor', 'entropy-bounded']);
    for (const { knob } of STRATEGY_KNOBS) {
      expect(knob.wireName).toMatch(/^[a-z]+(_[a-z]+)*$/);
      expect(knob.description.length).toBeGreaterThan(10);
    }
  });

  it('phrases each range once, for every caller', () => {
    const { knobs: threshold } = STRATEGY_CONTRACT.threshold;
    expect(describeKnobRange(threshold.threshold)).toBe('a number greater than 0 and at most 1');
    expect(describeKnobRange(threshold.minThreshold)).toBe('a number greater than 0 and at most 1');
    expect(describeKnobRange(STRATEGY_CONTRACT.factor.knobs.factor)).toBe('a positive number');
    expect(describeKnobRange(STRATEGY_CONTRACT['entropy-bounded'].knobs.gamma)).toBe('a number >= 0');
    expect(describeKnobRange(STRATEGY_CONTRACT.reference.knobs.steps)).toBe('a positive integer');
    expect(describeKnobRange(STRATEGY_CONTRACT.reference.knobs.remasking)).toBe('one of low_confidence, random');
  });

  it('derives the job schema: defaults applied, ranges and the floor rule enforced', () => {
    expect(decodingStrategySchema.parse({ name: 'threshold' })).toEqual({ name: 'threshold', threshold: 0.9 });
    expect(decodingStrategySchema.parse({ name: 'factor' })).toEqual({ name: 'factor', factor: 1 });
    const reference = { name: 'reference', steps: 4, remasking: 'low_confidence' };
    expect(decodingStrategySchema.parse({ name: 'reference', steps: 4 })).toEqual(reference);
    const gamma = STRATEGY_CONTRACT['entropy-bounded'].knobs.gamma.default;
    expect(decodingStrategySchema.parse({ name: 'entropy-bounded' })).toEqual({ name: 'entropy-bounded', gamma });
    expect(decodingStrategySchema.safeParse({ name: 'threshold', threshold: 0 }).success).toBe(false);
    expect(decodingStrategySchema.safeParse({ name: 'threshold', threshold: 0.7, minThreshold: 0.8 }).success).toBe(
      false,
    );
    expect(decodingStrategySchema.safeParse({ name: 'beam' }).success).toBe(false);
  });
});

describe('canvas layout', () => {
  it('is [bos] + prompt + maxNewTokens, bos only when the model has one', () => {
    expect(canvasLength(5, 48, { bos: 1 })).toBe(54);
    expect(canvasLength(5, 48, {})).toBe(53);
    expect(maxPromptTokens(160, 48, { bos: 1 })).toBe(111);
    expect(maxPromptTokens(40, 48, { bos: 1 })).toBe(0);
  });

  it('accepts a prompt exactly at the limit and words the refusal one past it', () => {
    const check = { maxNewTokens: 48, maxSequenceLength: 160, specialTokens: { bos: 1 }, modelName: 'm' };
    expect(promptTooLong({ ...check, promptTokens: 111 })).toBeNull();
    expect(promptTooLong({ ...check, promptTokens: 112 })).toBe(
      'prompt is 112 tokens; model m allows at most 111 prompt tokens with maxNewTokens 48 (maxSequenceLength 160 = 1 bos + prompt + maxNewTokens)',
    );
  });
});
