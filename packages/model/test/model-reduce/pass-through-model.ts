import { encodeMessage, OnnxMessages } from '../../src/model-reduce/onnx-schema.ts';

const FLOAT = 1;

/**
 * A ModelProto whose `logits` output is its float input `scores` [B, L, V] (through an Identity),
 * so a test can feed a reduced model any logits it likes, e.g. a suppressed id on top.
 */
export function passThroughLogitsModel(vocabSize: number, opset = 17): Uint8Array {
  const tensor = (name: string) => ({
    name,
    type: {
      tensor_type: {
        elem_type: FLOAT,
        shape: { dim: [{ dim_param: 'batch' }, { dim_param: 'sequence' }, { dim_value: vocabSize }] },
      },
    },
  });
  return encodeMessage(OnnxMessages.model, {
    ir_version: 8,
    opset_import: [{ domain: '', version: opset }],
    graph: {
      name: 'pass_through',
      node: [{ op_type: 'Identity', name: 'identity', input: ['scores'], output: ['logits'] }],
      input: [tensor('scores')],
      output: [tensor('logits')],
    },
  });
}
