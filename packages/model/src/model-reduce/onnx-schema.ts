import protobuf from 'protobufjs';

/**
 * The ONNX messages the reduction reads or writes, with the field numbers of onnx/onnx.proto
 * (proto2). Reading is partial on purpose: the surgery splices the bytes of every message it does
 * not rewrite, so fields missing here (newer IR versions add some) survive untouched. Only the
 * nodes, inputs, outputs and initializers the reduction itself creates are encoded from this schema.
 */
const ONNX_PROTO = `
syntax = "proto2";
package onnx;

message StringStringEntryProto { optional string key = 1; optional string value = 2; }
message OperatorSetIdProto { optional string domain = 1; optional int64 version = 2; }

message AttributeProto {
  enum AttributeType {
    UNDEFINED = 0; FLOAT = 1; INT = 2; STRING = 3; TENSOR = 4; GRAPH = 5; SPARSE_TENSOR = 11; TYPE_PROTO = 13;
    FLOATS = 6; INTS = 7; STRINGS = 8; TENSORS = 9; GRAPHS = 10; SPARSE_TENSORS = 12; TYPE_PROTOS = 14;
  }
  optional string name = 1;
  optional string ref_attr_name = 21;
  optional string doc_string = 13;
  optional AttributeType type = 20;
  optional float f = 2;
  optional int64 i = 3;
  optional bytes s = 4;
  optional TensorProto t = 5;
  optional GraphProto g = 6;
  repeated float floats = 7;
  repeated int64 ints = 8;
  repeated bytes strings = 9;
  repeated TensorProto tensors = 10;
  repeated GraphProto graphs = 11;
}

message NodeProto {
  repeated string input = 1;
  repeated string output = 2;
  optional string name = 3;
  optional string op_type = 4;
  optional string domain = 7;
  repeated AttributeProto attribute = 5;
  optional string doc_string = 6;
}

message TensorShapeProto {
  message Dimension {
    oneof value { int64 dim_value = 1; string dim_param = 2; }
    optional string denotation = 3;
  }
  repeated Dimension dim = 1;
}

message TypeProto {
  message Tensor { optional int32 elem_type = 1; optional TensorShapeProto shape = 2; }
  oneof value { Tensor tensor_type = 1; }
  optional string denotation = 6;
}

message ValueInfoProto { optional string name = 1; optional TypeProto type = 2; optional string doc_string = 3; }

message TensorProto {
  enum DataLocation { DEFAULT = 0; EXTERNAL = 1; }
  repeated int64 dims = 1;
  optional int32 data_type = 2;
  repeated float float_data = 4 [packed = true];
  repeated int32 int32_data = 5 [packed = true];
  repeated int64 int64_data = 7 [packed = true];
  optional string name = 8;
  optional bytes raw_data = 9;
  repeated StringStringEntryProto external_data = 13;
  optional DataLocation data_location = 14;
}

message SparseTensorProto {
  optional TensorProto values = 1;
  optional TensorProto indices = 2;
  repeated int64 dims = 3;
}

message GraphProto {
  repeated NodeProto node = 1;
  optional string name = 2;
  repeated TensorProto initializer = 5;
  repeated SparseTensorProto sparse_initializer = 15;
  repeated ValueInfoProto input = 11;
  repeated ValueInfoProto output = 12;
  repeated ValueInfoProto value_info = 13;
}

message ModelProto {
  optional int64 ir_version = 1;
  repeated OperatorSetIdProto opset_import = 8;
  optional GraphProto graph = 7;
  repeated StringStringEntryProto metadata_props = 14;
}
`;

const root = protobuf.parse(ONNX_PROTO, { keepCase: true }).root;

export const OnnxMessages = {
  model: root.lookupType('onnx.ModelProto'),
  graph: root.lookupType('onnx.GraphProto'),
  node: root.lookupType('onnx.NodeProto'),
  tensor: root.lookupType('onnx.TensorProto'),
  sparseTensor: root.lookupType('onnx.SparseTensorProto'),
  valueInfo: root.lookupType('onnx.ValueInfoProto'),
  operatorSetId: root.lookupType('onnx.OperatorSetIdProto'),
  stringStringEntry: root.lookupType('onnx.StringStringEntryProto'),
} as const;

/** Field numbers of the containers the surgery splices (onnx/onnx.proto). */
export const ModelField = { graph: 7, opsetImport: 8, metadataProps: 14 } as const;
export const GraphField = { node: 1, initializer: 5, sparseInitializer: 15, input: 11, output: 12 } as const;

/** TensorProto.DataType values the reduction uses. */
export const OnnxDataType = { float: 1, int64: 7 } as const;
/** AttributeProto.AttributeType values the reduction uses or must look inside. */
export const OnnxAttributeType = { float: 1, int: 2, tensor: 4, graph: 5, ints: 7, graphs: 10 } as const;

export interface OnnxDimension {
  dim_value?: number;
  dim_param?: string;
}
export interface OnnxValueInfo {
  name?: string;
  type?: { tensor_type?: { elem_type?: number; shape?: { dim?: OnnxDimension[] } } };
}
export interface OnnxTensor {
  name?: string;
  dims?: number[];
  data_type?: number;
  raw_data?: Uint8Array;
  float_data?: number[];
  int64_data?: number[];
  external_data?: { key?: string; value?: string }[];
  data_location?: number;
}
export interface OnnxAttribute {
  name?: string;
  type?: number;
  f?: number;
  i?: number;
  ints?: number[];
  t?: OnnxTensor;
  g?: OnnxGraph;
  graphs?: OnnxGraph[];
}
export interface OnnxNode {
  input?: string[];
  output?: string[];
  name?: string;
  op_type?: string;
  domain?: string;
  attribute?: OnnxAttribute[];
}
export interface OnnxGraph {
  node?: OnnxNode[];
}

/** Decodes bytes as one of the messages above, int64 fields as numbers and every repeated field present. */
export function decodeMessage<T>(type: protobuf.Type, bytes: Uint8Array): T {
  return type.toObject(type.decode(bytes), { longs: Number, arrays: true }) as T;
}

/** Encodes a plain object as a message of `type`. */
export function encodeMessage(type: protobuf.Type, value: object): Uint8Array {
  return type.encode(type.fromObject(value)).finish();
}
