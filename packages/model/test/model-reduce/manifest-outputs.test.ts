import { describe, expect, it } from 'vitest';
import { modelOutputs, parseModelManifest, type ModelManifestError } from '../../src/index.ts';

const v1 = {
  name: 'm',
  vocabSize: 10,
  maxSequenceLength: 64,
  specialTokens: { mask: 3, eos: 2, pad: 0, bos: 1 },
  files: { onnx: 'model.onnx', tokenizer: 'tokenizer.json' },
};

function issues(json: unknown): string[] {
  try {
    parseModelManifest(json, 'dfleet-model.json');
  } catch (error) {
    return (error as ModelManifestError).issues.map((issue) => `${issue.field}: ${issue.message}`);
  }
  return [];
}

describe('the manifest outputs block', () => {
  it('is optional: a manifest without one declares the v1 logits output', () => {
    const manifest = parseModelManifest(v1, 'x');
    expect(manifest.outputs).toBeUndefined();
    expect(modelOutputs(manifest)).toEqual({ form: 'logits' });
  });

  it('declares a reduced model, with topK, positionsInput and logits defaulting to off', () => {
    const manifest = parseModelManifest({ ...v1, outputs: { form: 'reduced', suppressedTokenIds: [0, 1, 3] } }, 'x');
    expect(modelOutputs(manifest)).toEqual({
      form: 'reduced',
      topK: 0,
      positionsInput: false,
      logits: false,
      suppressedTokenIds: [0, 1, 3],
    });
  });

  it('rejects a top-k above 8, an unknown form and a suppressed id outside the vocabulary', () => {
    expect(issues({ ...v1, outputs: { form: 'reduced', topK: 9, suppressedTokenIds: [] } })).toEqual([
      'outputs.topK: must be an integer in [0, 8] (got 9)',
    ]);
    expect(issues({ ...v1, outputs: { form: 'kv-cache' } })[0]).toMatch(
      /^outputs.form: must be \{ form: "logits" \} or \{ form: "reduced"/,
    );
    expect(issues({ ...v1, outputs: { form: 'reduced', suppressedTokenIds: [10] } })).toEqual([
      'outputs.suppressedTokenIds.0: must be a token id in [0, vocabSize=10) (got 10)',
    ]);
  });
});
