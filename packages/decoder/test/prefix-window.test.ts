import { describe, expect, it } from 'vitest';
import {
  applyRowOutput,
  batchPositions,
  createDecodeSession,
  DecodeSessionError,
  type DecodeRequest,
  type DecodeSession,
  type PredictionsOutput,
} from '../src/index.ts';
import { SeededRng } from '../src/seeded-rng.ts';

const VOCAB_SIZE = 8;
const MASK = 7;
const request: DecodeRequest = {
  promptIds: [4, 5, 6],
  maxNewTokens: 8,
  blockLength: 4,
  strategy: { name: 'threshold', threshold: 0.5 },
  specialTokens: { mask: MASK, eos: 0, bos: 1 },
};

/** Seeded logits for every canvas position, so two sessions can be fed the same model output. */
function canvasLogits(canvasLength: number, seed: number): Float32Array {
  const rng = new SeededRng(seed);
  return Float32Array.from({ length: canvasLength * VOCAB_SIZE }, () => rng.nextOpenUnit() * 8);
}

function codeOf(action: () => unknown): string {
  try {
    action();
  } catch (error) {
    if (error instanceof DecodeSessionError) return error.code;
    throw error;
  }
  return 'no error';
}

/** Steps `full` on whole-canvas logits and `windowed` on the same logits from its cacheable prefix on. */
function stepBoth(full: DecodeSession, windowed: DecodeSession, step: number): void {
  const logits = canvasLogits(full.canvas.length, step);
  const windowStart = windowed.cacheablePrefix;
  full.applyLogits(logits);
  windowed.applyLogits(logits.subarray(windowStart * VOCAB_SIZE), windowStart);
}

describe('a session fed only its window (prefix cache)', () => {
  it('names the canvas before its current block as cacheable, moving on with each block', () => {
    const session = createDecodeSession(request, VOCAB_SIZE);
    // bos + 3 prompt tokens before the first block.
    expect(session.cacheablePrefix).toBe(4);
    const prefixes = new Set<number>();
    for (let step = 0; !session.finished; step++) {
      prefixes.add(session.cacheablePrefix);
      session.applyLogits(canvasLogits(session.canvas.length, step));
    }
    expect([...prefixes]).toEqual([4, 8]);
  });

  it('commits the same tokens from window logits as from whole-canvas logits', () => {
    const full = createDecodeSession(request, VOCAB_SIZE);
    const windowed = createDecodeSession(request, VOCAB_SIZE);
    for (let step = 0; !full.finished; step++) stepBoth(full, windowed, step);
    expect(windowed.finished).toBe(true);
    expect(windowed.result()).toEqual(full.result());
  });

  it('refuses a window that starts after a position the step reads', () => {
    const session = createDecodeSession(request, VOCAB_SIZE);
    const windowStart = session.cacheablePrefix + 1;
    const logits = canvasLogits(session.canvas.length - windowStart, 0);
    expect(codeOf(() => session.applyLogits(logits, windowStart))).toBe('window_after_candidates');
  });

  it('refuses window logits too short for the window', () => {
    const session = createDecodeSession(request, VOCAB_SIZE);
    const windowStart = session.cacheablePrefix;
    const short = new Float32Array((session.canvas.length - windowStart) * VOCAB_SIZE - 1);
    expect(codeOf(() => session.applyLogits(short, windowStart))).toBe('logits_shape_mismatch');
  });

  it('names window slots in batch positions and hands predictions back at canvas positions', () => {
    const session = createDecodeSession(request, VOCAB_SIZE);
    const windowStart = session.cacheablePrefix;
    const form = { form: 'predictions', topK: 0, positions: true } as const;
    const positions = batchPositions([session], form, [windowStart])!;
    // The first block's four masks are the window's first four slots.
    expect(Array.from(positions.values)).toEqual([0, 1, 2, 3]);

    const output: PredictionsOutput = {
      form: 'predictions',
      batchSize: 1,
      perRow: positions.perRow,
      positions: positions.values,
      token: Int32Array.from([2, 3, 4, 5]),
      confidence: Float32Array.from([0.9, 0.9, 0.9, 0.9]),
      entropy: new Float32Array(4),
      topK: 0,
    };
    const report = applyRowOutput(session, output, 0, { batchSize: 1, sequenceLength: 8 }, windowStart);
    expect(Array.from(report.committedTokens)).toEqual([2, 3, 4, 5]);
    expect(Array.from(session.canvas.subarray(4, 8))).toEqual([2, 3, 4, 5]);
  });

  it('refuses batch positions for a window that starts after a position its session reads', () => {
    const session = createDecodeSession(request, VOCAB_SIZE);
    const form = { form: 'predictions', topK: 0, positions: true } as const;
    expect(codeOf(() => batchPositions([session], form, [session.cacheablePrefix + 2]))).toBe(
      'window_after_candidates',
    );
  });
});
