import { suppressedTokenIds } from '@dfleet/decoder';
import { constants } from 'node:fs';
import { copyFile, mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { ModelReduceError } from '../errors.ts';
import { loadModelManifest, MODEL_MANIFEST_FILE, modelOutputs, type ModelOutputs } from '../model-manifest.ts';
import { reduceOnnxModel } from './reduce-onnx-model.ts';

export interface ReduceModelDirectoryOptions {
  /** @defaultValue `0` */
  readonly topK?: number;
  /** @defaultValue `false` */
  readonly keepLogits?: boolean;
  /** @defaultValue `false` */
  readonly positionsInput?: boolean;
}

export interface ReduceModelDirectoryResult {
  readonly outputs: Extract<ModelOutputs, { form: 'reduced' }>;
  /** Size of the written ONNX file in bytes. */
  readonly onnxBytes: number;
  /** Size of the written prefix-cache form's ONNX file, when the manifest declares one. */
  readonly prefixCacheOnnxBytes?: number;
  /** Files written into the output directory, relative to it. */
  readonly files: readonly string[];
}

async function requireEmptyDirectory(inDir: string, outDir: string): Promise<void> {
  if (resolve(inDir) === resolve(outDir)) {
    throw new ModelReduceError('output_directory_not_empty', `OUT_DIR must differ from IN_DIR (${inDir})`);
  }
  const entries = await readdir(outDir).catch((error: NodeJS.ErrnoException) => {
    if (error.code === 'ENOENT') return [];
    throw error;
  });
  if (entries.length > 0) {
    throw new ModelReduceError('output_directory_not_empty', `${outDir} is not empty: give a new or empty directory`);
  }
}

function insideDirectory(path: string): boolean {
  return !isAbsolute(path) && !path.split(/[\\/]/).includes('..');
}

/**
 * Writes a reduced copy of the v1 model directory `inDir` into `outDir` (new or empty): the
 * reduced model.onnx (and the reduced prefix-cache form when the manifest declares one, under its
 * name, keeping the `prefixCache` block), its external data files, the tokenizer files, and the
 * manifest with an `outputs` block. The suppressed ids follow the decoder's rule for the manifest's special tokens.
 * @throws ModelManifestError for a bad input manifest, ModelReduceError for the rest.
 */
export async function reduceModelDirectory(
  inDir: string,
  outDir: string,
  options: ReduceModelDirectoryOptions = {},
): Promise<ReduceModelDirectoryResult> {
  const manifest = await loadModelManifest(inDir);
  if (modelOutputs(manifest).form !== 'logits') {
    throw new ModelReduceError(
      'model_already_reduced',
      `${inDir} is already reduced (its manifest says outputs.form "reduced")`,
    );
  }
  await requireEmptyDirectory(inDir, outDir);
  const outputs = {
    form: 'reduced' as const,
    topK: options.topK ?? 0,
    positionsInput: options.positionsInput === true,
    logits: options.keepLogits === true,
    suppressedTokenIds: suppressedTokenIds(manifest.specialTokens),
  };
  const written: string[] = [];
  const place = async (file: string): Promise<string> => {
    await mkdir(dirname(join(outDir, file)), { recursive: true });
    written.push(file);
    return join(outDir, file);
  };
  // The prefix-cache form is the same weights as another graph: it is reduced alike, so a
  // reduced directory still serves it; reduceOnnxModel keeps its present_key/present_value.
  const onnxBytes = await reduceOnnxFile(inDir, manifest.files.onnx, manifest.vocabSize, outputs, place);
  const cacheForm = manifest.prefixCache;
  const prefixCacheOnnxBytes =
    cacheForm === undefined
      ? undefined
      : await reduceOnnxFile(inDir, cacheForm.onnx, manifest.vocabSize, outputs, place);
  await copyFile(join(inDir, manifest.files.tokenizer), await place(manifest.files.tokenizer));
  // The tokenizer reads tokenizer_config.json beside tokenizer.json when there is one.
  const tokenizerConfig = join(dirname(manifest.files.tokenizer), 'tokenizer_config.json');
  await copyFile(join(inDir, tokenizerConfig), join(outDir, tokenizerConfig)).then(
    () => written.push(tokenizerConfig),
    (error: NodeJS.ErrnoException) => {
      if (error.code !== 'ENOENT') throw error;
    },
  );
  // From the file as written, so fields this version's schema does not know are kept.
  const manifestJson = JSON.parse(await readFile(join(inDir, MODEL_MANIFEST_FILE), 'utf8')) as Record<string, unknown>;
  await writeFile(await place(MODEL_MANIFEST_FILE), `${JSON.stringify({ ...manifestJson, outputs }, null, 2)}\n`);
  return {
    outputs,
    onnxBytes,
    ...(prefixCacheOnnxBytes === undefined ? {} : { prefixCacheOnnxBytes }),
    files: written,
  };
}

/** Writes the reduced `file` of `inDir` (and its external data files) through `place`; returns its size. */
async function reduceOnnxFile(
  inDir: string,
  file: string,
  vocabSize: number,
  outputs: Extract<ModelOutputs, { form: 'reduced' }>,
  place: (file: string) => Promise<string>,
): Promise<number> {
  const onnxPath = join(inDir, file);
  const reduced = reduceOnnxModel(await readFile(onnxPath), {
    vocabSize,
    suppressedTokenIds: outputs.suppressedTokenIds,
    topK: outputs.topK,
    keepLogits: outputs.logits,
    positionsInput: outputs.positionsInput,
    source: onnxPath,
  });
  await writeFile(await place(file), reduced.bytes);
  for (const location of reduced.externalDataFiles) {
    const dataFile = join(dirname(file), location);
    if (!insideDirectory(location)) {
      throw new ModelReduceError(
        'onnx_unreadable',
        `${onnxPath} reads external data from ${location}, outside its directory`,
      );
    }
    // A clone where the file system can (an 8B model's data is 16 GB), else a copy.
    await copyFile(join(inDir, dataFile), await place(dataFile), constants.COPYFILE_FICLONE);
  }
  return reduced.bytes.length;
}
