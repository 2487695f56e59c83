import { access, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { InferenceSession } from 'onnxruntime-node';
import { ModelManifestError, ModelPackageError } from './errors.ts';
import { isCudaFailure, sessionOptionsFor, type ExecutionProvider } from './execution-provider.ts';
import { MainThreadSession } from './main-thread-session.ts';
import {
  loadModelManifest,
  MODEL_MANIFEST_FILE,
  SPECIAL_TOKEN_ROLES,
  type ModelManifest,
  type SpecialTokenRole,
} from './model-manifest.ts';
import { ATTENTION_MASK, INPUT_IDS, LOGITS } from './session-core.mjs';
import { Tokenizer } from './tokenizer.ts';

export type ModelCheckSeverity = 'error' | 'warning';

export interface ModelCheckProblem {
  /** `error` breaks serving; `warning` is served but probably not what the exporter meant. */
  readonly severity: ModelCheckSeverity;
  /** Stable identifier, e.g. `onnx_input_dtype`. */
  readonly code: string;
  /** What is wrong and what was expected. */
  readonly message: string;
  /** Where: a file in the directory, optionally `#field` (`dfleet-model.json#specialTokens.eos`, `model.onnx#input_ids`). */
  readonly path?: string;
}

export interface ModelCheckTensor {
  readonly name: string;
  readonly type: string;
  /** Numbers are fixed sizes; strings are dynamic axes (symbolic names; '' when unnamed). */
  readonly shape: readonly (number | string)[];
}

export interface ModelCheckSummary {
  readonly directory: string;
  readonly name?: string;
  readonly vocabSize?: number;
  readonly maxSequenceLength?: number;
  readonly specialTokens?: Readonly<Record<SpecialTokenRole, number>>;
  readonly tokenizerVocabSize?: number;
  readonly inputs?: readonly ModelCheckTensor[];
  readonly outputs?: readonly ModelCheckTensor[];
  /** [batch, sequence] shapes the model was run on successfully with the expected logits shape. */
  readonly shapesRun: readonly (readonly [number, number])[];
}

export interface ModelCheckReport {
  /** True when there is no problem of severity `error`. */
  readonly ok: boolean;
  readonly problems: readonly ModelCheckProblem[];
  readonly summary: ModelCheckSummary;
}

export interface CheckModelDirectoryOptions {
  /** @defaultValue 'cpu' */
  readonly executionProvider?: ExecutionProvider;
  /** @defaultValue 0 */
  readonly deviceId?: number;
}

/** Batch shapes every model must accept: two different B and L prove both axes are dynamic. */
const PROBE_SHAPES: readonly (readonly [number, number])[] = [
  [1, 7],
  [3, 13],
];
/** Largest |logit difference| tolerated between a row alone and the same row right-padded. */
const PADDING_TOLERANCE = 1e-3;

/** Names `tokenizer_config.json` uses for the four roles. */
const CONFIG_KEYS: Record<SpecialTokenRole, string> = {
  mask: 'mask_token',
  eos: 'eos_token',
  pad: 'pad_token',
  bos: 'bos_token',
};
/** How special-token strings are usually spelled per role (only used without tokenizer_config.json). */
const ROLE_SPELLINGS: Record<SpecialTokenRole, RegExp> = {
  mask: /mask/i,
  eos: /eos|endoftext|eot|<\/s>/i,
  pad: /pad/i,
  bos: /bos|^<s>$|begin|start/i,
};

/**
 * Validates a model directory against the dfleet model contract: manifest schema, files,
 * tokenizer, ONNX inputs/outputs (names, dtypes, dynamic axes, vocab dimension), real runs on
 * two shapes and at maxSequenceLength, padding invariance, and that the manifest's special ids
 * are the tokenizer's special tokens. Never throws for a broken directory: every finding is a
 * problem in the report.
 */
export async function checkModelDirectory(
  directory: string,
  options: CheckModelDirectoryOptions = {},
): Promise<ModelCheckReport> {
  const problems: ModelCheckProblem[] = [];
  const report = (severity: ModelCheckSeverity, code: string, message: string, path?: string): void => {
    problems.push(path === undefined ? { severity, code, message } : { severity, code, message, path });
  };
  const shapesRun: [number, number][] = [];
  let summary: ModelCheckSummary = { directory, shapesRun };

  // 1. Manifest. When it is invalid, keep checking with whatever fields are usable.
  const fallback = await readManifestFallback(directory);
  let manifest: ModelManifest | undefined;
  try {
    manifest = await loadModelManifest(directory);
  } catch (error) {
    if (!(error instanceof ModelManifestError)) throw error;
    if (error.code === 'manifest_invalid') {
      for (const issue of error.issues) {
        report('error', 'manifest_invalid', `${MODEL_MANIFEST_FILE}: ${issue.field} ${issue.message}`, `${MODEL_MANIFEST_FILE}#${issue.field}`);
      }
    } else {
      report('error', error.code, error.message, MODEL_MANIFEST_FILE);
    }
  }
  const vocabSize = manifest?.vocabSize ?? fallback.vocabSize;
  const maxSequenceLength = manifest?.maxSequenceLength ?? fallback.maxSequenceLength;
  const specialTokens = manifest?.specialTokens ?? fallback.specialTokens;
  const onnxFile = manifest?.files.onnx ?? fallback.onnxFile;
  const tokenizerFile = manifest?.files.tokenizer ?? fallback.tokenizerFile;
  summary = {
    ...summary,
    ...(manifest !== undefined && { name: manifest.name }),
    ...(vocabSize !== undefined && { vocabSize }),
    ...(maxSequenceLength !== undefined && { maxSequenceLength }),
    ...(manifest !== undefined && { specialTokens: manifest.specialTokens }),
  };

  // 2. Tokenizer.
  let tokenizer: Tokenizer | undefined;
  if (tokenizerFile !== undefined && (await fileExists(directory, tokenizerFile, 'files.tokenizer', report))) {
    try {
      tokenizer = await Tokenizer.fromFile(join(directory, tokenizerFile));
    } catch (error) {
      report('error', 'tokenizer_invalid', messageOf(error), tokenizerFile);
    }
  }
  if (tokenizer !== undefined && tokenizerFile !== undefined) {
    summary = { ...summary, tokenizerVocabSize: tokenizer.vocabSize };
    if (vocabSize !== undefined) checkTokenizerVocab(tokenizer.vocabSize, vocabSize, tokenizerFile, report);
    if (specialTokens !== undefined) {
      const config = await readTokenizerConfig(directory);
      checkSpecialTokens(tokenizer, specialTokens, config, tokenizerFile, report);
    }
  }

  // 3. ONNX graph and real runs.
  if (onnxFile !== undefined && (await fileExists(directory, onnxFile, 'files.onnx', report))) {
    const onnx = await checkOnnx(join(directory, onnxFile), onnxFile, {
      vocabSize,
      maxSequenceLength,
      specialTokens,
      executionProvider: options.executionProvider ?? 'cpu',
      deviceId: options.deviceId ?? 0,
      report,
      shapesRun,
    });
    summary = { ...summary, ...onnx };
  }

  return { ok: !problems.some((problem) => problem.severity === 'error'), problems, summary };
}

type Report = (severity: ModelCheckSeverity, code: string, message: string, path?: string) => void;

interface ManifestFallback {
  vocabSize?: number;
  maxSequenceLength?: number;
  specialTokens?: Record<SpecialTokenRole, number>;
  onnxFile?: string;
  tokenizerFile?: string;
}

/** Usable fields of a manifest that fails validation, so the other checks still run. */
async function readManifestFallback(directory: string): Promise<ManifestFallback> {
  let raw: Record<string, unknown>;
  try {
    const parsed: unknown = JSON.parse(await readFile(join(directory, MODEL_MANIFEST_FILE), 'utf8'));
    raw = isRecord(parsed) ? parsed : {};
  } catch {
    raw = {};
  }
  const positive = (value: unknown): number | undefined =>
    Number.isInteger(value) && (value as number) > 0 ? (value as number) : undefined;
  const files = isRecord(raw['files']) ? raw['files'] : {};
  const fileName = (value: unknown, fallback: string): string =>
    typeof value === 'string' && value.length > 0 && !value.split(/[\\/]/).includes('..') ? value : fallback;
  const fallback: ManifestFallback = {
    onnxFile: fileName(files['onnx'], 'model.onnx'),
    tokenizerFile: fileName(files['tokenizer'], 'tokenizer.json'),
  };
  const vocabSize = positive(raw['vocabSize']);
  if (vocabSize !== undefined) fallback.vocabSize = vocabSize;
  const maxSequenceLength = positive(raw['maxSequenceLength']);
  if (maxSequenceLength !== undefined) fallback.maxSequenceLength = maxSequenceLength;
  const special = isRecord(raw['specialTokens']) ? raw['specialTokens'] : undefined;
  if (special !== undefined && SPECIAL_TOKEN_ROLES.every((role) => Number.isInteger(special[role]) && (special[role] as number) >= 0)) {
    fallback.specialTokens = Object.fromEntries(SPECIAL_TOKEN_ROLES.map((role) => [role, special[role] as number])) as Record<
      SpecialTokenRole,
      number
    >;
  }
  return fallback;
}

async function fileExists(directory: string, file: string, field: string, report: Report): Promise<boolean> {
  try {
    await access(join(directory, file));
    return true;
  } catch {
    report('error', 'file_missing', `${file} (${MODEL_MANIFEST_FILE} ${field}) does not exist in ${directory}`, file);
    return false;
  }
}

function checkTokenizerVocab(tokenizerVocabSize: number, vocabSize: number, tokenizerFile: string, report: Report): void {
  if (tokenizerVocabSize > vocabSize) {
    report(
      'error',
      'tokenizer_vocab_too_large',
      `${tokenizerFile} uses token ids up to ${tokenizerVocabSize - 1} but vocabSize is ${vocabSize}: the model has no logits ` +
        `for ids >= ${vocabSize}; expected tokenizer vocab size <= vocabSize`,
      tokenizerFile,
    );
  } else if (tokenizerVocabSize < vocabSize) {
    report(
      'warning',
      'tokenizer_vocab_smaller',
      `${tokenizerFile} has ${tokenizerVocabSize} token ids but vocabSize is ${vocabSize}: logits for ids ` +
        `${tokenizerVocabSize}..${vocabSize - 1} name no token (decoding drops them); usually the two are equal`,
      tokenizerFile,
    );
  }
}

async function readTokenizerConfig(directory: string): Promise<Record<string, unknown> | undefined> {
  try {
    const parsed: unknown = JSON.parse(await readFile(join(directory, 'tokenizer_config.json'), 'utf8'));
    return isRecord(parsed) ? parsed : undefined;
  } catch {
    return undefined;
  }
}

function checkSpecialTokens(
  tokenizer: Tokenizer,
  specialTokens: Record<SpecialTokenRole, number>,
  config: Record<string, unknown> | undefined,
  tokenizerFile: string,
  report: Report,
): void {
  for (const role of SPECIAL_TOKEN_ROLES) {
    const id = specialTokens[role];
    const field = `${MODEL_MANIFEST_FILE}#specialTokens.${role}`;
    const token = tokenizer.idToToken(id);
    const shown = token === undefined ? 'no token' : `'${token}'`;
    const configured = tokenContent(config?.[CONFIG_KEYS[role]]);
    if (configured !== undefined) {
      const configuredId = tokenizer.tokenToId(configured);
      if (configuredId !== undefined && configuredId !== id) {
        report(
          'error',
          'special_token_mismatch',
          `specialTokens.${role} is ${id} (${shown}) but tokenizer_config.json names ${CONFIG_KEYS[role]} '${configured}', ` +
            `which is id ${configuredId} in ${tokenizerFile}; expected specialTokens.${role} = ${configuredId}`,
          field,
        );
        continue;
      }
    } else if (token !== undefined && !ROLE_SPELLINGS[role].test(token)) {
      const lookalike = SPECIAL_TOKEN_ROLES.find((other) => other !== role && ROLE_SPELLINGS[other].test(token));
      if (lookalike !== undefined) {
        report(
          'warning',
          'special_token_mismatch',
          `specialTokens.${role} is ${id} (${shown}), which looks like the ${lookalike} token; check the ids ` +
            '(add tokenizer_config.json with bos_token/eos_token/pad_token/mask_token to make this check exact)',
          field,
        );
      }
    }
    if (!tokenizer.specialTokenIds.has(id)) {
      // A non-special mask/eos/bos id can be typed into a prompt as ordinary text.
      report(
        role === 'pad' ? 'warning' : 'error',
        'special_token_not_special',
        `specialTokens.${role} is ${id} (${shown}), which is not a special token in ${tokenizerFile}: ` +
          `prompt text could encode to it; expected the id of an added token marked "special": true`,
        field,
      );
    }
  }
}

interface OnnxCheckContext {
  vocabSize: number | undefined;
  maxSequenceLength: number | undefined;
  specialTokens: Record<SpecialTokenRole, number> | undefined;
  executionProvider: ExecutionProvider;
  deviceId: number;
  report: Report;
  shapesRun: [number, number][];
}

async function checkOnnx(
  modelPath: string,
  onnxFile: string,
  context: OnnxCheckContext,
): Promise<Pick<ModelCheckSummary, 'inputs' | 'outputs'>> {
  const { vocabSize, report } = context;
  let session: MainThreadSession;
  try {
    session = await MainThreadSession.open(
      modelPath,
      {
        ...sessionOptionsFor({ executionProvider: context.executionProvider, deviceId: context.deviceId, intraOpNumThreads: undefined }),
        // Failures become problems in the report; onnxruntime's own stderr lines would repeat them.
        logSeverityLevel: 4,
      },
    );
  } catch (error) {
    if (error instanceof ModelPackageError || (context.executionProvider === 'cuda' && isCudaFailure(error))) {
      report('error', 'execution_provider_unavailable', messageOf(error), onnxFile);
    } else {
      report('error', 'onnx_load_failed', `onnxruntime cannot load ${onnxFile}: ${messageOf(error)}`, onnxFile);
    }
    return {};
  }
  try {
    const inputs = session.description.inputs.map(describeTensor);
    const outputs = session.description.outputs.map(describeTensor);
    const inputsOk = checkInputs(inputs, onnxFile, report);
    const outputsOk = checkOutputs(outputs, onnxFile, vocabSize, report);
    // Runs only prove more when the graph's interface is right; otherwise they repeat its errors.
    if (inputsOk && outputsOk && vocabSize !== undefined) await checkRuns(session, onnxFile, vocabSize, context);
    return { inputs, outputs };
  } finally {
    await session.close();
  }
}

function describeTensor(metadata: InferenceSession.ValueMetadata): ModelCheckTensor {
  return metadata.isTensor
    ? { name: metadata.name, type: metadata.type, shape: [...metadata.shape] }
    : { name: metadata.name, type: 'non-tensor', shape: [] };
}

const AXIS_NAMES = ['batch', 'sequence', 'vocab'];

function checkInputs(inputs: readonly ModelCheckTensor[], onnxFile: string, report: Report): boolean {
  let ok = true;
  for (const name of [INPUT_IDS, ATTENTION_MASK]) {
    const input = inputs.find((candidate) => candidate.name === name);
    const path = `${onnxFile}#${name}`;
    if (input === undefined) {
      report(
        'error',
        'onnx_input_missing',
        `${onnxFile} has no input "${name}" (inputs: ${inputs.map((i) => i.name).join(', ') || 'none'}); expected inputs input_ids and attention_mask, int64 [batch, sequence]`,
        path,
      );
      ok = false;
      continue;
    }
    if (input.type !== 'int64') {
      report('error', 'onnx_input_dtype', `input "${name}" is ${input.type}; expected int64`, path);
      ok = false;
    }
    if (input.shape.length !== 2) {
      report('error', 'onnx_input_rank', `input "${name}" has shape [${formatShape(input.shape)}]; expected rank 2 [batch, sequence]`, path);
      ok = false;
      continue;
    }
    input.shape.forEach((dim, axis) => {
      if (typeof dim === 'number') {
        report(
          'error',
          'onnx_axis_not_dynamic',
          `input "${name}" axis ${axis} (${AXIS_NAMES[axis]}) is fixed at ${dim}; expected a dynamic axis (export with dynamic_axes)`,
          path,
        );
        ok = false;
      }
    });
  }
  for (const input of inputs) {
    if (input.name !== INPUT_IDS && input.name !== ATTENTION_MASK) {
      report(
        'error',
        'onnx_input_unexpected',
        `${onnxFile} has an extra input "${input.name}"; the denoiser feeds only input_ids and attention_mask`,
        `${onnxFile}#${input.name}`,
      );
      ok = false;
    }
  }
  return ok;
}

function checkOutputs(outputs: readonly ModelCheckTensor[], onnxFile: string, vocabSize: number | undefined, report: Report): boolean {
  const logits = outputs.find((output) => output.name === LOGITS);
  const path = `${onnxFile}#${LOGITS}`;
  if (logits === undefined) {
    report(
      'error',
      'onnx_output_missing',
      `${onnxFile} has no output "logits" (outputs: ${outputs.map((o) => o.name).join(', ') || 'none'}); expected logits float32 [batch, sequence, vocabSize]`,
      path,
    );
    return false;
  }
  let ok = true;
  if (logits.type !== 'float32') {
    report('error', 'onnx_output_dtype', `output "logits" is ${logits.type}; expected float32`, path);
    ok = false;
  }
  if (logits.shape.length !== 3) {
    report('error', 'onnx_output_rank', `output "logits" has shape [${formatShape(logits.shape)}]; expected rank 3 [batch, sequence, vocabSize]`, path);
    return false;
  }
  for (const axis of [0, 1]) {
    const dim = logits.shape[axis];
    if (typeof dim === 'number') {
      report('error', 'onnx_axis_not_dynamic', `output "logits" axis ${axis} (${AXIS_NAMES[axis]}) is fixed at ${dim}; expected a dynamic axis`, path);
      ok = false;
    }
  }
  const vocabDim = logits.shape[2];
  if (typeof vocabDim === 'number' && vocabSize !== undefined && vocabDim !== vocabSize) {
    report(
      'error',
      'onnx_vocab_mismatch',
      `output "logits" has ${vocabDim} vocabulary entries (last axis) but the manifest's vocabSize is ${vocabSize}; expected them equal`,
      path,
    );
    ok = false;
  }
  return ok;
}

/** Ordinary (non-special) ids for probe rows, cycling through the low end of the vocabulary. */
function probeIds(count: number, vocabSize: number, specialTokens: Record<SpecialTokenRole, number> | undefined, seed: number): Int32Array {
  const special = new Set(specialTokens === undefined ? [] : Object.values(specialTokens));
  const ordinary: number[] = [];
  for (let id = 0; id < vocabSize && ordinary.length < 64; id++) if (!special.has(id)) ordinary.push(id);
  const pool = ordinary.length > 0 ? ordinary : [0];
  const ids = new Int32Array(count);
  for (let i = 0; i < count; i++) ids[i] = pool[(i * 7 + seed) % pool.length]!;
  return ids;
}

type RunOutcome = { ok: true; logits: Float32Array } | { ok: false; code: string; failure: string };

async function checkRuns(session: MainThreadSession, onnxFile: string, vocabSize: number, context: OnnxCheckContext): Promise<void> {
  const { report, maxSequenceLength, specialTokens, shapesRun } = context;
  /** Runs one batch; returns its logits, or the reason it failed the contract. */
  const run = async (
    inputIds: Int32Array,
    attentionMask: Uint8Array,
    batchSize: number,
    sequenceLength: number,
  ): Promise<RunOutcome> => {
    let result;
    try {
      result = await session.run({ batchSize, sequenceLength, inputIds, attentionMask });
    } catch (error) {
      return { ok: false, failure: `onnxruntime failed: ${messageOf(error).trim()}`, code: 'onnx_run_failed' };
    }
    const expected = [batchSize, sequenceLength, vocabSize];
    if (result.dims.length !== 3 || result.dims.some((dim, axis) => dim !== expected[axis])) {
      return {
        ok: false,
        failure: `it returned logits [${result.dims.join(', ')}]; expected [${expected.join(', ')}] (batch, sequence, vocabSize)`,
        code: 'onnx_output_shape',
      };
    }
    if (!result.logits.every(Number.isFinite)) {
      return { ok: false, failure: 'its logits contain NaN or Infinity', code: 'logits_not_finite' };
    }
    shapesRun.push([batchSize, sequenceLength]);
    return { ok: true, logits: result.logits };
  };
  const unpadded = (batchSize: number, sequenceLength: number): Promise<RunOutcome> =>
    run(
      probeIds(batchSize * sequenceLength, vocabSize, specialTokens, sequenceLength),
      new Uint8Array(batchSize * sequenceLength).fill(1),
      batchSize,
      sequenceLength,
    );

  const limit = maxSequenceLength ?? Number.POSITIVE_INFINITY;
  for (const [batchSize, probeLength] of PROBE_SHAPES) {
    const sequenceLength = Math.min(probeLength, limit);
    const outcome = await unpadded(batchSize, sequenceLength);
    if (!outcome.ok) {
      report('error', outcome.code, `running ${onnxFile} on input_ids [${batchSize}, ${sequenceLength}]: ${outcome.failure}`, onnxFile);
    }
  }
  if (maxSequenceLength !== undefined && maxSequenceLength > Math.max(...PROBE_SHAPES.map(([, length]) => length))) {
    const outcome = await unpadded(1, maxSequenceLength);
    if (!outcome.ok) {
      report(
        'error',
        'max_sequence_length_unsupported',
        `${MODEL_MANIFEST_FILE} maxSequenceLength is ${maxSequenceLength} but running ${onnxFile} on input_ids [1, ${maxSequenceLength}] ` +
          `fails (${outcome.failure}); expected maxSequenceLength <= the longest sequence the model supports (e.g. its position table)`,
        `${MODEL_MANIFEST_FILE}#maxSequenceLength`,
      );
    }
  }

  // Padding invariance: a row's logits must not change when the batch pads it on the right.
  const realLength = Math.min(7, limit);
  const paddedLength = Math.min(13, limit);
  if (paddedLength <= realLength) return;
  const row = probeIds(realLength, vocabSize, specialTokens, 3);
  const alone = await run(row, new Uint8Array(realLength).fill(1), 1, realLength);
  const paddedIds = new Int32Array(paddedLength).fill(specialTokens?.pad ?? 0);
  paddedIds.set(row);
  const padded = await run(paddedIds, new Uint8Array(paddedLength).fill(1, 0, realLength), 1, paddedLength);
  if (!padded.ok) {
    report('error', padded.code, `running ${onnxFile} on a row right-padded from ${realLength} to ${paddedLength}: ${padded.failure}`, onnxFile);
  }
  if (!alone.ok || !padded.ok) return;
  let maxDifference = 0;
  for (let i = 0; i < realLength * vocabSize; i++) {
    maxDifference = Math.max(maxDifference, Math.abs(alone.logits[i]! - padded.logits[i]!));
  }
  if (!(maxDifference <= PADDING_TOLERANCE)) {
    report(
      'error',
      'padding_changes_logits',
      `a row's logits change when it is right-padded from ${realLength} to ${paddedLength} positions (max |difference| ` +
        `${maxDifference.toPrecision(3)} > ${PADDING_TOLERANCE}); expected the model to ignore positions where attention_mask is 0`,
      onnxFile,
    );
  }
}

function tokenContent(value: unknown): string | undefined {
  if (typeof value === 'string') return value;
  if (isRecord(value) && typeof value['content'] === 'string') return value['content'];
  return undefined;
}

function formatShape(shape: readonly (number | string)[]): string {
  return shape.map((dim) => (typeof dim === 'number' ? String(dim) : dim === '' ? '?' : dim)).join(', ');
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
