import { ModelReduceError } from '../errors.ts';
import { concatBytes, lengthDelimitedField, splitFields, type RawField } from './protobuf-fields.ts';
import {
  decodeMessage,
  encodeMessage,
  GraphField,
  ModelField,
  OnnxMessages,
  type OnnxNode,
  type OnnxTensor,
  type OnnxValueInfo,
} from './onnx-schema.ts';

/** A decoded element of one of the graph's lists, with the bytes it was read from. */
interface GraphEntry<T> {
  readonly raw: RawField;
  readonly value: T;
}

/**
 * A ModelProto opened for surgery: the graph's nodes, initializers, inputs and outputs decoded
 * (for reading), every other byte of the model and of the graph kept as read.
 */
export interface OnnxGraph {
  readonly modelFields: readonly RawField[];
  readonly graphFields: readonly RawField[];
  readonly nodes: readonly GraphEntry<OnnxNode>[];
  readonly initializers: readonly GraphEntry<OnnxTensor>[];
  /** Names of dense and sparse initializers. */
  readonly initializerNames: ReadonlySet<string>;
  readonly inputs: readonly GraphEntry<OnnxValueInfo>[];
  readonly outputs: readonly GraphEntry<OnnxValueInfo>[];
  /** Version of the default ("" / ai.onnx) operator set. */
  readonly opsetVersion: number;
}

/** What a surgery changes; everything else is written back as read. */
export interface GraphEdit {
  readonly keepNode: (index: number) => boolean;
  readonly keepInitializer: (name: string) => boolean;
  readonly keepOutput: (name: string) => boolean;
  readonly addNodes: readonly OnnxNode[];
  readonly addInitializers: readonly OnnxTensor[];
  readonly addInputs: readonly OnnxValueInfo[];
  readonly addOutputs: readonly OnnxValueInfo[];
  readonly addMetadata: readonly { key: string; value: string }[];
}

function decodeEntries<T>(
  fields: readonly RawField[],
  number: number,
  decode: (bytes: Uint8Array) => T,
): GraphEntry<T>[] {
  return fields.filter((field) => field.number === number).map((raw) => ({ raw, value: decode(raw.payload!) }));
}

/** @throws ModelReduceError `onnx_unreadable` when the bytes are not a ModelProto with one graph. */
export function openOnnxGraph(model: Uint8Array, source: string): OnnxGraph {
  try {
    const modelFields = splitFields(model);
    const graphs = modelFields.filter((field) => field.number === ModelField.graph);
    if (graphs.length !== 1 || graphs[0]!.payload === undefined) {
      throw new Error(`expected one graph in the ModelProto, found ${graphs.length}`);
    }
    const graphFields = splitFields(graphs[0]!.payload);
    const opsets = decodeEntries(modelFields, ModelField.opsetImport, (bytes) =>
      decodeMessage<{ domain?: string; version?: number }>(OnnxMessages.operatorSetId, bytes),
    );
    const defaultOpset = opsets.find((opset) => (opset.value.domain ?? '') === '' || opset.value.domain === 'ai.onnx');
    const initializers = decodeEntries(graphFields, GraphField.initializer, (bytes) =>
      decodeMessage<OnnxTensor>(OnnxMessages.tensor, bytes),
    );
    const sparse = decodeEntries(graphFields, GraphField.sparseInitializer, (bytes) =>
      decodeMessage<{ values?: OnnxTensor }>(OnnxMessages.sparseTensor, bytes),
    );
    const initializerNames = new Set<string>();
    for (const entry of initializers) initializerNames.add(entry.value.name ?? '');
    for (const entry of sparse) initializerNames.add(entry.value.values?.name ?? '');
    return {
      modelFields,
      graphFields,
      nodes: decodeEntries(graphFields, GraphField.node, (bytes) => decodeMessage<OnnxNode>(OnnxMessages.node, bytes)),
      initializers,
      initializerNames,
      inputs: decodeEntries(graphFields, GraphField.input, (bytes) =>
        decodeMessage<OnnxValueInfo>(OnnxMessages.valueInfo, bytes),
      ),
      outputs: decodeEntries(graphFields, GraphField.output, (bytes) =>
        decodeMessage<OnnxValueInfo>(OnnxMessages.valueInfo, bytes),
      ),
      opsetVersion: defaultOpset?.value.version ?? 0,
    };
  } catch (error) {
    if (error instanceof ModelReduceError) throw error;
    throw new ModelReduceError(
      'onnx_unreadable',
      `${source} is not a readable ONNX ModelProto: ${(error as Error).message}`,
      { cause: error },
    );
  }
}

/**
 * Writes the model back with `edit` applied. The graph's own fields keep their order; new
 * nodes come after the existing ones, which keeps the node list topologically sorted since they
 * only read tensors the graph already has or that earlier new nodes make.
 */
export function writeOnnxGraph(graph: OnnxGraph, edit: GraphEdit): Uint8Array {
  const nodeIndex = new Map(graph.nodes.map((entry, index) => [entry.raw, index]));
  const initializerName = new Map(graph.initializers.map((entry) => [entry.raw, entry.value.name ?? '']));
  const outputName = new Map(graph.outputs.map((entry) => [entry.raw, entry.value.name ?? '']));
  const graphChunks: Uint8Array[] = [];
  for (const field of graph.graphFields) {
    const node = nodeIndex.get(field);
    if (node !== undefined && !edit.keepNode(node)) continue;
    const initializer = initializerName.get(field);
    if (initializer !== undefined && !edit.keepInitializer(initializer)) continue;
    const output = outputName.get(field);
    if (output !== undefined && !edit.keepOutput(output)) continue;
    graphChunks.push(field.bytes);
  }
  const append = (number: number, type: typeof OnnxMessages.node, values: readonly object[]): void => {
    for (const value of values) graphChunks.push(...lengthDelimitedField(number, encodeMessage(type, value)));
  };
  append(GraphField.node, OnnxMessages.node, edit.addNodes);
  append(GraphField.initializer, OnnxMessages.tensor, edit.addInitializers);
  append(GraphField.input, OnnxMessages.valueInfo, edit.addInputs);
  append(GraphField.output, OnnxMessages.valueInfo, edit.addOutputs);
  const graphBytes = concatBytes(graphChunks);

  const modelChunks: Uint8Array[] = [];
  for (const field of graph.modelFields) {
    if (field.number === ModelField.graph) modelChunks.push(...lengthDelimitedField(ModelField.graph, graphBytes));
    else modelChunks.push(field.bytes);
  }
  for (const entry of edit.addMetadata) {
    modelChunks.push(
      ...lengthDelimitedField(ModelField.metadataProps, encodeMessage(OnnxMessages.stringStringEntry, entry)),
    );
  }
  return concatBytes(modelChunks);
}
