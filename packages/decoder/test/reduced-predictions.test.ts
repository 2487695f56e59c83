import { describe, expect, it } from 'vitest';
import { createDecodeSession, DecodeOptionsError, type DecodeRequest, type RowPredictions } from '../src/index.ts';

/**
 * What a reduced graph computes from one position's logits, in float32 as the graph does:
 * argmax over the emittable ids, its full-softmax probability, the full entropy, the top K.
 */
function reducePosition(logits: readonly number[], suppressed: ReadonlySet<number>, topK: number) {
  const max = Math.max(...logits);
  const weights = logits.map((logit) => Math.exp(logit - max));
  const sum = weights.reduce((a, b) => a + b, 0);
  const entropy = -weights.reduce((total, w) => total + (w / sum) * Math.log(w / sum), 0);
  const ranked = logits
    .map((logit, id) => ({ logit, id }))
    .filter(({ id }) => !suppressed.has(id))
    .sort((a, b) => b.logit - a.logit || a.id - b.id);
  const best = ranked[0]!;
  return { token: best.id, confidence: weights[best.id]! / sum, entropy, top: ranked.slice(0, topK) };
}

/** A row of predictions at every canvas position, each position with the same logits. */
function rowFor(
  logits: readonly number[],
  positions: number,
  suppressed: ReadonlySet<number>,
  topK: number,
): RowPredictions {
  const one = reducePosition(logits, suppressed, topK);
  return {
    count: positions,
    token: new Int32Array(positions).fill(one.token),
    confidence: new Float32Array(positions).fill(one.confidence),
    entropy: new Float32Array(positions).fill(one.entropy),
    topK,
    topKIds: Int32Array.from({ length: positions * topK }, (_, i) => one.top[i % topK]!.id),
    topKLogits: Float32Array.from({ length: positions * topK }, (_, i) => one.top[i % topK]!.logit),
  };
}

// Vocabulary: ids 0..3 emittable (0 = eos), 4 = mask (suppressed, still in the softmax).
const LOGITS = [Math.log(0.2), Math.log(0.35), Math.log(0.1), Math.log(0.3), Math.log(0.05)];
const VOCAB_SIZE = LOGITS.length;
const MASK = 4;
const SUPPRESSED = new Set([MASK]);
const EMITTABLE = VOCAB_SIZE - 1;

function singlePositionRequest(temperature: number, seed: number): DecodeRequest {
  return {
    promptIds: [],
    maxNewTokens: 1,
    strategy: { name: 'reference' },
    temperature,
    seed,
    specialTokens: { mask: MASK, eos: 0 },
  };
}

describe('a session fed reduced predictions', () => {
  it('at temperature 0 commits what it commits from the logits, for every strategy', () => {
    const request = {
      promptIds: [1, 2],
      maxNewTokens: 8,
      blockLength: 4,
      temperature: 0,
      specialTokens: { mask: MASK, eos: 0 },
    };
    // Distinct logits per position, so confidence ranks them and the strategies commit in different orders.
    const logitsAt = (position: number): number[] => LOGITS.map((l, v) => l + ((position * (v + 3)) % 5) * 0.4);
    for (const strategy of [
      { name: 'reference' },
      { name: 'threshold', threshold: 0.5 },
      { name: 'factor' },
      { name: 'entropy-bounded' },
    ] as const) {
      const viaLogits = createDecodeSession({ ...request, strategy }, VOCAB_SIZE);
      const viaPredictions = createDecodeSession({ ...request, strategy }, VOCAB_SIZE, {
        form: 'predictions',
        topK: 0,
        positions: true,
      });
      while (!viaLogits.finished) {
        const length = viaLogits.canvas.length;
        const logits = new Float32Array(length * VOCAB_SIZE);
        for (let p = 0; p < length; p++) logits.set(logitsAt(p), p * VOCAB_SIZE);
        const read = viaPredictions.positionsToRead();
        // Padded as a batch pads it: the last position repeated.
        const positions = Int32Array.from([...read, read[read.length - 1]!]);
        const reduced = Array.from(positions, (p) => reducePosition(logitsAt(p), SUPPRESSED, 0));
        const fromLogits = viaLogits.applyLogits(logits);
        const fromPredictions = viaPredictions.applyPredictions({
          count: positions.length,
          positions,
          token: Int32Array.from(reduced, (r) => r.token),
          confidence: Float32Array.from(reduced, (r) => r.confidence),
          entropy: Float32Array.from(reduced, (r) => r.entropy),
          topK: 0,
        });
        expect(fromPredictions).toEqual(fromLogits);
      }
      expect(viaPredictions.result()).toEqual(viaLogits.result());
    }
  });

  it("names the current block's masked canvas positions as the ones it reads next", () => {
    const session = createDecodeSession(
      {
        promptIds: [1, 2, 3],
        maxNewTokens: 4,
        blockLength: 2,
        strategy: { name: 'reference', steps: 4 },
        specialTokens: { mask: MASK, eos: 0, bos: 3 },
      },
      VOCAB_SIZE,
    );
    // bos + 3 prompt tokens: the answer starts at canvas index 4.
    expect(Array.from(session.positionsToRead())).toEqual([4, 5]);
    session.applyPredictions(rowFor([0, 5, 1, 0, 0], session.canvas.length, SUPPRESSED, 0));
    expect(session.positionsToRead()).toHaveLength(1);
  });

  it('rejects predictions that lack a position it reads', () => {
    const session = createDecodeSession(singlePositionRequest(0, 0), VOCAB_SIZE);
    const row = { ...rowFor(LOGITS, 1, SUPPRESSED, 0), positions: new Int32Array([7]) };
    expect(() => session.applyPredictions(row)).toThrow(
      expect.objectContaining({ code: 'predictions_shape_mismatch' }),
    );
  });

  it('refuses temperature > 0 at creation when the predictions have no top-k, naming the fix', () => {
    const create = () =>
      createDecodeSession(singlePositionRequest(0.7, 1), VOCAB_SIZE, { form: 'predictions', topK: 0, positions: true });
    expect(create).toThrow(DecodeOptionsError);
    expect(create).toThrow(expect.objectContaining({ code: 'temperature_needs_top_k', field: 'temperature' }));
    expect(create).toThrow(/dfleet model reduce --top-k K/);
    expect(() =>
      createDecodeSession(singlePositionRequest(0, 1), VOCAB_SIZE, { form: 'predictions', topK: 0, positions: true }),
    ).not.toThrow();
  });

  it('samples among the top K at temperature > 0, the same token for the same seed', () => {
    const sample = (seed: number): number => {
      const session = createDecodeSession(singlePositionRequest(1, seed), VOCAB_SIZE, {
        form: 'predictions',
        topK: 2,
        positions: false,
      });
      session.applyPredictions(rowFor(LOGITS, 1, SUPPRESSED, 2));
      return session.canvas[0]!;
    };
    const draws = Array.from({ length: 200 }, (_, seed) => sample(seed));
    expect(draws).toEqual(Array.from({ length: 200 }, (_, seed) => sample(seed)));
    // Top 2 of the emittable ids are 1 (0.35) and 3 (0.3): nothing else ever comes out.
    expect(new Set(draws)).toEqual(new Set([1, 3]));
  });

  it("with K = every emittable id, samples the logits path's distribution, softmax(l / T) over the emittable ids", () => {
    const runs = 4000;
    const temperature = 0.8;
    const viaLogits = new Array<number>(VOCAB_SIZE).fill(0);
    const viaPredictions = new Array<number>(VOCAB_SIZE).fill(0);
    for (let seed = 0; seed < runs; seed++) {
      const fromLogits = createDecodeSession(singlePositionRequest(temperature, seed), VOCAB_SIZE);
      fromLogits.applyLogits(Float32Array.from(LOGITS));
      viaLogits[fromLogits.canvas[0]!]!++;
      const fromPredictions = createDecodeSession(singlePositionRequest(temperature, seed), VOCAB_SIZE, {
        form: 'predictions',
        topK: EMITTABLE,
        positions: false,
      });
      const report = fromPredictions.applyPredictions(rowFor(LOGITS, 1, SUPPRESSED, EMITTABLE));
      viaPredictions[fromPredictions.canvas[0]!]!++;
      expect(report.committedTokens[0]).toBe(fromPredictions.canvas[0]);
    }
    const tempered = LOGITS.slice(0, EMITTABLE).map((logit) => Math.exp(logit / temperature));
    const z = tempered.reduce((a, b) => a + b, 0);
    for (let v = 0; v < EMITTABLE; v++) {
      expect(Math.abs(viaPredictions[v]! / runs - tempered[v]! / z)).toBeLessThan(0.03);
      expect(Math.abs(viaLogits[v]! / runs - tempered[v]! / z)).toBeLessThan(0.03);
    }
    expect(viaPredictions[MASK]).toBe(0);
  });
});
