import { describe, expect, it } from 'vitest';
import { createDecodeSession, decode, DecodeOptionsError, rowPredictions, type DecodeRequest } from '../src/index.ts';
import type { DenoiserBatch, LogitsOutput, PredictionsOutput, TokenLogprob } from '../src/index.ts';
import { RandomDenoiser } from './fake-denoisers.ts';

// Vocabulary of 10: 0..6 emittable (6 = eos), 7 = bos, 8 = pad, 9 = mask. The fake favours bos and pad.
const VOCAB_SIZE = 10;
const specialTokens = { eos: 6, bos: 7, pad: 8, mask: 9 };
const SUPPRESSED = new Set([7, 8, 9]);

function request(overrides: Partial<DecodeRequest> = {}): DecodeRequest {
  return {
    promptIds: [1, 2, 3],
    maxNewTokens: 8,
    blockLength: 4,
    strategy: { name: 'threshold', threshold: 0.6 },
    specialTokens,
    logprobs: 3,
    ...overrides,
  };
}

/** The figures by the definition: log of the full softmax, and the best emittable ids (ties: lowest id). */
function byHand(logits: Float32Array, position: number, token: number, top: number): TokenLogprob {
  const row = Array.from(logits.subarray(position * VOCAB_SIZE, (position + 1) * VOCAB_SIZE));
  const max = Math.max(...row);
  const logZ = max + Math.log(row.reduce((sum, l) => sum + Math.exp(l - max), 0));
  const ranked = row
    .map((logit, id) => ({ id, logprob: logit - logZ }))
    .filter(({ id }) => !SUPPRESSED.has(id))
    .sort((a, b) => b.logprob - a.logprob || a.id - b.id);
  return { logprob: row[token]! - logZ, top: ranked.slice(0, top) };
}

/**
 * Drives a session step by step with the denoiser's logits (or their reduced form, with top-k), checking every
 * committed token against the definition computed from those logits.
 */
function decodeCheckingLogprobs(
  denoiser: RandomDenoiser,
  decodeRequest: DecodeRequest,
  top: number,
  reducedTopK?: number,
): TokenLogprob[] {
  const outputForm =
    reducedTopK === undefined ? undefined : ({ form: 'predictions', topK: reducedTopK, positions: false } as const);
  const session = createDecodeSession(decodeRequest, VOCAB_SIZE, outputForm);
  // float64 on the logits path; the reduced outputs are float32.
  const digits = reducedTopK === undefined ? 9 : 5;
  const reported: (readonly TokenLogprob[])[] = [];
  while (!session.finished) {
    const batch: DenoiserBatch = {
      batchSize: 1,
      sequenceLength: session.canvas.length,
      inputIds: session.canvas.slice(),
      attentionMask: new Uint8Array(session.canvas.length).fill(1),
    };
    const output = denoiser.logitsFor(batch);
    const { logits } = output;
    const report =
      reducedTopK === undefined
        ? session.applyLogits(logits)
        : session.applyPredictions(rowPredictions(reduce(output, reducedTopK), 0));
    expect(report.committedLogprobs).toHaveLength(report.committedTokens.length);
    report.committedPositions.forEach((position, i) => {
      const expected = byHand(logits, session.answerOffset + position, report.committedTokens[i]!, top);
      const actual = report.committedLogprobs![i]!;
      expect(actual.logprob).toBeCloseTo(expected.logprob, digits);
      expect(actual.top.map((t) => t.id)).toEqual(expected.top.map((t) => t.id));
      actual.top.forEach((t, k) => {
        expect(t.logprob).toBeCloseTo(expected.top[k]!.logprob, digits);
      });
    });
    reported.push(report.committedLogprobs!);
  }
  return reported.flat();
}

describe('logprobs on the logits path', () => {
  const denoiser = new RandomDenoiser({ seed: 5, vocabSize: VOCAB_SIZE, sharpness: 3, favouredTokens: [7, 8] });

  it('records log softmax of each committed token and its best emittable alternatives, at temperature 0 and above', () => {
    for (const temperature of [0, 1.5]) {
      for (const top of [0, 1, 5]) decodeCheckingLogprobs(denoiser, request({ temperature, logprobs: top }), top);
    }
  });

  it('keeps the model figures under random remasking, where the confidence is a uniform draw', () => {
    decodeCheckingLogprobs(denoiser, request({ strategy: { name: 'reference', remasking: 'random' } }), 3);
  });

  it('gives the argmax as the top alternative at temperature 0, and tokenLogprobs aligned with tokenIds', async () => {
    const result = await decode(denoiser, request({ temperature: 0 }));
    expect(result.tokenLogprobs).toHaveLength(result.tokenIds.length);
    result.tokenLogprobs!.forEach((entry, p) => {
      expect(entry.top[0]!.id).toBe(result.tokenIds[p]);
      expect(entry.top[0]!.logprob).toBe(entry.logprob);
      expect(entry.top.map((t) => t.logprob)).toEqual([...entry.top.map((t) => t.logprob)].sort((a, b) => b - a));
    });
  });

  it('records nothing when the request does not ask', async () => {
    const reports: unknown[] = [];
    const { logprobs: _, ...plain } = request();
    const result = await decode(denoiser, plain, { onStep: (r) => reports.push(r.committedLogprobs) });
    expect(result.tokenLogprobs).toBeUndefined();
    expect(reports.every((r) => r === undefined)).toBe(true);
  });

  it('refuses more than 5 alternatives, or a fraction', () => {
    for (const logprobs of [6, -1, 1.5]) {
      expect(() => createDecodeSession(request({ logprobs }), VOCAB_SIZE)).toThrow(
        expect.objectContaining({ code: 'invalid_value', field: 'logprobs' }),
      );
    }
  });
});

/** The reduced form of a logits output, computed as a reduced graph does (float32), with every position. */
function reduce(output: LogitsOutput, topK: number): PredictionsOutput {
  const { batchSize, sequenceLength } = output;
  const rows = batchSize * sequenceLength;
  const token = new Int32Array(rows);
  const confidence = new Float32Array(rows);
  const entropy = new Float32Array(rows);
  const topKIds = new Int32Array(rows * topK);
  const topKLogits = new Float32Array(rows * topK);
  for (let r = 0; r < rows; r++) {
    const logits = Array.from(output.logits.subarray(r * VOCAB_SIZE, (r + 1) * VOCAB_SIZE));
    const max = Math.max(...logits);
    const sum = logits.reduce((s, l) => s + Math.exp(l - max), 0);
    const ranked = logits
      .map((logit, id) => ({ logit, id }))
      .filter(({ id }) => !SUPPRESSED.has(id))
      .sort((a, b) => b.logit - a.logit || a.id - b.id);
    token[r] = ranked[0]!.id;
    confidence[r] = Math.exp(ranked[0]!.logit - max) / sum;
    entropy[r] = -logits.reduce((s, l) => s + (Math.exp(l - max) / sum) * (l - max - Math.log(sum)), 0);
    ranked.slice(0, topK).forEach((entry, k) => {
      topKIds[r * topK + k] = entry.id;
      topKLogits[r * topK + k] = entry.logit;
    });
  }
  return {
    form: 'predictions',
    batchSize,
    perRow: sequenceLength,
    token,
    confidence,
    entropy,
    topK,
    topKIds,
    topKLogits,
  };
}

describe('logprobs on the predictions path (reduced outputs)', () => {
  const logitsDenoiser = new RandomDenoiser({ seed: 11, vocabSize: VOCAB_SIZE, sharpness: 3, favouredTokens: [7, 8] });
  const reducedDenoiser = (topK: number) => ({
    vocabSize: VOCAB_SIZE,
    outputForm: { form: 'predictions', topK, positions: false } as const,
    denoise: async (batch: DenoiserBatch) => reduce(logitsDenoiser.logitsFor(batch), topK),
  });

  it('records the figures of the logits behind them, within float32 rounding, at temperature 0 and with top-k sampling', () => {
    for (const temperature of [0, 1]) {
      for (const [top, topK] of [
        [0, 0],
        [2, 2],
        [5, 7],
      ] as const) {
        if (temperature > 0 && topK === 0) continue; // refused: sampling needs top-k
        decodeCheckingLogprobs(logitsDenoiser, request({ temperature, logprobs: top }), top, topK);
      }
    }
  });

  it('records what the logits path records at temperature 0', async () => {
    const viaLogits = await decode(logitsDenoiser, request({ logprobs: 5 }));
    const viaPredictions = await decode(reducedDenoiser(5), request({ logprobs: 5 }));
    expect(viaPredictions.tokenIds).toEqual(viaLogits.tokenIds);
    viaPredictions.tokenLogprobs!.forEach((entry, p) => {
      expect(entry.logprob).toBeCloseTo(viaLogits.tokenLogprobs![p]!.logprob, 5);
      expect(entry.top.map((t) => t.id)).toEqual(viaLogits.tokenLogprobs![p]!.top.map((t) => t.id));
    });
  });

  it("refuses at session creation more alternatives than the model's top-k, naming the fix", () => {
    const refusal = (() => {
      try {
        createDecodeSession(request({ logprobs: 3 }), VOCAB_SIZE, reducedDenoiser(2).outputForm);
      } catch (error) {
        return error;
      }
    })();
    expect(refusal).toBeInstanceOf(DecodeOptionsError);
    expect(refusal).toMatchObject({ code: 'logprobs_needs_top_k', field: 'logprobs' });
    expect((refusal as Error).message).toContain('dfleet model reduce --top-k');
    expect(() =>
      createDecodeSession(request({ logprobs: 2 }), VOCAB_SIZE, reducedDenoiser(2).outputForm),
    ).not.toThrow();
    expect(() =>
      createDecodeSession(request({ logprobs: 0 }), VOCAB_SIZE, reducedDenoiser(0).outputForm),
    ).not.toThrow();
  });
});
