import { join } from 'node:path';
import ort from 'onnxruntime-node';
import { sessionOptionsFor } from '../execution-provider.ts';
import type { ModelManifest, ModelPrefixCache } from '../model-manifest.ts';
import { PREFIX_CACHE_INPUTS, PREFIX_CACHE_OUTPUTS } from '../prefix-cache-contract.ts';
import { messageOf } from './error-message.ts';
import type { OnnxSessionTarget } from './onnx-session.ts';
import { runPrefixCacheProbes, type PrefixCacheCode, type Scores } from './prefix-cache-probes.ts';
import type { ModelCheckTensor, PrefixCacheSummary, ReportProblem } from './report.ts';
import { formatShape } from './tensor-shape.ts';

interface Expected {
  readonly name: string;
  readonly type: 'int64' | 'float32';
  readonly rank: number;
}

/**
 * Checks the prefix-cache form the manifest declares (prefix-cache-contract.ts): the file loads,
 * its inputs and outputs are named and typed per the contract with N, H, D as the manifest says,
 * and on a small canvas (a) a pass with no cache equals the plain graph, (b) a pass over the
 * window reading the keys and values of [0, C) kept from a full pass equals the full pass at
 * positions >= C, (c) two rows with different cache lengths batched equal each alone. The probes
 * compare logits, or top_confidence at every window slot on a reduced form.
 */
export async function checkPrefixCacheForm(
  directory: string,
  manifest: ModelManifest,
  form: ModelPrefixCache,
  target: OnnxSessionTarget,
  report: ReportProblem,
): Promise<PrefixCacheSummary> {
  const where = form.onnx;
  const error = (code: PrefixCacheCode, message: string): void => report('error', code, message, where);
  const summary: PrefixCacheSummary = {
    onnx: form.onnx,
    layers: form.layers,
    kvHeads: form.kvHeads,
    headDim: form.headDim,
  };
  const options = {
    ...sessionOptionsFor({ ...target, intraOpNumThreads: undefined }),
    logSeverityLevel: 4 as const,
  };
  let cached: ort.InferenceSession;
  try {
    cached = await ort.InferenceSession.create(join(directory, form.onnx), options);
  } catch (cause) {
    error(
      'prefix_cache_load_failed',
      `onnxruntime cannot load the prefix-cache form ${form.onnx}: ${messageOf(cause)}`,
    );
    return summary;
  }
  let plain: ort.InferenceSession | undefined;
  try {
    const inputs = cached.inputMetadata.map(describe);
    const outputs = cached.outputMetadata.map(describe);
    const withTensors = { ...summary, inputs, outputs };
    if (!checkInterface(inputs, outputs, form, error)) return withTensors;
    // A reduced form has no logits: its probes compare the top token's probability instead.
    const scoreName = ['logits', 'top_confidence'].find((name) => outputs.some((output) => output.name === name));
    if (scoreName === undefined) {
      report(
        'warning',
        'prefix_cache_probes_skipped',
        `${form.onnx} has neither logits nor top_confidence, so the numeric probes (cached pass against full pass) did not run`,
        where,
      );
      return withTensors;
    }
    const scores: Scores = {
      name: scoreName,
      width: scoreName === 'logits' ? manifest.vocabSize : 1,
      positions: inputs.some((input) => input.name === 'positions'),
    };
    plain = await ort.InferenceSession.create(join(directory, manifest.files.onnx), options).catch(() => undefined);
    const differences = await runPrefixCacheProbes(cached, plain, manifest, form, scores, error);
    return { ...withTensors, differences };
  } finally {
    await cached.release();
    await plain?.release();
  }
}

function describe(metadata: ort.InferenceSession.ValueMetadata): ModelCheckTensor {
  return metadata.isTensor
    ? { name: metadata.name, type: metadata.type, shape: [...metadata.shape] }
    : { name: metadata.name, type: 'non-tensor', shape: [] };
}

function checkInterface(
  inputs: readonly ModelCheckTensor[],
  outputs: readonly ModelCheckTensor[],
  form: ModelPrefixCache,
  error: (code: PrefixCacheCode, message: string) => void,
): boolean {
  let ok = true;
  const cacheAxes = { 0: form.layers, 2: form.kvHeads, 4: form.headDim } as const;
  const axisNames = { 0: 'layers', 2: 'kvHeads', 4: 'headDim' } as const;
  const expect = (
    tensors: readonly ModelCheckTensor[],
    kind: 'input' | 'output',
    { name, type, rank }: Expected,
  ): void => {
    const tensor = tensors.find((candidate) => candidate.name === name);
    const code = kind === 'input' ? 'prefix_cache_inputs_mismatch' : 'prefix_cache_outputs_mismatch';
    if (tensor === undefined) {
      ok = false;
      error(
        code,
        `the prefix-cache form has no ${kind} "${name}" (${kind}s: ${tensors.map((t) => t.name).join(', ') || 'none'}); ` +
          'export it per prefix-cache-contract.ts',
      );
      return;
    }
    if (tensor.type !== type || tensor.shape.length !== rank) {
      ok = false;
      error(
        code,
        `${kind} "${name}" is ${tensor.type} [${formatShape(tensor.shape)}]; expected ${type} of rank ${rank}`,
      );
      return;
    }
    if (rank !== 5) return;
    for (const axis of [0, 2, 4] as const) {
      const dim = tensor.shape[axis];
      if (typeof dim === 'number' && dim !== cacheAxes[axis]) {
        ok = false;
        error(
          'prefix_cache_shape_mismatch',
          `${kind} "${name}" has ${dim} on axis ${axis} but the manifest's prefixCache.${axisNames[axis]} is ` +
            `${cacheAxes[axis]}: set prefixCache { layers, kvHeads, headDim } to the exported graph's [N, B, H, P, D]`,
        );
      }
    }
  };
  expect(inputs, 'input', { name: 'input_ids', type: 'int64', rank: 2 });
  expect(inputs, 'input', { name: 'attention_mask', type: 'int64', rank: 2 });
  expect(inputs, 'input', { name: PREFIX_CACHE_INPUTS.pastKey, type: 'float32', rank: 5 });
  expect(inputs, 'input', { name: PREFIX_CACHE_INPUTS.pastValue, type: 'float32', rank: 5 });
  expect(inputs, 'input', { name: PREFIX_CACHE_INPUTS.pastMask, type: 'int64', rank: 2 });
  expect(outputs, 'output', { name: PREFIX_CACHE_OUTPUTS.presentKey, type: 'float32', rank: 5 });
  expect(outputs, 'output', { name: PREFIX_CACHE_OUTPUTS.presentValue, type: 'float32', rank: 5 });
  return ok;
}
