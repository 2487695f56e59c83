import { suppressedTokenIds } from '@dfleet/decoder';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import {
  ModelReduceError,
  REDUCTION_METADATA_KEY,
  reduceOnnxModel,
  type ReduceOnnxModelOptions,
} from '../../src/index.ts';
import { openOnnxGraph } from '../../src/model-reduce/onnx-graph.ts';
import { decodeMessage, OnnxMessages } from '../../src/model-reduce/onnx-schema.ts';
import { MODEL_DIR } from '../model-directory.ts';
import { FLOAT16, passThroughLogitsModel } from './pass-through-model.ts';
import { referenceReduction } from './reference-reduction.ts';

const VOCAB = 12;
const SUPPRESSED = [0, 1, 3];

async function runReduced(rows: number[][], options: Partial<ReduceOnnxModelOptions> = {}) {
  const model = reduceOnnxModel(passThroughLogitsModel(VOCAB), {
    vocabSize: VOCAB,
    suppressedTokenIds: SUPPRESSED,
    ...options,
  });
  const session = await ort.InferenceSession.create(model.bytes);
  const scores = new ort.Tensor('float32', Float32Array.from(rows.flat()), [1, rows.length, VOCAB]);
  const out = await session.run({ scores });
  await session.release();
  return out;
}

const row = (values: Record<number, number>, base = 0): number[] =>
  Array.from({ length: VOCAB }, (_, v) => values[v] ?? base);

async function expectCode(promise: () => unknown, code: string): Promise<void> {
  try {
    await promise();
  } catch (error) {
    expect(error).toBeInstanceOf(ModelReduceError);
    expect((error as ModelReduceError).code).toBe(code);
    return;
  }
  throw new Error(`expected ModelReduceError ${code}`);
}

describe('reduceOnnxModel on chosen logits', () => {
  it('never outputs a suppressed id, even when suppressed ids have the highest logits', async () => {
    const rows = [row({ 3: 9, 0: 8, 1: 7, 5: 2, 6: 1 }), row({ 1: 50, 11: -1 }, -3)];
    const out = await runReduced(rows, { topK: 3 });
    expect(Array.from(out['top_token']!.data as BigInt64Array, Number)).toEqual([5, 11]);
    expect(Array.from(out['top_k_ids']!.data as BigInt64Array, Number).slice(0, 3)).toEqual([5, 6, 2]);
  });

  it('gives the full-softmax confidence and entropy, suppressed mass included', async () => {
    const rows = [row({ 3: 9, 0: 8, 5: 2, 6: 1 }), row({ 2: 1.5, 7: 1.25 }, 0.5)];
    const out = await runReduced(rows);
    const confidence = out['top_confidence']!.data as Float32Array;
    const entropy = out['entropy']!.data as Float32Array;
    rows.forEach((logits, i) => {
      const expected = referenceReduction(logits, new Set(SUPPRESSED));
      expect(Math.abs(confidence[i]! - expected.topConfidence)).toBeLessThan(1e-6);
      expect(Math.abs(entropy[i]! - expected.entropy)).toBeLessThan(1e-5);
    });
    expect(confidence[0]).toBeLessThan(0.01);
  });

  it('breaks ties by the lowest id, as the decoder does', async () => {
    const out = await runReduced([row({ 9: 4, 4: 4, 7: 4 })], { topK: 3 });
    expect(Number((out['top_token']!.data as BigInt64Array)[0])).toBe(4);
    expect(Array.from(out['top_k_ids']!.data as BigInt64Array, Number)).toEqual([4, 7, 9]);
  });

  it('stays accurate for logits in the thousands (shifted softmax and log-sum-exp)', async () => {
    const rows = [row({ 2: 3000, 4: 2999 }, 2000)];
    const out = await runReduced(rows);
    const expected = referenceReduction(rows[0]!, new Set(SUPPRESSED));
    expect(Math.abs((out['top_confidence']!.data as Float32Array)[0]! - expected.topConfidence)).toBeLessThan(1e-5);
    expect(Math.abs((out['entropy']!.data as Float32Array)[0]! - expected.entropy)).toBeLessThan(1e-3);
  });

  it('reduces float16 logits in float32', async () => {
    const model = reduceOnnxModel(passThroughLogitsModel(VOCAB, 17, FLOAT16), {
      vocabSize: VOCAB,
      suppressedTokenIds: SUPPRESSED,
    });
    const session = await ort.InferenceSession.create(model.bytes);
    // float16 bit patterns: 3.0, 2.0 and 1.0 at ids 3 (suppressed), 5 and 6; 0 elsewhere.
    const half = new Uint16Array(VOCAB);
    half[3] = 0x4200;
    half[5] = 0x4000;
    half[6] = 0x3c00;
    const out = await session.run({ scores: new ort.Tensor('float16', half, [1, 1, VOCAB]) });
    await session.release();
    const expected = referenceReduction(row({ 3: 3, 5: 2, 6: 1 }), new Set(SUPPRESSED));
    expect(Number((out['top_token']!.data as BigInt64Array)[0])).toBe(5);
    expect(out['top_confidence']!.type).toBe('float32');
    expect(Math.abs((out['top_confidence']!.data as Float32Array)[0]! - expected.topConfidence)).toBeLessThan(1e-6);
  });

  it('keeps the v1 nodes and initializers byte for byte and records the reduction in the metadata', async () => {
    const shipped = await readFile(join(MODEL_DIR, 'model.onnx'));
    const model = reduceOnnxModel(shipped, { vocabSize: 102, suppressedTokenIds: SUPPRESSED, topK: 2 });
    const before = openOnnxGraph(shipped, 'v1');
    const after = openOnnxGraph(model.bytes, 'reduced');
    const same = (a: readonly { raw: { bytes: Uint8Array } }[], b: typeof a): boolean =>
      a.every((entry, i) => Buffer.compare(entry.raw.bytes, b[i]!.raw.bytes) === 0);
    expect(same(before.nodes, after.nodes.slice(0, before.nodes.length))).toBe(true);
    expect(same(before.initializers, after.initializers.slice(0, before.initializers.length))).toBe(true);
    expect(after.outputs.map((entry) => entry.value.name)).toEqual([
      'top_token',
      'top_confidence',
      'entropy',
      'top_k_ids',
      'top_k_logits',
    ]);
    const { metadata_props: metadata } = decodeMessage<{ metadata_props: { key: string; value: string }[] }>(
      OnnxMessages.model,
      model.bytes,
    );
    const recorded = metadata.find((entry) => entry.key === REDUCTION_METADATA_KEY)?.value;
    expect(JSON.parse(recorded ?? 'null')).toEqual({
      topK: 2,
      positionsInput: false,
      logits: false,
      suppressedTokenIds: SUPPRESSED,
    });
  });

  it('drops the full-canvas head when positions replace it and logits are not kept', async () => {
    const shipped = await readFile(join(MODEL_DIR, 'model.onnx'));
    const model = reduceOnnxModel(shipped, { vocabSize: 102, suppressedTokenIds: SUPPRESSED, positionsInput: true });
    const graph = openOnnxGraph(model.bytes, 'reduced');
    expect(graph.nodes.some((entry) => entry.value.output?.includes('logits'))).toBe(false);
    expect(graph.inputs.map((entry) => entry.value.name)).toEqual(['input_ids', 'attention_mask', 'positions']);
  });
});

describe('reduceOnnxModel refuses what it cannot reduce', () => {
  const options = { vocabSize: VOCAB, suppressedTokenIds: SUPPRESSED };

  it('a model without a logits output', async () => {
    const bytes = reduceOnnxModel(passThroughLogitsModel(VOCAB), options).bytes;
    await expectCode(() => reduceOnnxModel(bytes, options), 'model_already_reduced');
  });

  it('positions when logits do not come from a MatMul head', async () => {
    await expectCode(
      () => reduceOnnxModel(passThroughLogitsModel(VOCAB), { ...options, positionsInput: true }),
      'lm_head_not_found',
    );
  });

  it('a top-k above 8, or a suppressed id outside the vocabulary', async () => {
    await expectCode(
      () => reduceOnnxModel(passThroughLogitsModel(VOCAB), { ...options, topK: 9 }),
      'reduce_option_invalid',
    );
    await expectCode(
      () => reduceOnnxModel(passThroughLogitsModel(VOCAB), { ...options, suppressedTokenIds: [VOCAB] }),
      'reduce_option_invalid',
    );
  });

  it('a vocabSize other than the logits width', async () => {
    await expectCode(
      () => reduceOnnxModel(passThroughLogitsModel(VOCAB), { ...options, vocabSize: 13 }),
      'reduce_option_invalid',
    );
  });

  it('opsets before 13 and bytes that are not a model', async () => {
    await expectCode(() => reduceOnnxModel(passThroughLogitsModel(VOCAB, 12), options), 'opset_unsupported');
    await expectCode(() => reduceOnnxModel(new Uint8Array([0xff, 0xff, 0xff]), options), 'onnx_unreadable');
  });
});

describe('suppressedTokenIds', () => {
  it('suppresses mask, bos and pad, but not pad when it is eos', () => {
    expect(suppressedTokenIds({ mask: 3, eos: 2, pad: 0, bos: 1 })).toEqual([0, 1, 3]);
    expect(suppressedTokenIds({ mask: 126336, eos: 126081, pad: 126081, bos: 126080 })).toEqual([126080, 126336]);
  });

  it('suppresses unk when the model has one', () => {
    expect(suppressedTokenIds({ mask: 3, eos: 2, pad: 0, bos: 1, unk: 4 })).toEqual([0, 1, 3, 4]);
  });
});
