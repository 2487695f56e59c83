import { afterEach, describe, expect, it, vi } from 'vitest';
import { decode, decodeBatch, type DecodeRequest, type DecodingStrategy } from '@dfleet/decoder';
import { SimulatedDenoiser, SimulatedDenoiserError, simulatedAnswerTokenIds } from '../src/simulated-denoiser.ts';

const VOCAB = 40;
const SPECIAL = { pad: 0, bos: 1, eos: 2, mask: 3 } as const;
const ANSWER = [39, 38, 37, 36, 35, 34, 33];

function denoiser(tokensPerStep: number, passMs = 0): SimulatedDenoiser {
  return new SimulatedDenoiser({
    vocabSize: VOCAB,
    maskId: SPECIAL.mask,
    eosId: SPECIAL.eos,
    answerTokenIds: ANSWER,
    tokensPerStep,
    passMs,
  });
}

function request(promptIds: number[], strategy: DecodingStrategy, maxNewTokens = 16): DecodeRequest {
  return { promptIds, maxNewTokens, strategy, specialTokens: SPECIAL };
}

describe('SimulatedDenoiser through the decoder', () => {
  it('ends every decode with eos after the answer ids, committing tokensPerStep per pass', async () => {
    for (const tokensPerStep of [1, 2, 3, 8]) {
      const simulated = denoiser(tokensPerStep);
      const result = await decode(simulated, request([10, 11, 12], { name: 'threshold', threshold: 0.9 }));
      const passes = Math.ceil((ANSWER.length + 1) / tokensPerStep);
      expect(result.tokenIds).toEqual(ANSWER);
      expect(result.finishReason).toBe('eos');
      expect(result.steps).toBe(passes);
      expect(simulated.passes).toBe(passes);
      expect(result.committedPerStep.slice(0, -1).every((n) => n === tokensPerStep)).toBe(true);
    }
  });

  it('decodes the same answer in every row of a batch, whatever the prompt length', async () => {
    const prompts = [[10], [10, 11, 12, 13, 14, 15, 16, 17, 18], [20, 21], [5, 6, 7, 8]];
    const results = await decodeBatch(
      denoiser(2),
      prompts.map((prompt) => request(prompt, { name: 'threshold', threshold: 0.9 })),
    );
    for (const result of results) {
      expect(result.tokenIds).toEqual(ANSWER);
      expect(result.steps).toBe(4);
    }
  });

  it('decodes the same answer under the entropy-bounded, factor and low-confidence reference strategies', async () => {
    const strategies: DecodingStrategy[] = [
      { name: 'entropy-bounded', gamma: 0.1 },
      { name: 'factor', factor: 1 },
      { name: 'reference', steps: 16, remasking: 'low_confidence', earlyExit: true },
    ];
    for (const strategy of strategies) {
      const result = await decode(denoiser(1), request([10, 11], strategy));
      expect(result.tokenIds, strategy.name).toEqual(ANSWER);
      expect(result.finishReason, strategy.name).toBe('eos');
    }
  });

  it('decodes the same answer at temperature > 0 (its one top-k id)', async () => {
    const result = await decode(denoiser(3), {
      ...request([10], { name: 'threshold', threshold: 0.9 }),
      temperature: 0.8,
      seed: 7,
    });
    expect(result.tokenIds).toEqual(ANSWER);
  });

  it('reads a prompt that ends with answer ids out of order as no answer yet', async () => {
    // 38, 37 are the answer's 2nd and 3rd ids, not its start: the full answer still follows.
    const result = await decode(denoiser(2), request([10, 38, 37], { name: 'threshold', threshold: 0.9 }));
    expect(result.tokenIds).toEqual(ANSWER);
  });

  it('ends by length when the canvas is shorter than the answer', async () => {
    const result = await decode(denoiser(2), request([10], { name: 'threshold', threshold: 0.9 }, 4));
    expect(result.tokenIds).toEqual(ANSWER.slice(0, 4));
    expect(result.finishReason).toBe('length');
  });
});

describe('SimulatedDenoiser timing', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  function batchOf(rows: number) {
    const sequenceLength = 8;
    const inputIds = new Int32Array(rows * sequenceLength).fill(SPECIAL.mask);
    for (let r = 0; r < rows; r++) inputIds[r * sequenceLength] = SPECIAL.bos;
    return { batchSize: rows, sequenceLength, inputIds, attentionMask: new Uint8Array(rows * sequenceLength).fill(1) };
  }

  it('answers a pass only once passMs has passed, for a batch of 1 or of 64', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'performance'] });
    for (const rows of [1, 64]) {
      let answered = false;
      const pass = denoiser(1, 20)
        .denoise(batchOf(rows))
        .then(() => {
          answered = true;
        });
      await vi.advanceTimersByTimeAsync(19);
      expect(answered, `batch of ${rows}`).toBe(false);
      await vi.advanceTimersByTimeAsync(1);
      await pass;
      expect(answered, `batch of ${rows}`).toBe(true);
    }
  });

  it('runs one pass at a time, as one device stream', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'performance'] });
    const simulated = denoiser(1, 20);
    const done: number[] = [];
    const passes = [0, 1, 2].map((i) => simulated.denoise(batchOf(2)).then(() => done.push(i)));
    await vi.advanceTimersByTimeAsync(20);
    expect(done).toEqual([0]);
    await vi.advanceTimersByTimeAsync(40);
    await Promise.all(passes);
    expect(done).toEqual([0, 1, 2]);
  });
});

describe('SimulatedDenoiser options', () => {
  const valid = {
    vocabSize: VOCAB,
    maskId: SPECIAL.mask,
    eosId: SPECIAL.eos,
    answerTokenIds: ANSWER,
    tokensPerStep: 1,
  };

  it.each([
    ['tokensPerStep 0', { tokensPerStep: 0 }, /tokensPerStep must be an integer >= 1/],
    ['a negative passMs', { passMs: -1 }, /passMs must be >= 0/],
    ['the mask id in the answer', { answerTokenIds: [39, SPECIAL.mask] }, /answerTokenIds\[1\] is the mask id 3/],
    ['the eos id in the answer', { answerTokenIds: [SPECIAL.eos] }, /answerTokenIds\[0\] is the eos id 2/],
    ['an id outside the vocabulary', { answerTokenIds: [VOCAB] }, /ids are integers in \[0, 40\)/],
    ['a repeated id', { answerTokenIds: [39, 38, 39] }, /repeats id 39; the ids must be distinct/],
  ])('refuses %s, naming the option', (_, change, message) => {
    const attempt = () => new SimulatedDenoiser({ ...valid, ...change });
    expect(attempt).toThrow(SimulatedDenoiserError);
    expect(attempt).toThrow(message);
    try {
      attempt();
    } catch (error) {
      expect((error as SimulatedDenoiserError).code).toBe('invalid_simulated_denoiser_option');
    }
  });

  it('picks the highest ids no special token takes as the answer', () => {
    expect(simulatedAnswerTokenIds(8, [0, 1, 2, 3, 7], 3)).toEqual([6, 5, 4]);
    expect(() => simulatedAnswerTokenIds(8, [0, 1, 2, 3, 7], 4)).toThrow(/needs 4 ids that are not special/);
  });
});
