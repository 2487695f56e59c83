import { copyFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { checkModelDirectory, formatModelCheckReport, loadModelManifest, type ModelCheckReport } from '../src/index.ts';
import { copyModelDirectory, editManifest, FIXTURES_DIR, MODEL_DIR, removeDirectory } from './model-directory.ts';

function codes(report: ModelCheckReport): string[] {
  return report.problems.map((problem) => problem.code);
}

describe('checkModelDirectory', () => {
  const temporary: string[] = [];
  const brokenCopy = async (): Promise<string> => {
    const directory = await copyModelDirectory();
    temporary.push(directory);
    return directory;
  };
  /** A copy whose model.onnx is a fixture graph: the shipped prefix-cache form is not its cached form. */
  const copyWithGraph = async (fixture: string): Promise<string> => {
    const directory = await brokenCopy();
    await copyFile(join(FIXTURES_DIR, `${fixture}.onnx`), join(directory, 'model.onnx'));
    await editManifest(directory, (manifest) => {
      delete manifest['prefixCache'];
    });
    return directory;
  };
  afterEach(async () => {
    await Promise.all(temporary.splice(0).map(removeDirectory));
  });

  it('passes the default model and runs it on two batch shapes', async () => {
    const report = await checkModelDirectory(MODEL_DIR);
    expect(report.problems.filter((problem) => problem.severity === 'error')).toEqual([]);
    expect(report.ok).toBe(true);
    const manifest = await loadModelManifest(MODEL_DIR);
    expect(report.summary).toMatchObject({
      name: manifest.name,
      vocabSize: manifest.vocabSize,
      tokenizerVocabSize: manifest.vocabSize,
      maxSequenceLength: manifest.maxSequenceLength,
    });
    expect(report.summary.shapesRun).toEqual(
      expect.arrayContaining([
        [1, 7],
        [3, 13],
        [1, manifest.maxSequenceLength],
      ]),
    );
    expect(report.summary.inputs?.map((input) => `${input.name}:${input.type}`)).toEqual([
      'input_ids:int64',
      'attention_mask:int64',
    ]);
    expect(formatModelCheckReport(report)).toMatch(/: OK/);
  });

  it('reports a vocabSize that disagrees with the logits and the tokenizer', async () => {
    const directory = await brokenCopy();
    const { vocabSize } = await loadModelManifest(directory);
    await editManifest(directory, (manifest) => {
      manifest['vocabSize'] = vocabSize - 2;
    });
    const report = await checkModelDirectory(directory);
    expect(report.ok).toBe(false);
    expect(codes(report)).toEqual(expect.arrayContaining(['onnx_vocab_mismatch', 'tokenizer_vocab_too_large']));
    const mismatch = report.problems.find((problem) => problem.code === 'onnx_vocab_mismatch')!;
    expect(mismatch.message).toBe(
      `output "logits" has ${vocabSize} vocabulary entries (last axis) but the manifest's vocabSize is ${vocabSize - 2}; expected them equal`,
    );
  });

  it('reports swapped eos and bos ids against tokenizer_config.json', async () => {
    const directory = await brokenCopy();
    const { specialTokens } = await loadModelManifest(directory);
    await editManifest(directory, (manifest) => {
      manifest['specialTokens'] = { ...specialTokens, eos: specialTokens.bos, bos: specialTokens.eos };
    });
    const report = await checkModelDirectory(directory);
    expect(report.ok).toBe(false);
    const mismatches = report.problems.filter((problem) => problem.code === 'special_token_mismatch');
    expect(mismatches.map((problem) => problem.path)).toEqual([
      'dfleet-model.json#specialTokens.eos',
      'dfleet-model.json#specialTokens.bos',
    ]);
    expect(mismatches[0]!.message).toContain(`expected specialTokens.eos = ${specialTokens.eos}`);
  });

  it('still flags swapped ids by their spelling when there is no tokenizer_config.json, as a warning', async () => {
    const directory = await brokenCopy();
    await rm(join(directory, 'tokenizer_config.json'), { force: true });
    const { specialTokens } = await loadModelManifest(directory);
    await editManifest(directory, (manifest) => {
      manifest['specialTokens'] = { ...specialTokens, mask: specialTokens.pad, pad: specialTokens.mask };
    });
    const report = await checkModelDirectory(directory);
    const mismatch = report.problems.filter((problem) => problem.code === 'special_token_mismatch');
    expect(mismatch.map((problem) => [problem.severity, problem.path])).toEqual([
      ['warning', 'dfleet-model.json#specialTokens.mask'],
      ['warning', 'dfleet-model.json#specialTokens.pad'],
    ]);
    expect(mismatch[0]!.message).toMatch(/looks like the pad token/);
  });

  it('reports a special id that is an ordinary token, which prompt text could produce', async () => {
    const directory = await brokenCopy();
    // Without tokenizer_config.json naming mask_token, which would report the id as a mismatch instead.
    await rm(join(directory, 'tokenizer_config.json'), { force: true });
    const { specialTokens, vocabSize } = await loadModelManifest(directory);
    await editManifest(directory, (manifest) => {
      manifest['specialTokens'] = { ...specialTokens, mask: vocabSize - 1 };
    });
    const report = await checkModelDirectory(directory);
    expect(report.problems).toContainEqual(
      expect.objectContaining({
        severity: 'error',
        code: 'special_token_not_special',
        path: 'dfleet-model.json#specialTokens.mask',
      }),
    );
  });

  it('warns when the tokenizer has an unknown token that the manifest does not name', async () => {
    const directory = await brokenCopy();
    const { specialTokens } = await loadModelManifest(directory);
    await editManifest(directory, (manifest) => {
      const { unk: _unk, ...withoutUnk } = specialTokens;
      manifest['specialTokens'] = withoutUnk;
    });
    const report = await checkModelDirectory(directory);
    expect(report.ok).toBe(true);
    expect(report.problems).toContainEqual(
      expect.objectContaining({ severity: 'warning', path: 'dfleet-model.json#specialTokens.unk' }),
    );
  });

  it('reports an unk id that is an ordinary token', async () => {
    const directory = await brokenCopy();
    const { specialTokens, vocabSize } = await loadModelManifest(directory);
    await editManifest(directory, (manifest) => {
      manifest['specialTokens'] = { ...specialTokens, unk: vocabSize - 1 };
    });
    const report = await checkModelDirectory(directory);
    expect(report.ok).toBe(false);
    expect(report.problems.map((problem) => problem.path)).toContain('dfleet-model.json#specialTokens.unk');
  });

  it('lists every invalid manifest field and keeps checking the files it can find', async () => {
    const directory = await brokenCopy();
    await editManifest(directory, (manifest) => {
      delete manifest['name'];
      manifest['maxSequenceLength'] = -1;
      manifest['files']['tokenizer'] = '../tokenizer.json';
    });
    const report = await checkModelDirectory(directory);
    expect(
      report.problems.filter((problem) => problem.code === 'manifest_invalid').map((problem) => problem.path),
    ).toEqual(['dfleet-model.json#name', 'dfleet-model.json#maxSequenceLength', 'dfleet-model.json#files.tokenizer']);
    expect(report.summary.inputs).toBeDefined();
    expect(report.summary.shapesRun.length).toBeGreaterThan(0);
  });

  it('reports a missing ONNX file by the name the manifest gives', async () => {
    const directory = await brokenCopy();
    await editManifest(directory, (manifest) => {
      manifest['files']['onnx'] = 'missing.onnx';
    });
    const report = await checkModelDirectory(directory);
    expect(report.problems).toEqual([
      expect.objectContaining({
        code: 'file_missing',
        path: 'missing.onnx',
        message: expect.stringContaining('files.onnx'),
      }),
    ]);
  });

  it('reports a maxSequenceLength the model cannot run', async () => {
    // A graph with a 160-row learned position table, declared as if it ran 2048 positions.
    const directory = await copyWithGraph('position-table-160');
    await editManifest(directory, (manifest) => {
      manifest['maxSequenceLength'] = 2048;
    });
    const report = await checkModelDirectory(directory);
    expect(report.problems).toContainEqual(
      expect.objectContaining({ code: 'max_sequence_length_unsupported', path: 'dfleet-model.json#maxSequenceLength' }),
    );
  });

  it('accepts the same position-table graph at the length it supports', async () => {
    const directory = await copyWithGraph('position-table-160');
    await editManifest(directory, (manifest) => {
      manifest['maxSequenceLength'] = 160;
    });
    const report = await checkModelDirectory(directory);
    expect(report.problems.filter((problem) => problem.severity === 'error')).toEqual([]);
  });

  describe('with ONNX graphs that break one rule each', () => {
    const withGraph = async (fixture: string): Promise<ModelCheckReport> => {
      return checkModelDirectory(await copyWithGraph(fixture));
    };

    it('reports int32 inputs, expecting int64', async () => {
      const report = await withGraph('int32-inputs');
      expect(report.problems).toEqual([
        expect.objectContaining({
          code: 'onnx_input_dtype',
          path: 'model.onnx#input_ids',
          message: 'input "input_ids" is int32; expected int64',
        }),
        expect.objectContaining({ code: 'onnx_input_dtype', path: 'model.onnx#attention_mask' }),
      ]);
    });

    it('reports a fixed batch axis', async () => {
      const report = await withGraph('fixed-batch');
      expect(codes(report)).toEqual(['onnx_axis_not_dynamic', 'onnx_axis_not_dynamic', 'onnx_axis_not_dynamic']);
      expect(report.problems[0]!.message).toBe(
        'input "input_ids" axis 0 (batch) is fixed at 1; expected a dynamic axis (export with dynamic_axes)',
      );
    });

    it('reports a missing logits output and names the outputs it found', async () => {
      const report = await withGraph('wrong-output-name');
      expect(report.problems).toEqual([
        expect.objectContaining({ code: 'onnx_output_missing', message: expect.stringContaining('(outputs: output)') }),
      ]);
    });

    it('reports a model whose logits change with right padding', async () => {
      const report = await withGraph('ignores-mask');
      expect(codes(report)).toEqual(['padding_changes_logits']);
      expect(formatModelCheckReport(report)).toMatch(/FAILED \(1 error\)[\s\S]*padding_changes_logits/);
    });
  });
});
