import { describe, expect, it } from 'vitest';
import { decode, DecodeOptionsError } from '../src/index.ts';
import type { DecodeRequest, StepReport } from '../src/index.ts';
import { getNumTransferTokens } from '../src/transfer-schedule.ts';
import { FixedLogitsDenoiser, logitsFor } from './fake-denoisers.ts';

// Vocabulary: A B C EOS MASK. No bos.
const [A, B, C, EOS, MASK] = [0, 1, 2, 3, 4] as const;
const specialTokens = { mask: MASK, eos: EOS };

// Canvas = [A (prompt)] + 6 answer positions. Probabilities over A B C EOS per answer position;
// the mask token's logit is +10 everywhere, so a decoder that forgot to suppress it would fail.
//   answer pos:   0          1          2          3             4          5
//   x0 / x0_p:    A 0.6      B 0.9      C 0.5      EOS 0.99      A 0.6      EOS 0.8
const promptLogits = logitsFor([0.25, 0.25, 0.25, 0.25], 10);
const answerLogits = [
  logitsFor([0.6, 0.2, 0.1, 0.1], 10),
  logitsFor([0.04, 0.9, 0.03, 0.03], 10),
  logitsFor([0.3, 0.1, 0.5, 0.1], 10),
  logitsFor([0.004, 0.003, 0.003, 0.99], 10),
  logitsFor([0.6, 0.2, 0.1, 0.1], 10),
  logitsFor([0.1, 0.05, 0.05, 0.8], 10),
];

function request(overrides: Partial<DecodeRequest> = {}): DecodeRequest {
  return {
    promptIds: [A],
    maxNewTokens: 6,
    blockLength: 3,
    strategy: { name: 'reference', steps: 4 },
    specialTokens,
    ...overrides,
  };
}

describe('reference strategy (LLaDA generate.py)', () => {
  it('gives the remainder of the per-block transfer count to the first steps', () => {
    expect(getNumTransferTokens(3, 2)).toEqual([2, 1]);
    expect(getNumTransferTokens(5, 3)).toEqual([2, 2, 1]);
    expect(getNumTransferTokens(4, 4)).toEqual([1, 1, 1, 1]);
    expect(getNumTransferTokens(8, 2)).toEqual([4, 4]);
  });

  it('commits the hand-computed positions at each step, block by block, with no early exit', async () => {
    // 2 blocks of 3, steps 4 -> 2 steps per block, transfer counts [2, 1] in each block.
    // Block 1 (pos 0-2): step 1 takes the top 2 of {0.6, 0.9, 0.5} -> pos 1, 0 (pos 3's 0.99 is
    // outside the block: confidence -inf); step 2 takes pos 2. Block 2 (pos 3-5): step 3 takes
    // the top 2 of {0.99, 0.6, 0.8} -> pos 3, 5; step 4 takes pos 4. The eos at pos 3 is known
    // after step 3, but the reference still runs all 4 steps.
    const denoiser = new FixedLogitsDenoiser(5, [promptLogits, ...answerLogits]);
    const reports: StepReport[] = [];
    const result = await decode(denoiser, request(), { onStep: (report) => reports.push(report) });

    expect(reports.map((r) => [Array.from(r.committedPositions), Array.from(r.committedTokens)])).toEqual([
      [
        [0, 1],
        [A, B],
      ],
      [[2], [C]],
      [
        [3, 5],
        [EOS, EOS],
      ],
      [[4], [A]],
    ]);
    expect(result).toEqual({
      tokenIds: [A, B, C],
      finishReason: 'eos',
      steps: 4,
      nfe: 4,
      committedPerStep: [2, 1, 2, 1],
      tokenSteps: [1, 1, 2],
    });
    // What the model saw: the canvas with earlier commits in place, masks elsewhere.
    expect(denoiser.inputs).toEqual([
      [A, MASK, MASK, MASK, MASK, MASK, MASK],
      [A, A, B, MASK, MASK, MASK, MASK],
      [A, A, B, C, MASK, MASK, MASK],
      [A, A, B, C, EOS, MASK, EOS],
    ]);
  });

  it('stops once the eos and everything before it are committed when earlyExit is on', async () => {
    const denoiser = new FixedLogitsDenoiser(5, [promptLogits, ...answerLogits]);
    const result = await decode(denoiser, request({ strategy: { name: 'reference', steps: 4, earlyExit: true } }));
    expect(result).toEqual({
      tokenIds: [A, B, C],
      finishReason: 'eos',
      steps: 3,
      nfe: 3,
      committedPerStep: [2, 1, 2],
      tokenSteps: [1, 1, 2],
    });
  });

  it('defaults to one token per step (steps = maxNewTokens), most confident first', async () => {
    // One block of 6: order by x0_p 0.99, 0.9, 0.8, 0.6 (pos 0, tie broken leftmost), 0.6, 0.5.
    const denoiser = new FixedLogitsDenoiser(5, [promptLogits, ...answerLogits]);
    const positions: number[] = [];
    const result = await decode(denoiser, request({ blockLength: 6, strategy: { name: 'reference' } }), {
      onStep: (r) => positions.push(...r.committedPositions),
    });
    expect(positions).toEqual([3, 1, 5, 0, 4, 2]);
    expect(result.nfe).toBe(6);
    expect(result.tokenIds).toEqual([A, B, C]);
  });

  it('follows the same transfer counts under random remasking, deterministically per seed', async () => {
    const run = () =>
      decode(
        new FixedLogitsDenoiser(5, [promptLogits, ...answerLogits]),
        request({ seed: 42, strategy: { name: 'reference', steps: 4, remasking: 'random' } }),
      );
    const first = await run();
    expect(first.committedPerStep).toEqual([2, 1, 2, 1]);
    expect(first.tokenIds).toEqual([A, B, C]);
    expect(await run()).toEqual(first);
  });

  it('rejects steps that are not a multiple of the number of blocks', () => {
    const denoiser = new FixedLogitsDenoiser(5, []);
    const attempt = decode(denoiser, request({ strategy: { name: 'reference', steps: 3 } }));
    return expect(attempt).rejects.toMatchObject({
      name: 'DecodeOptionsError',
      code: 'steps_not_divisible_by_blocks',
      field: 'strategy.steps',
    });
  });

  it('rejects more steps than answer tokens, since such a step would commit nothing', async () => {
    const attempt = decode(new FixedLogitsDenoiser(5, []), request({ strategy: { name: 'reference', steps: 8 } }));
    await expect(attempt).rejects.toBeInstanceOf(DecodeOptionsError);
    await expect(attempt).rejects.toMatchObject({ code: 'invalid_value', field: 'strategy.steps' });
  });
});
