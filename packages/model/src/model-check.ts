import { join } from 'node:path';
import type { ExecutionProvider } from './execution-provider.ts';
import { checkFileExists } from './model-check/file-exists.ts';
import { checkManifest } from './model-check/manifest.ts';
import { checkOnnxGraph } from './model-check/onnx-graph.ts';
import { checkPrefixCacheForm } from './model-check/prefix-cache.ts';
import { checkReducedOutputs } from './model-check/reduced-outputs.ts';
import type { ModelCheckProblem, ModelCheckReport, ModelCheckSummary, ReportProblem } from './model-check/report.ts';
import { checkSpecialTokens } from './model-check/special-tokens.ts';
import { checkTokenizerLoads } from './model-check/tokenizer.ts';
import { checkTokenizerVocab } from './model-check/tokenizer-vocab.ts';
import { modelOutputs } from './model-manifest.ts';

export interface CheckModelDirectoryOptions {
  /** @defaultValue 'cpu' */
  readonly executionProvider?: ExecutionProvider;
  /** @defaultValue 0 */
  readonly deviceId?: number;
}

/**
 * Validates a model directory against the dfleet model contract: manifest schema, files,
 * tokenizer, ONNX inputs/outputs (names, dtypes, dynamic axes, vocab dimension), real runs on
 * two shapes and at maxSequenceLength, padding invariance, and that the manifest's special ids
 * are the tokenizer's special tokens, and the prefix-cache form when the manifest declares one
 * (model-check/prefix-cache.ts). Never throws for a broken directory: every finding is a
 * problem in the report.
 */
export async function checkModelDirectory(
  directory: string,
  options: CheckModelDirectoryOptions = {},
): Promise<ModelCheckReport> {
  const problems: ModelCheckProblem[] = [];
  const report: ReportProblem = (severity, code, message, path) => {
    problems.push(path === undefined ? { severity, code, message } : { severity, code, message, path });
  };
  const shapesRun: [number, number][] = [];

  const { manifest, vocabSize, maxSequenceLength, specialTokens, onnxFile, tokenizerFile } = await checkManifest(
    directory,
    report,
  );
  let summary: ModelCheckSummary = {
    directory,
    shapesRun,
    ...(manifest !== undefined && { name: manifest.name }),
    ...(vocabSize !== undefined && { vocabSize }),
    ...(maxSequenceLength !== undefined && { maxSequenceLength }),
    ...(manifest !== undefined && { specialTokens: manifest.specialTokens }),
  };

  if (tokenizerFile !== undefined) {
    const tokenizer = await checkTokenizerLoads(directory, tokenizerFile, report);
    if (tokenizer !== undefined) {
      summary = { ...summary, tokenizerVocabSize: tokenizer.vocabSize };
      if (vocabSize !== undefined) checkTokenizerVocab(tokenizer.vocabSize, vocabSize, tokenizerFile, report);
      if (specialTokens !== undefined) {
        await checkSpecialTokens(directory, tokenizer, specialTokens, tokenizerFile, report);
      }
    }
  }

  const target = { executionProvider: options.executionProvider ?? 'cpu', deviceId: options.deviceId ?? 0 };
  const cacheForm = manifest?.prefixCache;
  if (
    manifest !== undefined &&
    cacheForm !== undefined &&
    (await checkFileExists(directory, cacheForm.onnx, 'prefixCache.onnx', report))
  ) {
    summary = { ...summary, prefixCache: await checkPrefixCacheForm(directory, manifest, cacheForm, target, report) };
  }
  const outputs = manifest === undefined ? undefined : modelOutputs(manifest);
  if (onnxFile !== undefined && (await checkFileExists(directory, onnxFile, 'files.onnx', report))) {
    if (manifest !== undefined && outputs?.form === 'reduced') {
      // A reduced graph has no logits (or keeps them beside): the v1 probes do not apply to it.
      problems.push(...(await checkReducedOutputs(join(directory, onnxFile), manifest, outputs, onnxFile)));
      return { ok: !problems.some((problem) => problem.severity === 'error'), problems, summary };
    }
    const onnx = await checkOnnxGraph(join(directory, onnxFile), onnxFile, {
      vocabSize,
      maxSequenceLength,
      specialTokens,
      ...target,
      report,
      shapesRun,
    });
    summary = { ...summary, ...onnx };
  }

  return { ok: !problems.some((problem) => problem.severity === 'error'), problems, summary };
}
