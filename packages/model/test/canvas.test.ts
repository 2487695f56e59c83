import { canvasLength, promptTooLong } from '@dfleet/decoder';
import { describe, expect, it } from 'vitest';
import { buildCanvas, CanvasTooLongError } from '../src/index.ts';

const manifest = { maxSequenceLength: 10, specialTokens: { mask: 3, eos: 2, pad: 0, bos: 1 } };

describe('buildCanvas', () => {
  it('lays out bos, the prompt, then one mask per new token', () => {
    expect([...buildCanvas([7, 8, 9], manifest, 4)]).toEqual([1, 7, 8, 9, 3, 3, 3, 3]);
  });

  it('fills the model up to maxSequenceLength exactly', () => {
    expect(buildCanvas([7, 8, 9, 10, 11], manifest, 4)).toHaveLength(10);
  });

  it('refuses a canvas longer than maxSequenceLength and says how long the prompt may be', () => {
    expect(() => buildCanvas([7, 8, 9, 10, 11, 12], manifest, 4)).toThrow(CanvasTooLongError);
    expect(() => buildCanvas([7, 8, 9, 10, 11, 12], manifest, 4)).toThrow(
      /at most 5 prompt tokens with maxNewTokens 4/,
    );
  });

  it('words the refusal as the gateway and the worker do (one rule, in the decoder)', () => {
    const rule = promptTooLong({
      promptTokens: 6,
      maxNewTokens: 4,
      maxSequenceLength: 10,
      specialTokens: manifest.specialTokens,
    });
    expect(() => buildCanvas([7, 8, 9, 10, 11, 12], manifest, 4)).toThrow(rule!);
    expect(rule).toBe(
      'prompt is 6 tokens; the model allows at most 5 prompt tokens with maxNewTokens 4 (maxSequenceLength 10 = 1 bos + prompt + maxNewTokens)',
    );
  });

  it('pins a fill-in-the-middle suffix after the masks and counts it against maxSequenceLength', () => {
    expect([...buildCanvas([7, 8], manifest, 4, [5, 6])]).toEqual([1, 7, 8, 3, 3, 3, 3, 5, 6]);
    expect(() => buildCanvas([7, 8, 9, 10], manifest, 4, [5, 6])).toThrow(/at most 3 prompt tokens .* 2-token suffix/);
  });

  it("uses the decoder's canvas length", () => {
    expect(buildCanvas([7, 8], manifest, 3)).toHaveLength(canvasLength(2, 3, manifest.specialTokens));
  });
});
