import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { loadModelManifest, modelCapabilities, ModelManifestError, parseModelManifest } from '../src/index.ts';
import { MODEL_DIR, removeDirectory } from './model-directory.ts';

const valid = {
  name: 'tiny',
  vocabSize: 10,
  maxSequenceLength: 64,
  specialTokens: { mask: 3, eos: 2, pad: 0, bos: 1 },
  files: { onnx: 'model.onnx', tokenizer: 'tokenizer.json' },
  defaults: { maxNewTokens: 16, blockLength: 8 },
};

function invalidFields(json: unknown): { field: string; message: string }[] {
  try {
    parseModelManifest(json, 'dfleet-model.json');
  } catch (error) {
    expect(error).toBeInstanceOf(ModelManifestError);
    expect((error as ModelManifestError).code).toBe('manifest_invalid');
    return [...(error as ModelManifestError).issues];
  }
  throw new Error('expected the manifest to be rejected');
}

describe('loadModelManifest', () => {
  const temporary: string[] = [];
  afterEach(async () => {
    await Promise.all(temporary.splice(0).map(removeDirectory));
  });

  it('loads the default model manifest with special ids inside the vocabulary', async () => {
    const manifest = await loadModelManifest(MODEL_DIR);
    expect(manifest.name).toBe('jsfunc-mdm');
    for (const id of Object.values(manifest.specialTokens)) {
      expect(id).toBeGreaterThanOrEqual(0);
      expect(id).toBeLessThan(manifest.vocabSize);
    }
    expect(new Set(Object.values(manifest.specialTokens)).size).toBe(5);
    expect(manifest.specialTokens.unk).toBe(4); // tokenizer.py's <|unk|>, which common.py never predicts
  });

  it('says the manifest is missing when the directory has none', async () => {
    const directory = await mkdtemp(join(tmpdir(), 'dfleet-manifest-'));
    temporary.push(directory);
    await expect(loadModelManifest(directory)).rejects.toMatchObject({
      code: 'manifest_not_found',
      message: expect.stringContaining('dfleet-model.json'),
    });
  });

  it('says the manifest is not JSON when it does not parse', async () => {
    const directory = await mkdtemp(join(tmpdir(), 'dfleet-manifest-'));
    temporary.push(directory);
    await writeFile(join(directory, 'dfleet-model.json'), '{"name": "x",');
    await expect(loadModelManifest(directory)).rejects.toMatchObject({ code: 'manifest_not_json' });
  });
});

describe('parseModelManifest', () => {
  it('accepts a manifest that follows the contract', () => {
    expect(parseModelManifest(valid, 'dfleet-model.json')).toEqual(valid);
  });

  it('reads the capabilities block, each false unless the manifest says true, and neither without the block', () => {
    expect(modelCapabilities(parseModelManifest(valid, 'x'))).toEqual({ continuation: false, infill: false });
    const llada = parseModelManifest({ ...valid, capabilities: { continuation: true } }, 'x');
    expect(modelCapabilities(llada)).toEqual({ continuation: true, infill: false });
    expect(invalidFields({ ...valid, capabilities: { infill: 'yes' } })).toEqual([
      { field: 'capabilities.infill', message: 'must be true or false (got "yes")' },
    ]);
    expect(invalidFields({ ...valid, capabilities: { infil: true } })[0]?.field).toBe('capabilities');
  });

  it('leaves the shipped jsfunc-mdm without continuation or infill: it was trained on its 48-token canvas only', async () => {
    expect(modelCapabilities(await loadModelManifest(MODEL_DIR))).toEqual({ continuation: false, infill: false });
  });

  it('fills in generation defaults when the manifest has none', () => {
    const { defaults: _omitted, ...withoutDefaults } = valid;
    expect(parseModelManifest(withoutDefaults, 'x').defaults).toEqual({ maxNewTokens: 48, blockLength: 48 });
  });

  it('names every wrong field, what is allowed, and the value it got', () => {
    const issues = invalidFields({
      ...valid,
      vocabSize: '10',
      maxSequenceLength: 0,
      specialTokens: { mask: 3, eos: 2.5, bos: 1 },
      files: { onnx: '/abs/model.onnx', tokenizer: '' },
    });
    const byField = new Map(issues.map((issue) => [issue.field, issue.message]));
    expect(byField.get('vocabSize')).toBe('must be a positive integer (got "10")');
    expect(byField.get('maxSequenceLength')).toBe('must be a positive integer (got 0)');
    expect(byField.get('specialTokens.eos')).toBe('must be an integer token id >= 0 (got 2.5)');
    expect(byField.get('specialTokens.pad')).toBe('must be an integer token id >= 0 (missing)');
    expect(byField.get('files.onnx')).toMatch(/relative path inside the model directory/);
    expect(byField.get('files.tokenizer')).toMatch(/file name relative to the model directory/);
  });

  it('rejects special ids outside [0, vocabSize) naming the bound', () => {
    const issues = invalidFields({ ...valid, specialTokens: { ...valid.specialTokens, mask: 10 } });
    expect(issues).toEqual([
      { field: 'specialTokens.mask', message: 'must be a token id in [0, vocabSize=10) (got 10)' },
    ]);
  });

  it('rejects a mask id shared with another special token', () => {
    const issues = invalidFields({ ...valid, specialTokens: { ...valid.specialTokens, eos: 3 } });
    expect(issues).toEqual([
      { field: 'specialTokens.eos', message: 'must differ from specialTokens.mask (both are 3) (got 3)' },
    ]);
  });

  it('takes an optional unk id, validated like the other special tokens', () => {
    expect(parseModelManifest(valid, 'x').specialTokens.unk).toBeUndefined();
    expect(
      parseModelManifest({ ...valid, specialTokens: { ...valid.specialTokens, unk: 4 } }, 'x').specialTokens.unk,
    ).toBe(4);
    expect(invalidFields({ ...valid, specialTokens: { ...valid.specialTokens, unk: 10 } })).toEqual([
      { field: 'specialTokens.unk', message: 'must be a token id in [0, vocabSize=10) (got 10)' },
    ]);
    expect(
      invalidFields({ ...valid, specialTokens: { ...valid.specialTokens, unk: valid.specialTokens.eos } }),
    ).toEqual([
      {
        field: 'specialTokens.unk',
        message: `must differ from specialTokens.eos (both are ${valid.specialTokens.eos}) (got ${valid.specialTokens.eos})`,
      },
    ]);
  });

  it('allows pad to share the eos id, a common Hugging Face convention', () => {
    const manifest = parseModelManifest({ ...valid, specialTokens: { ...valid.specialTokens, pad: 2 } }, 'x');
    expect(manifest.specialTokens.pad).toBe(2);
  });

  it('rejects defaults that leave no room for bos and a prompt', () => {
    const issues = invalidFields({ ...valid, defaults: { maxNewTokens: 63, blockLength: 8 } });
    expect(issues.map((issue) => issue.field)).toEqual(['defaults.maxNewTokens']);
    expect(issues[0]!.message).toContain('maxSequenceLength - 2 (62)');
  });

  it('puts every issue in the error message with the manifest path', () => {
    expect(() => parseModelManifest({ ...valid, name: '' }, '/models/x/dfleet-model.json')).toThrow(
      /\/models\/x\/dfleet-model\.json does not follow the dfleet model contract:\n {2}- name: must be a non-empty string/,
    );
  });
});
