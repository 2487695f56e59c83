import { describe, expect, it } from 'vitest';
import { decode, decodeBatch, DecodeOptionsError } from '../src/index.ts';
import type { DecodeRequest, StepReport } from '../src/index.ts';
import { FixedLogitsDenoiser, logitsFor, RandomDenoiser } from './fake-denoisers.ts';

// Vocabulary: A B C EOS MASK; empty prompt, no bos, so canvas position = answer position.
const [A, B, C, EOS, MASK] = [0, 1, 2, 3, 4] as const;

function confident(token: number, p = 0.95): number[] {
  return logitsFor([0, 1, 2, 3].map((v) => (v === token ? p : (1 - p) / 3)));
}

function request(overrides: Partial<DecodeRequest> = {}): DecodeRequest {
  return {
    promptIds: [],
    maxNewTokens: 2,
    blockLength: 2,
    strategy: { name: 'threshold', threshold: 0.9 },
    specialTokens: { mask: MASK, eos: EOS },
    ...overrides,
  };
}

describe('continuation blocks (maxCanvasLength)', () => {
  it('appends a block of masks after the last one until the eos, and the model sees the longer canvas', async () => {
    const denoiser = new FixedLogitsDenoiser(
      5,
      [A, B, C, A, EOS, B].map((t) => confident(t)),
    );
    const reports: StepReport[] = [];
    const result = await decode(denoiser, request({ maxCanvasLength: 8 }), { onStep: (r) => reports.push(r) });
    expect(result).toMatchObject({ tokenIds: [A, B, C, A], finishReason: 'eos', steps: 3, tokenSteps: [1, 1, 2, 2] });
    expect(denoiser.inputs.map((row) => row.length)).toEqual([2, 4, 6]);
    expect(denoiser.inputs[2]).toEqual([A, B, C, A, MASK, MASK]);
    expect(reports.map((r) => r.answerLength)).toEqual([4, 6, 6]);
  });

  it('stops with "length" once another block would not fit in maxCanvasLength', async () => {
    const denoiser = new FixedLogitsDenoiser(
      5,
      [A, B, C, A, B, C].map((t) => confident(t)),
    );
    const result = await decode(denoiser, request({ maxCanvasLength: 5 }));
    expect(result).toMatchObject({ tokenIds: [A, B, C, A], finishReason: 'length', steps: 2 });
  });

  it('appends nothing when the eos is found in the last block, nor without maxCanvasLength', async () => {
    const withEos = new FixedLogitsDenoiser(
      5,
      [A, EOS, C, A].map((t) => confident(t)),
    );
    expect(await decode(withEos, request({ maxCanvasLength: 8 }))).toMatchObject({
      tokenIds: [A],
      finishReason: 'eos',
    });
    expect(withEos.inputs.map((row) => row.length)).toEqual([2]);
    const fixed = new FixedLogitsDenoiser(
      5,
      [A, B, C, A].map((t) => confident(t)),
    );
    expect(await decode(fixed, request())).toMatchObject({ tokenIds: [A, B], finishReason: 'length' });
  });

  it('appends no block past what maxAnswerTokens needs', async () => {
    const denoiser = new FixedLogitsDenoiser(
      5,
      [A, B, C, A, B, C].map((t) => confident(t)),
    );
    const result = await decode(denoiser, request({ maxCanvasLength: 8, maxAnswerTokens: 3 }));
    expect(result).toMatchObject({ tokenIds: [A, B, C], finishReason: 'length', steps: 2 });
    expect(denoiser.inputs.map((row) => row.length)).toEqual([2, 4]);
  });

  it('holds back a possible stop sequence at the canvas end while a block may still be appended', async () => {
    const denoiser = new FixedLogitsDenoiser(
      5,
      [A, B, C, A].map((t) => confident(t)),
    );
    const reports: StepReport[] = [];
    const grown = await decode(denoiser, request({ maxCanvasLength: 4, stopSequences: [[B, C]] }), {
      onStep: (r) => reports.push(r),
    });
    expect(grown).toMatchObject({ tokenIds: [A], finishReason: 'stop' });
    expect(reports.map((r) => r.finalPrefix)).toEqual([1, 1]);
    const alone = await decode(denoiser, request({ stopSequences: [[B, C]] }));
    expect(alone).toMatchObject({ tokenIds: [A, B], finishReason: 'length' });
  });

  it('gives the reference strategy its steps per block in every appended block too', async () => {
    const denoiser = new FixedLogitsDenoiser(
      5,
      [A, B, C, EOS].map((t, i) => confident(t, 0.9 - i * 0.1)),
    );
    const result = await decode(
      denoiser,
      request({ strategy: { name: 'reference', steps: 2, earlyExit: true }, maxCanvasLength: 4 }),
    );
    expect(result).toMatchObject({ tokenIds: [A, B, C], finishReason: 'eos', committedPerStep: [1, 1, 1, 1] });
  });

  it('decodes the same answer in a batch, beside rows whose canvas stays put, as alone', async () => {
    const denoiser = new RandomDenoiser({ seed: 3, vocabSize: 9, sharpness: 4 });
    const specialTokens = { mask: 8, eos: 7 };
    const requests: DecodeRequest[] = [
      { ...request({ specialTokens, blockLength: 2, maxNewTokens: 2 }), promptIds: [1, 2], maxCanvasLength: 12 },
      { ...request({ specialTokens, blockLength: 4, maxNewTokens: 8 }), promptIds: [3] },
      { ...request({ specialTokens, blockLength: 3, maxNewTokens: 3 }), promptIds: [], maxCanvasLength: 9 },
    ];
    const batched = await decodeBatch(denoiser, requests);
    const alone = await Promise.all(requests.map((r) => decode(denoiser, r)));
    expect(batched).toEqual(alone);
  });

  it('refuses a maxCanvasLength smaller than the canvas it starts from', async () => {
    const denoiser = new FixedLogitsDenoiser(5, []);
    await expect(decode(denoiser, request({ promptIds: [A, B], maxCanvasLength: 3 }))).rejects.toThrow(
      DecodeOptionsError,
    );
  });
});
