import { suppressedTokenIds } from '@dfleet/decoder';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import ort from 'onnxruntime-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  buildCanvas,
  loadModelManifest,
  reduceModelDirectory,
  Tokenizer,
  type ModelManifest,
} from '../../src/index.ts';
import { MODEL_DIR } from '../model-directory.ts';
import { referenceReduction } from './reference-reduction.ts';

const HELD_OUT_PROMPTS = 6;
const NEW_TOKENS = 48;
const TOP_K = 4;
const TOLERANCE = 1e-5;

interface Batch {
  readonly feeds: Record<string, ort.Tensor>;
  readonly batchSize: number;
  readonly length: number;
  /** Canvas positions of the masks, per row. */
  readonly maskPositions: number[][];
  readonly attended: (row: number, position: number) => boolean;
}

/** Held-out prompts as canvases [bos] + prompt + [mask] * 48, right-padded into one batch. */
async function heldOutBatch(manifest: ModelManifest): Promise<Batch> {
  const tokenizer = await Tokenizer.fromFile(join(MODEL_DIR, manifest.files.tokenizer));
  const lines = (await readFile(join(MODEL_DIR, 'eval', 'heldout.jsonl'), 'utf8')).trim().split('\n');
  const canvases = lines
    .slice(0, HELD_OUT_PROMPTS)
    .map((line) =>
      buildCanvas(tokenizer.encode((JSON.parse(line) as { prompt: string }).prompt), manifest, NEW_TOKENS),
    );
  const length = Math.max(...canvases.map((canvas) => canvas.length));
  const ids = new BigInt64Array(canvases.length * length).fill(BigInt(manifest.specialTokens.pad));
  const mask = new BigInt64Array(canvases.length * length);
  canvases.forEach((canvas, row) => {
    canvas.forEach((id, position) => {
      ids[row * length + position] = BigInt(id);
      mask[row * length + position] = 1n;
    });
  });
  return {
    feeds: {
      input_ids: new ort.Tensor('int64', ids, [canvases.length, length]),
      attention_mask: new ort.Tensor('int64', mask, [canvases.length, length]),
    },
    batchSize: canvases.length,
    length,
    maskPositions: canvases.map((canvas) =>
      Array.from({ length: NEW_TOKENS }, (_, j) => canvas.length - NEW_TOKENS + j),
    ),
    attended: (row, position) => position < canvases[row]!.length,
  };
}

const numbers = (tensor: ort.Tensor): number[] => Array.from(tensor.data as ArrayLike<number | bigint>, Number);

describe('dfleet model reduce on the shipped model (held-out prompts with masks)', () => {
  let work: string;
  let manifest: ModelManifest;
  let batch: Batch;
  let v1: ort.InferenceSession.OnnxValueMapType;
  let reduced: ort.InferenceSession.OnnxValueMapType;
  let suppressed: Set<number>;

  beforeAll(async () => {
    work = await mkdtemp(join(tmpdir(), 'dfleet-reduce-test-'));
    manifest = await loadModelManifest(MODEL_DIR);
    suppressed = new Set(suppressedTokenIds(manifest.specialTokens));
    batch = await heldOutBatch(manifest);
    await reduceModelDirectory(MODEL_DIR, join(work, 'reduced'), { topK: TOP_K });
    const options = { intraOpNumThreads: 1 };
    const v1Session = await ort.InferenceSession.create(join(MODEL_DIR, 'model.onnx'), options);
    const reducedSession = await ort.InferenceSession.create(join(work, 'reduced', 'model.onnx'), options);
    v1 = await v1Session.run(batch.feeds);
    reduced = await reducedSession.run(batch.feeds);
    await Promise.all([v1Session.release(), reducedSession.release()]);
  });
  afterAll(async () => {
    await rm(work, { recursive: true, force: true });
  });

  it('outputs top_token, top_confidence, entropy and top-k [B, L], and no logits by default', () => {
    expect(Object.keys(reduced).sort()).toEqual([
      'entropy',
      'top_confidence',
      'top_k_ids',
      'top_k_logits',
      'top_token',
    ]);
    expect(reduced['top_token']!.type).toBe('int64');
    expect(reduced['top_token']!.dims).toEqual([batch.batchSize, batch.length]);
    expect(reduced['top_confidence']!.type).toBe('float32');
    expect(reduced['entropy']!.dims).toEqual([batch.batchSize, batch.length]);
    expect(reduced['top_k_ids']!.dims).toEqual([batch.batchSize, batch.length, TOP_K]);
  });

  it("matches the decoder's rule on the v1 logits at every attended position", () => {
    const logits = v1['logits']!.data as Float32Array;
    const vocab = manifest.vocabSize;
    const topToken = numbers(reduced['top_token']!);
    const confidence = reduced['top_confidence']!.data as Float32Array;
    const entropy = reduced['entropy']!.data as Float32Array;
    const topKIds = numbers(reduced['top_k_ids']!);
    const topKLogits = reduced['top_k_logits']!.data as Float32Array;
    let compared = 0;
    for (let row = 0; row < batch.batchSize; row++) {
      for (let position = 0; position < batch.length; position++) {
        if (!batch.attended(row, position)) continue;
        const cell = row * batch.length + position;
        const logitsRow = logits.subarray(cell * vocab, (cell + 1) * vocab);
        const expected = referenceReduction(logitsRow, suppressed);
        expect(topToken[cell]).toBe(expected.topToken);
        expect(Math.abs(confidence[cell]! - expected.topConfidence)).toBeLessThan(TOLERANCE);
        expect(Math.abs(entropy[cell]! - expected.entropy)).toBeLessThan(TOLERANCE);
        expect(topKIds.slice(cell * TOP_K, (cell + 1) * TOP_K)).toEqual(expected.ranked.slice(0, TOP_K));
        for (let k = 0; k < TOP_K; k++) {
          expect(Math.abs(topKLogits[cell * TOP_K + k]! - logitsRow[expected.ranked[k]!]!)).toBeLessThan(TOLERANCE);
        }
        compared++;
      }
    }
    expect(compared).toBeGreaterThan(HELD_OUT_PROMPTS * NEW_TOKENS);
  });

  it('the positions form gives the full form values at the named positions', async () => {
    await reduceModelDirectory(MODEL_DIR, join(work, 'positions'), { topK: TOP_K, positionsInput: true });
    const session = await ort.InferenceSession.create(join(work, 'positions', 'model.onnx'), { intraOpNumThreads: 1 });
    expect(session.inputNames).toEqual(['input_ids', 'attention_mask', 'positions']);
    const count = NEW_TOKENS;
    const positions = BigInt64Array.from(batch.maskPositions.flat(), BigInt);
    const out = await session.run({
      ...batch.feeds,
      positions: new ort.Tensor('int64', positions, [batch.batchSize, count]),
    });
    await session.release();
    expect(out['top_token']!.dims).toEqual([batch.batchSize, count]);
    expect(out['top_k_ids']!.dims).toEqual([batch.batchSize, count, TOP_K]);
    const fullToken = numbers(reduced['top_token']!);
    const fullTopK = numbers(reduced['top_k_ids']!);
    const fullConfidence = reduced['top_confidence']!.data as Float32Array;
    const fullEntropy = reduced['entropy']!.data as Float32Array;
    const token = numbers(out['top_token']!);
    const topK = numbers(out['top_k_ids']!);
    const confidence = out['top_confidence']!.data as Float32Array;
    const entropy = out['entropy']!.data as Float32Array;
    for (let row = 0; row < batch.batchSize; row++) {
      batch.maskPositions[row]!.forEach((position, j) => {
        const cell = row * batch.length + position;
        const at = row * count + j;
        expect(token[at]).toBe(fullToken[cell]);
        expect(topK.slice(at * TOP_K, (at + 1) * TOP_K)).toEqual(fullTopK.slice(cell * TOP_K, (cell + 1) * TOP_K));
        expect(Math.abs(confidence[at]! - fullConfidence[cell]!)).toBeLessThan(TOLERANCE);
        expect(Math.abs(entropy[at]! - fullEntropy[cell]!)).toBeLessThan(TOLERANCE);
      });
    }
  });

  it('keeps the logits output, unchanged, with keepLogits', async () => {
    await reduceModelDirectory(MODEL_DIR, join(work, 'with-logits'), { keepLogits: true });
    const session = await ort.InferenceSession.create(join(work, 'with-logits', 'model.onnx'), {
      intraOpNumThreads: 1,
    });
    const out = await session.run(batch.feeds);
    await session.release();
    expect(out['logits']!.dims).toEqual(v1['logits']!.dims);
    expect(out['logits']!.data).toEqual(v1['logits']!.data);
    expect(numbers(out['top_token']!)).toEqual(numbers(reduced['top_token']!));
  });
});
