import { suppressedTokenIds } from '@dfleet/decoder';
import ort from 'onnxruntime-node';
import type { ModelManifest, ModelOutputs } from '../model-manifest.ts';
import type { ModelCheckCode } from './codes.ts';
import type { ModelCheckProblem } from './report.ts';
import { POSITIONS_INPUT, REDUCED_OUTPUTS } from '../reduced-contract.ts';

type ReducedOutputs = Extract<ModelOutputs, { form: 'reduced' }>;
type ReducedCheckCode = Extract<ModelCheckCode, `reduced_${string}`>;

const CHECK_BATCH = 2;
const CHECK_LENGTH = 12;
const CHECK_POSITIONS = 3;

function sameIds(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && [...a].sort((x, y) => x - y).every((id, i) => id === [...b].sort((x, y) => x - y)[i]);
}

/** The names the manifest's outputs block promises, beside input_ids and attention_mask. */
function promisedNames(outputs: ReducedOutputs): { inputs: string[]; outputs: string[] } {
  const { topToken, topConfidence, entropy, topKIds, topKLogits } = REDUCED_OUTPUTS;
  return {
    inputs: ['input_ids', 'attention_mask', ...(outputs.positionsInput ? [POSITIONS_INPUT] : [])],
    outputs: [
      ...(outputs.logits ? ['logits'] : []),
      topToken,
      topConfidence,
      entropy,
      ...(outputs.topK > 0 ? [topKIds, topKLogits] : []),
    ],
  };
}

/** A right-padded batch of canvases [bos] + ordinary ids + masks, and positions among the masks. */
function checkFeeds(manifest: ModelManifest, outputs: ReducedOutputs): Record<string, ort.Tensor> {
  const special = new Set(Object.values(manifest.specialTokens));
  let ordinary = 0;
  while (special.has(ordinary)) ordinary++;
  const length = Math.min(CHECK_LENGTH, manifest.maxSequenceLength);
  const ids = new BigInt64Array(CHECK_BATCH * length).fill(BigInt(manifest.specialTokens.pad));
  const mask = new BigInt64Array(CHECK_BATCH * length);
  for (let row = 0; row < CHECK_BATCH; row++) {
    const used = length - row * 2;
    for (let i = 0; i < used; i++) {
      ids[row * length + i] = BigInt(
        i === 0 ? manifest.specialTokens.bos : i < used / 2 ? ordinary : manifest.specialTokens.mask,
      );
      mask[row * length + i] = 1n;
    }
  }
  const feeds: Record<string, ort.Tensor> = {
    input_ids: new ort.Tensor('int64', ids, [CHECK_BATCH, length]),
    attention_mask: new ort.Tensor('int64', mask, [CHECK_BATCH, length]),
  };
  if (outputs.positionsInput) {
    const positions = new BigInt64Array(CHECK_BATCH * CHECK_POSITIONS);
    for (let i = 0; i < positions.length; i++)
      positions[i] = BigInt(length - 1 - (i % CHECK_POSITIONS) - 2 * Math.floor(i / CHECK_POSITIONS));
    feeds[POSITIONS_INPUT] = new ort.Tensor('int64', positions, [CHECK_BATCH, CHECK_POSITIONS]);
  }
  return feeds;
}

/**
 * Checks a model whose manifest declares `outputs.form: "reduced"`: the inputs and outputs it
 * promises, the suppressed ids against the decoder's rule for its special tokens, and one run on
 * a padded batch (dtypes, shapes, ranges; with `logits` kept, top_token against their argmax).
 * Returns the problems found; none means the reduced contract holds.
 */
export async function checkReducedOutputs(
  onnxPath: string,
  manifest: ModelManifest,
  outputs: ReducedOutputs,
  where = 'model.onnx',
): Promise<ModelCheckProblem[]> {
  const problems: ModelCheckProblem[] = [];
  const error = (code: ReducedCheckCode, message: string): void =>
    void problems.push({ severity: 'error', code, message, path: where });
  const expectedSuppressed = suppressedTokenIds(manifest.specialTokens);
  if (!sameIds(outputs.suppressedTokenIds, expectedSuppressed)) {
    error(
      'reduced_suppression_mismatch',
      `the model suppresses ids [${outputs.suppressedTokenIds.join(', ')}] but its special tokens call for ` +
        `[${expectedSuppressed.join(', ')}]: reduce the v1 model again with dfleet model reduce`,
    );
  }
  const session = await ort.InferenceSession.create(onnxPath);
  try {
    const promised = promisedNames(outputs);
    if (!sameNames(session.inputNames, promised.inputs)) {
      error(
        'reduced_inputs_mismatch',
        `inputs are [${session.inputNames.join(', ')}]; the manifest promises [${promised.inputs.join(', ')}]`,
      );
    }
    if (!sameNames(session.outputNames, promised.outputs)) {
      error(
        'reduced_outputs_mismatch',
        `outputs are [${session.outputNames.join(', ')}]; the manifest promises [${promised.outputs.join(', ')}]`,
      );
    }
    if (problems.length > 0) return problems;
    const result = await session.run(checkFeeds(manifest, outputs));
    checkValues(result, manifest, outputs, error);
  } catch (cause) {
    error(
      'reduced_run_failed',
      `the reduced model failed on a padded batch of ${CHECK_BATCH}: ${(cause as Error).message}`,
    );
  } finally {
    await session.release();
  }
  return problems;
}

function sameNames(actual: readonly string[], expected: readonly string[]): boolean {
  return actual.length === expected.length && expected.every((name) => actual.includes(name));
}

function checkValues(
  result: ort.InferenceSession.OnnxValueMapType,
  manifest: ModelManifest,
  outputs: ReducedOutputs,
  error: (code: ReducedCheckCode, message: string) => void,
): void {
  const rows = outputs.positionsInput ? CHECK_POSITIONS : Math.min(CHECK_LENGTH, manifest.maxSequenceLength);
  const expectTensor = (name: string, type: string, dims: number[]): ort.Tensor | undefined => {
    const tensor = result[name]!;
    if (tensor.type !== type || tensor.dims.join() !== dims.join()) {
      error(
        'reduced_output_shape',
        `${name} is ${tensor.type} [${tensor.dims.join(', ')}]; expected ${type} [${dims.join(', ')}]`,
      );
      return undefined;
    }
    return tensor;
  };
  const token = expectTensor(REDUCED_OUTPUTS.topToken, 'int64', [CHECK_BATCH, rows]);
  const confidence = expectTensor(REDUCED_OUTPUTS.topConfidence, 'float32', [CHECK_BATCH, rows]);
  const entropy = expectTensor(REDUCED_OUTPUTS.entropy, 'float32', [CHECK_BATCH, rows]);
  const suppressed = new Set(outputs.suppressedTokenIds);
  const maxEntropy = Math.log(manifest.vocabSize) + 1e-3;
  for (let i = 0; i < CHECK_BATCH * rows; i++) {
    const id = token === undefined ? 0 : Number((token.data as BigInt64Array)[i]);
    if (id < 0 || id >= manifest.vocabSize || suppressed.has(id)) {
      error('reduced_token_invalid', `top_token ${id} is outside [0, ${manifest.vocabSize}) or a suppressed id`);
      return;
    }
    const p = confidence === undefined ? 0.5 : (confidence.data as Float32Array)[i]!;
    const h = entropy === undefined ? 0 : (entropy.data as Float32Array)[i]!;
    if (!(p >= 0 && p <= 1) || !(h >= 0 && h <= maxEntropy)) {
      error('reduced_values_out_of_range', `top_confidence ${p} must be in [0, 1] and entropy ${h} in [0, log V]`);
      return;
    }
  }
  const logits = outputs.logits && !outputs.positionsInput ? result['logits'] : undefined;
  for (let i = 0; logits !== undefined && token !== undefined && i < CHECK_BATCH * rows; i++) {
    const row = (logits.data as Float32Array).subarray(i * manifest.vocabSize, (i + 1) * manifest.vocabSize);
    let best = -1;
    for (let v = 0; v < row.length; v++) if (!suppressed.has(v) && (best === -1 || row[v]! > row[best]!)) best = v;
    if (best !== Number((token.data as BigInt64Array)[i])) {
      error(
        'reduced_outputs_disagree',
        `top_token ${(token.data as BigInt64Array)[i]} is not the argmax ${best} of the kept logits`,
      );
      return;
    }
  }
  if (outputs.topK > 0 && token !== undefined) {
    const ids = expectTensor(REDUCED_OUTPUTS.topKIds, 'int64', [CHECK_BATCH, rows, outputs.topK]);
    const logits = expectTensor(REDUCED_OUTPUTS.topKLogits, 'float32', [CHECK_BATCH, rows, outputs.topK]);
    for (let i = 0; ids !== undefined && logits !== undefined && i < CHECK_BATCH * rows; i++) {
      const first = Number((ids.data as BigInt64Array)[i * outputs.topK]);
      const row = (logits.data as Float32Array).subarray(i * outputs.topK, (i + 1) * outputs.topK);
      if (first !== Number((token.data as BigInt64Array)[i]) || row.some((value, k) => k > 0 && value > row[k - 1]!)) {
        error(
          'reduced_top_k_inconsistent',
          'top_k_ids must start with top_token and top_k_logits must be sorted best first',
        );
        return;
      }
    }
  }
}
