import { ModelReduceError } from '../errors.ts';
import { MAX_REDUCED_TOP_K, POSITIONS_INPUT, REDUCED_OUTPUTS } from '../reduced-contract.ts';
import { logitsAtPositions } from './gather-positions.ts';
import { liveNodes, namesReadBy } from './graph-dataflow.ts';
import { openOnnxGraph, writeOnnxGraph, type OnnxGraph } from './onnx-graph.ts';
import { OnnxDataType, type OnnxDimension, type OnnxNode, type OnnxTensor, type OnnxValueInfo } from './onnx-schema.ts';
import { reduceLogits } from './reduce-logits.ts';
import { int64Tensor, intAttribute, node, REDUCE_PREFIX, tensorInfo } from './reduction-nodes.ts';

export interface ReduceOnnxModelOptions {
  /** Logit rows per position (the manifest's vocabSize). */
  readonly vocabSize: number;
  /** Ids removed from `top_token` and the top-k (they still count in the softmax). */
  readonly suppressedTokenIds: readonly number[];
  /** Also output the top-k ids and logits; 0 = no top-k outputs. @defaultValue `0` */
  readonly topK?: number;
  /** Keep the `logits` output beside the reduced ones. @defaultValue `false` */
  readonly keepLogits?: boolean;
  /**
   * Add the `positions` input int64 [B, P] and compute the LM head and the reduction only at
   * those canvas positions. Needs a recognisable head (MatMul on the hidden states).
   * @defaultValue `false`
   */
  readonly positionsInput?: boolean;
  /** Names the model in error messages. @defaultValue `'model.onnx'` */
  readonly source?: string;
}

/** A reduced ModelProto and the external data files its kept initializers read (paths relative to it). */
export interface ReducedOnnxModel {
  readonly bytes: Uint8Array;
  readonly externalDataFiles: readonly string[];
}

/** ONNX metadata key under which a reduced model records how it was reduced. */
export const REDUCTION_METADATA_KEY = 'dfleet.reduction';

const LOGITS = 'logits';
/** Squeeze and Unsqueeze take their axes as an input from opset 13. */
const MIN_OPSET = 13;

function validate(options: ReduceOnnxModelOptions): void {
  const topK = options.topK ?? 0;
  if (!Number.isInteger(topK) || topK < 0 || topK > MAX_REDUCED_TOP_K) {
    throw new ModelReduceError(
      'reduce_option_invalid',
      `topK must be an integer in [0, ${MAX_REDUCED_TOP_K}], got ${topK}`,
    );
  }
  for (const id of options.suppressedTokenIds) {
    if (!Number.isInteger(id) || id < 0 || id >= options.vocabSize) {
      throw new ModelReduceError(
        'reduce_option_invalid',
        `suppressed token id ${id} is not in [0, vocabSize=${options.vocabSize})`,
      );
    }
  }
  if (topK > options.vocabSize - options.suppressedTokenIds.length) {
    throw new ModelReduceError(
      'reduce_option_invalid',
      `topK ${topK} exceeds the ${options.vocabSize - options.suppressedTokenIds.length} ids that are not suppressed`,
    );
  }
}

function logitsOutput(graph: OnnxGraph, source: string): OnnxValueInfo {
  if (graph.outputs.some((entry) => entry.value.name === REDUCED_OUTPUTS.topToken)) {
    throw new ModelReduceError('model_already_reduced', `${source} already has a ${REDUCED_OUTPUTS.topToken} output`);
  }
  const output = graph.outputs.find((entry) => entry.value.name === LOGITS)?.value;
  const dims = output?.type?.tensor_type?.shape?.dim;
  if (output === undefined) {
    const names = graph.outputs.map((entry) => entry.value.name).join(', ');
    throw new ModelReduceError(
      'logits_output_missing',
      `${source} has no "${LOGITS}" output (it has: ${names || 'none'})`,
    );
  }
  if (dims !== undefined && dims.length !== 3) {
    throw new ModelReduceError(
      'logits_output_missing',
      `${source}'s "${LOGITS}" output has rank ${dims.length}, not [B, L, V]`,
    );
  }
  return output;
}

/**
 * Appends the reduced outputs of the v2 contract (see reduced-contract.ts) to a v1 model whose
 * `logits` output is [B, L, V], and returns the new ModelProto's bytes. The model's own bytes
 * are kept as read apart from the graph's output list and, with `positionsInput` and without
 * `keepLogits`, the full-canvas head that nothing reads any more.
 * @throws ModelReduceError
 */
export function reduceOnnxModel(model: Uint8Array, options: ReduceOnnxModelOptions): ReducedOnnxModel {
  const source = options.source ?? 'model.onnx';
  validate(options);
  const topK = options.topK ?? 0;
  const graph = openOnnxGraph(model, source);
  if (graph.opsetVersion < MIN_OPSET) {
    throw new ModelReduceError(
      'opset_unsupported',
      `${source} uses ONNX opset ${graph.opsetVersion}; the reduction needs opset >= ${MIN_OPSET}: re-export it`,
    );
  }
  const output = logitsOutput(graph, source);
  const logitsDims: OnnxDimension[] = output.type?.tensor_type?.shape?.dim ?? [];
  const vocabDim = logitsDims[2]?.dim_value;
  if (vocabDim !== undefined && vocabDim !== 0 && Number(vocabDim) !== options.vocabSize) {
    throw new ModelReduceError(
      'reduce_option_invalid',
      `${source}'s logits have ${Number(vocabDim)} rows per position ` +
        `but the manifest's vocabSize is ${options.vocabSize}`,
    );
  }
  const batchDim: OnnxDimension = logitsDims[0] ?? { dim_param: 'batch' };
  const rowDim: OnnxDimension = options.positionsInput
    ? { dim_param: POSITIONS_INPUT }
    : (logitsDims[1] ?? { dim_param: 'sequence' });

  const nodes: OnnxNode[] = [];
  const initializers: OnnxTensor[] = [];
  const inputs: OnnxValueInfo[] = [];
  const name = (suffix: string): string => `${REDUCE_PREFIX}${suffix}`;
  const lastAxis = name('last_axis');
  initializers.push(int64Tensor(lastAxis, [-1]));

  let rows = LOGITS;
  if (options.positionsInput) {
    const atPositions = logitsAtPositions(graph, LOGITS, lastAxis);
    inputs.push(tensorInfo(POSITIONS_INPUT, OnnxDataType.int64, [batchDim, rowDim]));
    nodes.push(...atPositions.nodes);
    rows = atPositions.rows;
  }
  if ((output.type?.tensor_type?.elem_type ?? OnnxDataType.float) !== OnnxDataType.float) {
    nodes.push(node('Cast', [rows], [name('logits_float')], [intAttribute('to', OnnxDataType.float)]));
    rows = name('logits_float');
  }

  const reduction = reduceLogits(rows, { ...options, topK });
  nodes.push(...reduction.nodes);
  initializers.push(...reduction.initializers);
  const { topToken, topConfidence, entropy, topKIds, topKLogits } = REDUCED_OUTPUTS;
  const outputs: OnnxValueInfo[] = [
    tensorInfo(topToken, OnnxDataType.int64, [batchDim, rowDim]),
    tensorInfo(topConfidence, OnnxDataType.float, [batchDim, rowDim]),
    tensorInfo(entropy, OnnxDataType.float, [batchDim, rowDim]),
  ];
  if (topK > 0) {
    outputs.push(
      tensorInfo(topKIds, OnnxDataType.int64, [batchDim, rowDim, { dim_value: topK }]),
      tensorInfo(topKLogits, OnnxDataType.float, [batchDim, rowDim, { dim_value: topK }]),
    );
  }

  const keptOutputs = graph.outputs
    .map((entry) => entry.value.name ?? '')
    .filter((outputName) => outputName !== LOGITS || options.keepLogits === true);
  // Only the full head can die (when positions replace it), but the walk is generic.
  const live = liveNodes(graph, [...keptOutputs, ...nodes.flatMap((added) => added.input ?? [])]);
  const read = new Set(graph.nodes.filter((_, index) => live.has(index)).flatMap((entry) => namesReadBy(entry.value)));
  for (const added of nodes) for (const input of added.input ?? []) read.add(input);
  const graphInputs = new Set(graph.inputs.map((entry) => entry.value.name ?? ''));
  const metadata = { topK, positionsInput: options.positionsInput === true, logits: options.keepLogits === true };
  const keepInitializer = (initializer: string): boolean => read.has(initializer) || graphInputs.has(initializer);
  const bytes = writeOnnxGraph(graph, {
    keepNode: (index) => live.has(index),
    keepInitializer,
    keepOutput: (outputName) => outputName !== LOGITS || options.keepLogits === true,
    addNodes: nodes,
    addInitializers: initializers,
    addInputs: inputs,
    addOutputs: outputs,
    addMetadata: [
      {
        key: REDUCTION_METADATA_KEY,
        value: JSON.stringify({ ...metadata, suppressedTokenIds: options.suppressedTokenIds }),
      },
    ],
  });
  return { bytes, externalDataFiles: externalDataFiles(graph, keepInitializer) };
}

/** ONNX's TensorProto.DataLocation.EXTERNAL: the tensor's bytes are in the file its `location` names. */
const EXTERNAL = 1;

function externalDataFiles(graph: OnnxGraph, kept: (initializer: string) => boolean): string[] {
  const files = new Set<string>();
  for (const { value: tensor } of graph.initializers) {
    if (tensor.data_location !== EXTERNAL || !kept(tensor.name ?? '')) continue;
    const location = tensor.external_data?.find((entry) => entry.key === 'location')?.value;
    if (location !== undefined) files.add(location);
  }
  return [...files];
}
