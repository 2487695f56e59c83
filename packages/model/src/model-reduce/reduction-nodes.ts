import {
  OnnxAttributeType,
  OnnxDataType,
  type OnnxAttribute,
  type OnnxDimension,
  type OnnxNode,
  type OnnxTensor,
  type OnnxValueInfo,
} from './onnx-schema.ts';

/** Prefix of every tensor and node name the reduction adds, so they cannot clash with the model's. */
export const REDUCE_PREFIX = 'dfleet_reduce/';

export const intAttribute = (name: string, value: number): OnnxAttribute => ({
  name,
  type: OnnxAttributeType.int,
  i: value,
});

export function node(opType: string, inputs: string[], outputs: string[], attribute: OnnxAttribute[] = []): OnnxNode {
  return {
    op_type: opType,
    name: `${REDUCE_PREFIX}${opType}/${outputs[0]}`,
    input: inputs,
    output: outputs,
    attribute,
  };
}

export function int64Tensor(name: string, values: number[]): OnnxTensor {
  return { name, data_type: OnnxDataType.int64, dims: [values.length], int64_data: values };
}

export function floatTensor(name: string, values: Float32Array, dims: number[] = [values.length]): OnnxTensor {
  const bytes = new Uint8Array(values.buffer, values.byteOffset, values.byteLength);
  return { name, data_type: OnnxDataType.float, dims, raw_data: bytes };
}

export function tensorInfo(name: string, elemType: number, dims: OnnxDimension[]): OnnxValueInfo {
  return { name, type: { tensor_type: { elem_type: elemType, shape: { dim: dims } } } };
}

/**
 * The additive row that removes suppressed ids from the argmax and the top-k: 0, or -inf at a
 * suppressed id. It is never added before the softmax, whose confidence and entropy use all V.
 */
export function suppressionBias(vocabSize: number, suppressed: readonly number[]): Float32Array {
  const bias = new Float32Array(vocabSize);
  for (const id of suppressed) bias[id] = -Infinity;
  return bias;
}
